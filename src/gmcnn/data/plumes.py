"""Smoke plumes simulated with PhiFlow, by the recipes of Wang et al. (2022) (paper §4.1).

A closed 64 × 64 box; smoke enters through a sphere of radius 5 and is advected with
MacCormack; the velocity (on a staggered grid) is advected semi-Lagrangian, pushed by the
buoyancy ``smoke · b`` and projected to be divergence-free each step; 310 steps. The
velocity after every step is one frame ``(2, 64, 64)`` (x then y component, row index = y).

* Translation (35 simulations): inflow at ``(x, y)``, ``x ∈ {8, …, 56}``, ``y ∈ {5, …, 25}``;
  buoyancy ``(0, 0.1)`` on the left half and ``(0, 0.2)`` on the right half; velocity dt 0.5.
* Rotation (36): inflow at one of the four sides, buoyancy pointing away from it with
  strength ``0.025·k`` for simulation ``k = 1 … 36``; velocity dt 1.
* Scaling (38): a ``64·s`` box, ``s = 1 + 0.1·i`` (``i = 0 … 37``), with inflow, radius and
  buoyancy scaled by ``s``, downsampled back to 64 × 64 and divided by ``s``; velocity dt 0.5.
* Rotation equivariance tests (App. E): inflow ``(32, 5)``, buoyancy ``(0, 0.005·(i+1))``,
  60 steps of which the last 50 are kept; composed into rotated sets by
  :mod:`gmcnn.data.plume_equivariance`.

The pressure solve runs in 64-bit precision (32-bit misses its tolerance). Resolution, steps
and the number of simulations are parameters; positions and radii are given on the 64-grid
and scaled with the resolution.
"""

from __future__ import annotations

import functools
import json
import multiprocessing
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import zip_longest
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from gmcnn.data.dynamics import SplitPlan, trajectory_file
from gmcnn.data.sources import check_workers
from gmcnn.data.storage import atomic_torch_save, atomic_write_text, file_record, sha256_file

RECIPE_RESOLUTION = 64
GENERATION_FILE = "generation.json"
SIMULATIONS_FILE = "simulations.json"
#: Harmless notices PhiFlow prints every step: the closed box's pressure is defined up to a
#: constant (rank deficiency 1), and internal deprecations of the 3.x API.
_KNOWN_PHIFLOW_WARNINGS = (
    "Rank deficiency",
    "spsolve requires",
    "Field.closest_values",
    "symmetric-gradient extrapolation",
    "backend and device argument on jit is deprecated",
)


@dataclass(frozen=True)
class PlumeSimulation:
    """One simulation of a recipe, in 64-grid units (before domain scaling)."""

    key: str
    inflow: tuple[float, float]
    buoyancy_left: tuple[float, float]
    buoyancy_right: tuple[float, float]
    velocity_dt: float
    radius: float = 5.0
    scale: float = 1.0


@dataclass(frozen=True)
class PlumeRecipe:
    """A family of simulations, its default length and its split plan."""

    name: str
    simulations: tuple[PlumeSimulation, ...]
    steps: int
    plan: SplitPlan
    skip: int = 0

    def ordered(self) -> tuple[PlumeSimulation, ...]:
        """Simulations in generation order: training and held-out ones alternate, then the rest.

        Generating only the first ``n`` therefore gives both splits at least one simulation.
        """
        by_key = {sim.key: sim for sim in self.simulations}
        keys = [
            key
            for pair in zip_longest(self.plan.train_tasks, self.plan.domain_tasks)
            for key in pair
            if key is not None
        ]
        keys += [sim.key for sim in self.simulations if sim.key not in keys]
        return tuple(by_key[key] for key in keys)


def _keys(text: str) -> tuple[str, ...]:
    """Simulation keys written as a whitespace-separated list (the order of Wang et al.)."""
    return tuple(text.split())


