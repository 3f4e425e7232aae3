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

import json
import time
import warnings
from collections.abc import Callable, Iterator
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
from gmcnn.data.storage import atomic_torch_save, atomic_write_text

RECIPE_RESOLUTION = 64
GENERATION_FILE = "generation.json"
TIMINGS_FILE = "timings.json"
#: Harmless notices PhiFlow prints every step: the closed box's pressure is defined up to a
#: constant (rank deficiency 1), and internal deprecations of the 3.x API.
_KNOWN_PHIFLOW_WARNINGS = (
    "Rank deficiency",
    "spsolve requires",
    "Field.closest_values",
    "symmetric-gradient extrapolation",
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


def simulate(
    sim: PlumeSimulation,
    resolution: int = RECIPE_RESOLUTION,
    steps: int = 310,
    on_step: Callable[[], object] | None = None,
) -> np.ndarray:
    """Run one simulation; return its velocity frames, float32 ``(steps, 2, res, res)``."""
    if resolution < 8:
        raise ValueError(f"resolution {resolution} is too small for a plume; use at least 8")
    with warnings.catch_warnings():
        for message in _KNOWN_PHIFLOW_WARNINGS:
            warnings.filterwarnings("ignore", message=message)
        from phi import math as phimath

        size = int(resolution * sim.scale)
        with phimath.precision(64), _int64_sparse_indices(size * size):
            return _run(sim, resolution, steps, on_step)


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
    sim: PlumeSimulation, resolution: int, steps: int, on_step: Callable[[], object] | None
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
    solve = Solve("auto", 1e-5, 0)
    frames = np.empty((steps, 2, resolution, resolution), dtype=np.float32)
    for step in range(steps):
        smoke = advect.mac_cormack(smoke, velocity, dt=1) + inflow
        buoyancy = resample(smoke * strength, to=velocity)
        velocity = advect.semi_lagrangian(velocity, velocity, dt=sim.velocity_dt) + buoyancy
        velocity, _ = fluid.make_incompressible(velocity, (), solve)
        staggered = velocity.staggered_tensor().numpy(["vector", "y", "x"])
        frames[step] = _to_recipe_grid(staggered, sim.scale, resolution)
        if on_step is not None:
            on_step()
    return frames


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


def generate(
    recipe: PlumeRecipe,
    folder: Path,
    resolution: int,
    steps: int,
    simulations: int,
    progress: bool = True,
) -> dict[str, float]:
    """Write the first ``simulations`` simulations of ``recipe`` (generation order) to ``folder``.

    One file ``raw_data_<key>.pt`` per simulation, written atomically; a simulation whose
    file exists is skipped, so an interrupted run resumes where it stopped. The options are
    recorded in ``generation.json`` (resuming with other options is refused) and the seconds
    each simulation took in ``timings.json``, which is returned.
    """
    if not 1 <= simulations <= len(recipe.simulations):
        raise ValueError(
            f"simulations={simulations}: the {recipe.name} recipe has 1 … "
            f"{len(recipe.simulations)} simulations"
        )
    if steps <= recipe.skip:
        raise ValueError(f"steps={steps} must exceed the {recipe.skip} skipped warm-up frames")
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
    timings_path = folder / TIMINGS_FILE
    timings: dict[str, float] = (
        json.loads(timings_path.read_text(encoding="utf-8")) if timings_path.is_file() else {}
    )
    chosen = recipe.ordered()[:simulations]
    bar = tqdm(chosen, desc=f"plumes-{recipe.name}", unit="sim", disable=not progress)
    for sim in bar:
        path = folder / trajectory_file(sim.key)
        if path.is_file():
            continue
        bar.set_postfix_str(sim.key)
        with tqdm(
            total=steps, desc=f"  {sim.key}", unit="step", leave=False, disable=not progress
        ) as steps_bar:
            start = time.perf_counter()
            frames = keep_frames(simulate(sim, resolution, steps, steps_bar.update), recipe.skip)
            timings[sim.key] = round(time.perf_counter() - start, 3)
        atomic_torch_save(torch.from_numpy(frames), path)
        atomic_write_text(timings_path, json.dumps(timings, indent=1, sort_keys=True) + "\n")
    return timings