def _translation() -> PlumeRecipe:
    sims = tuple(
        PlumeSimulation(f"{x}_{y}", (x, y), (0.0, 0.1), (0.0, 0.2), 0.5)
        for x in range(8, 57, 8)
        for y in range(5, 26, 5)
    )
    train = """48_10 56_10 8_20 40_5 56_25 48_20 48_5 16_20 56_5 32_10 56_15 16_5 40_15 40_25
               48_25 48_15 24_10 56_20 32_15 16_15 8_10 24_15 8_15 32_25 8_5"""
    domain = "32_20 32_5 24_20 16_25 24_5 16_10 40_20 8_25 24_25 40_10"
    return PlumeRecipe("translation", sims, 310, SplitPlan(_keys(train), _keys(domain)))


#: Inflow centre and unit buoyancy direction of the rotation recipe's four sides.
ROTATION_SIDES = (((32, 5), (0, 1)), ((59, 32), (-1, 0)), ((32, 59), (0, -1)), ((5, 32), (1, 0)))


def _rotation() -> PlumeRecipe:
    sims = []
    for k in range(1, 37):
        side = (k - 1) % 4
        (x, y), (bx, by) = ROTATION_SIDES[side]
        b = (0.025 * k * bx, 0.025 * k * by)
        sims.append(PlumeSimulation(f"{k}_{side}", (x, y), b, b, 1.0))
    train = """27_2 33_0 3_2 28_3 9_0 12_3 22_1 8_3 30_1 25_0 16_3 11_2 23_2 29_0 36_3 26_1 1_0
               35_2 19_2 34_1 4_3 2_1 7_2 31_2 17_0"""
    domain = "6_1 14_1 15_2 10_1 18_1 20_3 24_3 13_0 21_0 5_0"
    return PlumeRecipe("rotation", tuple(sims), 310, SplitPlan(_keys(train), _keys(domain)))


def _scaling() -> PlumeRecipe:
    sims = []
    for i in range(38):
        s = 1.0 + 0.1 * i
        b = (0.0, 0.1 * s)
        sims.append(PlumeSimulation(str(i), (32 * s, 5 * s), b, b, 0.5, 5 * s, s))
    train = "27 9 7 11 4 26 35 2 29 10 34 12 37 28 18 24 8 14 1 31 25 0 19 15 36 3 20 13"
    domain = "5 30 16 23 33 6 17 22 21 32"
    return PlumeRecipe("scaling", tuple(sims), 310, SplitPlan(_keys(train), _keys(domain)))


#: Simulations ``i`` used by the ten equivariance-test levels (``1 + j·level``, j = 0 … 3).
EQUIVARIANCE_KEYS = tuple(str(i) for i in range(1, 29))


def _equivariance() -> PlumeRecipe:
    buoyancy = {key: (0.0, 0.005 * (int(key) + 1)) for key in EQUIVARIANCE_KEYS}
    sims = tuple(
        PlumeSimulation(key, (32, 5), buoyancy[key], buoyancy[key], 0.5)
        for key in EQUIVARIANCE_KEYS
    )
    times = {"train": (0, 30), "valid": (30, 40)}
    return PlumeRecipe("equivariance", sims, 60, SplitPlan(EQUIVARIANCE_KEYS, (), times), skip=10)


RECIPES: dict[str, PlumeRecipe] = {
    recipe.name: recipe for recipe in (_translation(), _rotation(), _scaling(), _equivariance())
}


#: How :func:`simulate` runs PhiFlow: ``"jit"`` compiles the whole step with JAX (XLA on the
#: CPU) and solves the pressure with CG warm-started from the previous step's pressure;
#: ``"eager"`` is the original generator (NumPy backend, PhiFlow's default solve), kept as
#: the reference and the benchmark's baseline.
ENGINES = ("jit", "eager")
#: The pressure solve's tolerance, relative to the divergence it removes (as published).
PRESSURE_TOLERANCE = 1e-5


class SimulationError(RuntimeError):
    """A simulation step left the velocity divergent (or not finite)."""


def simulate(
    sim: PlumeSimulation,
    resolution: int = RECIPE_RESOLUTION,
    steps: int = 310,
    on_step: Callable[[], object] | None = None,
    engine: str = "jit",
) -> np.ndarray:
    """Run one simulation; return its velocity frames, float32 ``(steps, 2, res, res)``.

    ``engine`` is ``"jit"`` (default; needs ``jax``, from the ``data`` extra) or ``"eager"``
    (see :data:`ENGINES`); both run the same physics in 64-bit precision, and their float32
    frames agree to rounding (both pressure solves are exact; ``docs/data.md``). ``on_step``
    is called after every step.

    Raises:
        ValueError: ``resolution`` below 8, ``steps`` below 1 or an unknown ``engine``.
        ModuleNotFoundError: ``engine="jit"`` without JAX installed.
        SimulationError: a jit step left more than :data:`PRESSURE_TOLERANCE` of the
            divergence (or a NaN).
    """
    if not isinstance(sim, PlumeSimulation):
        raise TypeError(f"sim={sim!r}: expected a PlumeSimulation (e.g. from RECIPES)")
    _check_resolution(resolution)
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps={steps!r}: expected a positive number of steps")
    if engine not in ENGINES:
        raise ValueError(f"engine {engine!r} is not one of {', '.join(ENGINES)}")
    with warnings.catch_warnings():
        for message in _KNOWN_PHIFLOW_WARNINGS:
            warnings.filterwarnings("ignore", message=message)
        from phi import math as phimath

        backend = _jax_backend() if engine == "jit" else phimath.NUMPY
        size = int(resolution * sim.scale)
        with backend, phimath.precision(64), _int64_sparse_indices(size * size):
            return _run(sim, resolution, steps, on_step, jit=engine == "jit")


def _check_resolution(resolution: object) -> None:
    if isinstance(resolution, bool) or not isinstance(resolution, int):
        raise ValueError(f"resolution={resolution!r}: expected an integer grid side")
    if resolution < 8:
        raise ValueError(f"resolution {resolution} is too small for a plume; use at least 8")


def check_options(recipe: PlumeRecipe, resolution: int, steps: int, simulations: int) -> None:
    """Raise ``ValueError`` naming the first option :func:`generate` would refuse."""
    _check_resolution(resolution)
    if isinstance(steps, bool) or not isinstance(steps, int) or steps <= recipe.skip:
        dropped = (
            f" (the {recipe.name} recipe drops its first {recipe.skip})" if recipe.skip else ""
        )
        raise ValueError(
            f"steps={steps!r}: expected an integer of at least {recipe.skip + 1}{dropped}"
        )
    count = len(recipe.simulations)
    if isinstance(simulations, bool) or not isinstance(simulations, int):
        raise ValueError(f"simulations={simulations!r}: expected an integer 1 … {count}")
    if not 1 <= simulations <= count:
        raise ValueError(
            f"simulations={simulations}: the {recipe.name} recipe has 1 … {count} simulations"
        )


def _jax_backend() -> Any:
    try:
        from phiml.backend.jax import JAX
    except ImportError as error:
        raise ModuleNotFoundError(
            "the jit plume engine needs JAX: pip install 'gmcnn[data]' (or pass engine='eager')"
        ) from error
    return JAX


@contextmanager
def _int64_sparse_indices(cells: int) -> Iterator[None]:
    """Work around PhiML issue #15 for pressure matrices with more than 2³¹ entries.

    PhiML's numpy backend casts the linear index of a sparse entry back to the int32 of its
    row and column indices, which wraps for grids above 215 × 215 (the scaling recipe's
    largest boxes are 300 × 300) and fails with "index -… is out of bounds". Within this
    context, such indices are widened to int64 first; smaller grids are left untouched.
    """
    if cells * cells <= np.iinfo(np.int32).max:
        yield
        return
    from phiml.backend._numpy_backend import NumPyBackend

    original = NumPyBackend.ravel_multi_index

    def widened(self: Any, multi_index: Any, shape: Any, mode: Any = "undefined") -> Any:
        return original(self, np.asarray(multi_index, dtype=np.int64), shape, mode)

    NumPyBackend.ravel_multi_index = widened
    try:
        yield
    finally:
        NumPyBackend.ravel_multi_index = original


def _run(
    sim: PlumeSimulation,
    resolution: int,
    steps: int,
    on_step: Callable[[], object] | None,
    jit: bool,
) -> np.ndarray:
    from phi.flow import (
        Box,
        CenteredGrid,
        Solve,
        Sphere,
        StaggeredGrid,
        advect,
        extrapolation,
        fluid,
        resample,
        vec,
    )

    unit = resolution / RECIPE_RESOLUTION
    size = int(resolution * sim.scale)
    grid: dict[str, Any] = {"x": size, "y": size, "bounds": Box(x=size, y=size)}
    smoke = CenteredGrid(0, extrapolation.BOUNDARY, **grid)
    velocity = StaggeredGrid(0, extrapolation.ZERO, **grid)
    centre = vec(x=sim.inflow[0] * unit, y=sim.inflow[1] * unit)
    inflow = CenteredGrid(
        Sphere(center=centre, radius=sim.radius * unit), extrapolation.BOUNDARY, **grid
    )
    if sim.buoyancy_left == sim.buoyancy_right:
        strength = CenteredGrid(
            vec(x=sim.buoyancy_left[0], y=sim.buoyancy_left[1]), extrapolation.BOUNDARY, **grid
        )
    else:
        left = CenteredGrid(Box(x=(0, size / 2), y=(0, size)), extrapolation.BOUNDARY, **grid)
        strength = left * sim.buoyancy_left + (1 - left) * sim.buoyancy_right

    def advance(smoke: Any, velocity: Any) -> tuple[Any, Any]:
        smoke = advect.mac_cormack(smoke, velocity, dt=1) + inflow
        buoyancy = resample(smoke * strength, to=velocity)
        velocity = advect.semi_lagrangian(velocity, velocity, dt=sim.velocity_dt) + buoyancy
        return smoke, velocity

    frames = np.empty((steps, 2, resolution, resolution), dtype=np.float32)
    if jit:
        step, settle = _compiled_step(size, sim.velocity_dt)
        state = settle(smoke.values, velocity.values, inflow.values, strength.values)
        smoke_values, velocity_values, inflow_values, strength_values = state
        for index in range(steps):
            smoke_values, velocity_values, staggered, left = step(
                smoke_values, velocity_values, inflow_values, strength_values
            )
            left = float(left)
            if not left <= PRESSURE_TOLERANCE:  # NaN included
                raise SimulationError(
                    f"simulation {sim.key}, step {index}: the projection left {left:.1e} of "
                    f"the divergence (tolerance {PRESSURE_TOLERANCE:.0e}); rerun with "
                    "engine='eager'"
                )
            frames[index] = _to_recipe_grid(
                staggered.numpy(["vector", "y", "x"]), sim.scale, resolution
            )
            if on_step is not None:
                on_step()
        return frames
    solve = Solve("auto", PRESSURE_TOLERANCE, 0)
    for index in range(steps):
        smoke, velocity = advance(smoke, velocity)
        velocity, _ = fluid.make_incompressible(velocity, (), solve)
        staggered = velocity.staggered_tensor().numpy(["vector", "y", "x"])
        frames[index] = _to_recipe_grid(staggered, sim.scale, resolution)
        if on_step is not None:
            on_step()
    return frames


@functools.cache
def _compiled_step(size: int, velocity_dt: float) -> tuple[Any, Any]:
    """The jitted step of a ``size``² box (and the identity that settles its first inputs).

    The step takes and returns the fields' values only: PhiFlow rebuilds the fields around
    them from templates inside the trace, so a call does not pay for assembling staggered
    grids in Python, and one compilation serves every simulation of a box size and time step
    in this process (inflow and buoyancy are arguments). Must be called under the JAX
    backend in 64-bit precision.
    """
    from phi.flow import (
        Box,
        CenteredGrid,
        StaggeredGrid,
        advect,
        extrapolation,
        field,
        jit_compile,
        math,
        resample,
        vec,
    )

    grid: dict[str, Any] = {"x": size, "y": size, "bounds": Box(x=size, y=size)}
    smoke0 = CenteredGrid(0, extrapolation.BOUNDARY, **grid)
    velocity0 = StaggeredGrid(0, extrapolation.ZERO, **grid)
    strength0 = CenteredGrid(vec(x=0.0, y=0.0), extrapolation.BOUNDARY, **grid)
    # A grid caches its cell centres on first use; filled now, not during the trace, so the
    # cache cannot hold a JAX tracer that a later trace or call would trip over.
    _fill_geometry_caches(smoke0, velocity0, strength0)

    def step(smoke_values: Any, velocity_values: Any, inflow: Any, strength: Any) -> Any:
        smoke = smoke0.with_values(smoke_values)
        velocity = velocity0.with_values(velocity_values)
        smoke = advect.mac_cormack(smoke, velocity, dt=1) + smoke0.with_values(inflow)
        buoyancy = resample(smoke * strength0.with_values(strength), to=velocity)
        velocity = advect.semi_lagrangian(velocity, velocity, dt=velocity_dt) + buoyancy
        before = math.l2_loss(field.divergence(velocity).values)
        velocity = _project_closed_box(velocity)
        after = math.l2_loss(field.divergence(velocity).values)
        left = math.sqrt(after / math.maximum(before, 1e-300))
        return smoke.values, velocity.values, velocity.staggered_tensor(), left

    # Passing the first inputs through a jitted identity gives them the layout that `step`
    # returns, so `step` is not traced a second time on its second call.
    return jit_compile(step), jit_compile(_settle)


def _settle(smoke: Any, velocity: Any, inflow: Any, strength: Any) -> tuple[Any, ...]:
    return smoke * 1, velocity * 1, inflow * 1, strength * 1


def _fill_geometry_caches(*fields: Any) -> None:
    """Evaluate the cached properties of the fields' grids now, outside any trace."""
    for grid_field in fields:
        geometry = grid_field.geometry
        for name in dir(type(geometry)):
            if isinstance(getattr(type(geometry), name, None), functools.cached_property):
                getattr(geometry, name)


def _project_closed_box(velocity: Any) -> Any:
    """PhiFlow's ``fluid.make_incompressible`` for a closed box, with an exact pressure solve.

    The same discretisation: the divergence of the staggered velocity, balanced to mean zero
    (the closed box's Poisson problem has a one-dimensional kernel), the 5-point Laplacian with
    no flux through the walls, and the pressure gradient subtracted at the faces. That
    Laplacian is diagonal in the DCT-II basis, eigenvalues ``−4 sin²(πk/2n) − 4 sin²(πl/2m)``,
    so the solve is two transforms and a division, exact to rounding (the pressure's mean,
    which does not change the velocity, is set to zero).
    """
    import jax.numpy as jnp
    from jax.scipy.fft import dctn, idctn
    from phi.flow import Field, extrapolation, field, math, spatial

    div = field.divergence(velocity)
    values = div.values.native(["x", "y"])
    values = values - jnp.mean(values)
    nx, ny = values.shape
    kx = jnp.sin(jnp.pi * jnp.arange(nx) / (2 * nx)) ** 2
    ky = jnp.sin(jnp.pi * jnp.arange(ny) / (2 * ny)) ** 2
    eigenvalues = -4.0 * (kx[:, None] + ky[None, :])
    spectrum = dctn(values, type=2, norm="ortho")
    spectrum = jnp.where(
        eigenvalues == 0, 0.0, spectrum / jnp.where(eigenvalues == 0, 1.0, eigenvalues)
    )
    pressure = Field(
        div.geometry,
        math.tensor(idctn(spectrum, type=2, norm="ortho"), spatial("x,y")),
        extrapolation.ZERO_GRADIENT,
    )
    gradient = field.spatial_gradient(
        pressure, velocity.extrapolation, at=velocity.sampled_at, order=2, scheme="green-gauss"
    )
    return (velocity - gradient).with_extrapolation(velocity.extrapolation)


def _to_recipe_grid(staggered: np.ndarray, scale: float, resolution: int) -> np.ndarray:
    """Crop a staggered ``(2, n+1, n+1)`` field to ``resolution``², downsampling by ``scale``."""
    if scale == 1.0:
        return staggered[:, :resolution, :resolution]
    field = torch.from_numpy(np.ascontiguousarray(staggered))[None]
    side = int(staggered.shape[-1] / scale)
    small = F.interpolate(field, size=(side, side), mode="bilinear", align_corners=True)
    return (small[0, :, :resolution, :resolution] / scale).numpy()


def keep_frames(frames: np.ndarray, skip: int) -> np.ndarray:
    """Drop the first ``skip`` frames (the equivariance recipe keeps the last 50 of 60)."""
    if skip >= frames.shape[0]:
        raise ValueError(f"cannot skip {skip} frames of a {frames.shape[0]}-frame simulation")
    return frames[skip:]


def default_workers() -> int:
    """Worker processes for :func:`generate`: the cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def generate(
    recipe: PlumeRecipe,
    folder: Path,
    resolution: int,
    steps: int,
    simulations: int,
    progress: bool = True,
    workers: int | None = None,
    engine: str = "jit",
) -> dict[str, float | None]:
    """Write the first ``simulations`` simulations of ``recipe`` (generation order) to ``folder``.

    One file ``raw_data_<key>.pt`` per simulation, written atomically by one of ``workers``
    processes (default :func:`default_workers`; 1 runs in this process). Each finished file
    is recorded with its size and SHA-256 in ``simulations.json``, so an interrupted run
    resumes where it stopped, and a file that does not match its record (truncated, altered,
    unreadable) is reported and made again. The options are recorded in ``generation.json``
    (resuming with other options is refused). Returns the seconds each simulation took
    (``None`` for a file found without its record).

    Raises:
        ValueError: bad ``simulations``, ``steps``, ``workers`` or options that differ from
            the partial generation in ``folder``.
        OSError: a file could not be written (full disk, read-only folder); the simulations
            already written stay, and the next run resumes after them.
    """
    check_options(recipe, resolution, steps, simulations)
    check_workers(workers)
    workers = default_workers() if workers is None else workers
    if engine not in ENGINES:
        raise ValueError(f"engine {engine!r} is not one of {', '.join(ENGINES)}")
    options = {"resolution": resolution, "steps": steps, "simulations": simulations}
    folder.mkdir(parents=True, exist_ok=True)
    record = folder / GENERATION_FILE
    if record.is_file():
        previous = json.loads(record.read_text(encoding="utf-8"))
        if previous != options:
            raise ValueError(
                f"{folder} holds a partial generation with {previous}, not {options}; resume "
                "with the same options or prepare again with --force"
            )
    else:
        atomic_write_text(record, json.dumps(options, sort_keys=True) + "\n")
    records = read_records(folder)
    shape = [steps - recipe.skip, 2, resolution, resolution]
    todo = []
    for sim in recipe.ordered()[:simulations]:
        problem = simulation_problem(folder, sim.key, records.get(sim.key), shape)
        if problem is None:
            if sim.key not in records:  # checked by loading: record it as it is now
                path = folder / trajectory_file(sim.key)
                records[sim.key] = {"seconds": None, "engine": None, **file_record(path)}
            continue
        if problem != "missing":
            tqdm.write(f"plumes-{recipe.name}: {problem}; simulating {sim.key} again", sys.stderr)
            records.pop(sim.key, None)
        todo.append(sim)
    job = _Job(folder, resolution, steps, recipe.skip, engine)
    with (
        tqdm(
            total=simulations,
            initial=simulations - len(todo),
            desc=f"plumes-{recipe.name}",
            unit="sim",
            disable=not progress,
        ) as sims_bar,
        tqdm(total=len(todo) * steps, desc="  steps", unit="step", disable=not progress) as bar,
    ):

        def finished(key: str, entry: dict[str, Any]) -> None:
            records[key] = entry
            atomic_write_text(
                folder / SIMULATIONS_FILE, json.dumps(records, indent=1, sort_keys=True) + "\n"
            )
            sims_bar.update()

        if workers == 1 or len(todo) <= 1:
            for sim in todo:
                sims_bar.set_postfix_str(sim.key)
                finished(sim.key, job.run(sim, bar.update))
        else:
            _run_in_workers(job, todo, min(workers, len(todo)), bar, finished)
    atomic_write_text(
        folder / SIMULATIONS_FILE, json.dumps(records, indent=1, sort_keys=True) + "\n"
    )
    return {key: entry["seconds"] for key, entry in records.items()}


@dataclass(frozen=True)
class _Job:
    """Simulate one plume and write it: what a worker process is given."""

    folder: Path
    resolution: int
    steps: int
    skip: int
    engine: str

    def run(self, sim: PlumeSimulation, on_step: Callable[[], object] | None) -> dict[str, Any]:
        path = self.folder / trajectory_file(sim.key)
        start = time.perf_counter()
        frames = simulate(sim, self.resolution, self.steps, on_step, self.engine)
        seconds = time.perf_counter() - start
        try:
            atomic_torch_save(torch.from_numpy(keep_frames(frames, self.skip)), path)
        except OSError as error:
            raise OSError(
                error.errno,
                f"cannot write {path} ({error.strerror or error}); the simulations already "
                f"written stay in {self.folder} and the next prepare resumes after them",
            ) from error
        return {"seconds": round(seconds, 3), "engine": self.engine, **file_record(path)}


_PROGRESS: Any = None


def _init_worker(progress: Any) -> None:
    """Each worker computes on one core, so that workers on the other cores do not compete."""
    global _PROGRESS
    _PROGRESS = progress
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "")
        + " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    )
    torch.set_num_threads(1)


def _worker_run(job: _Job, sim: PlumeSimulation) -> dict[str, Any]:
    def report() -> None:
        _PROGRESS.put(1)

    return job.run(sim, report)


def _run_in_workers(
    job: _Job,
    todo: list[PlumeSimulation],
    workers: int,
    bar: Any,
    finished: Callable[[str, dict[str, Any]], None],
) -> None:
    # Spawned, not forked: JAX and PhiML hold threads and state that a fork would copy.
    context = multiprocessing.get_context("spawn")
    progress = context.Manager().Queue()
    with ProcessPoolExecutor(
        workers, mp_context=context, initializer=_init_worker, initargs=(progress,)
    ) as pool:
        pending = {pool.submit(_worker_run, job, sim): sim.key for sim in todo}
        try:
            while pending:
                done, _ = wait(pending, timeout=0.25, return_when=FIRST_COMPLETED)
                while not progress.empty():
                    bar.update(progress.get_nowait())
                for future in done:
                    finished(pending.pop(future), future.result())
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise


def read_records(folder: Path) -> dict[str, dict[str, Any]]:
    """The finished simulations of a generation folder: key → seconds, bytes, SHA-256.

    A missing or unreadable ``simulations.json`` gives no records: every file is then
    checked by loading it (:func:`simulation_problem`), and the file is written anew.
    """
    try:
        records = json.loads((folder / SIMULATIONS_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    if not isinstance(records, dict) or not all(
        isinstance(r, dict) and {"bytes", "sha256"} <= set(r) for r in records.values()
    ):
        return {}
    return records


def simulation_problem(
    folder: Path, key: str, record: dict[str, Any] | None, shape: list[int]
) -> str | None:
    """What is wrong with simulation ``key``'s file in ``folder``, or ``None``.

    With a record, the file must have its size and SHA-256; without one (a record lost with
    a killed run), it must load as a finite float32 tensor of ``shape``.
    """
    path = folder / trajectory_file(key)
    if not path.is_file():
        return "missing"
    if record is not None:
        size = path.stat().st_size
        if size != record.get("bytes"):
            return f"{path.name} has {size:,} bytes, not the {record.get('bytes'):,} written"
        if sha256_file(path) != record.get("sha256"):
            return f"{path.name} does not match the SHA-256 recorded when it was written"
        return None
    try:
        frames = torch.load(path, weights_only=True)
    except Exception as error:  # any unreadable file is simply made again
        return f"{path.name} cannot be read ({type(error).__name__})"
    if not (
        isinstance(frames, torch.Tensor)
        and frames.dtype == torch.float32
        and list(frames.shape) == shape
        and bool(torch.isfinite(frames).all())
    ):
        return f"{path.name} is not a finite float32 tensor of shape {tuple(shape)}"
    return None
