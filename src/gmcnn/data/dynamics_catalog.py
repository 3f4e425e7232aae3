"""The dynamics datasets of the paper (§4.1, App. A.1, App. E, Tables 1–2) and their builds.

Smoke plumes are generated with PhiFlow (:mod:`gmcnn.data.plumes`) or read from the
published ``raw_data_<key>.pt`` files of Wang et al. (2022); JetFlow is read from its
published files. Either way the prepared folder holds one float32 trajectory
``(T, 2, H, W)`` per file, and :func:`gmcnn.data.load` cuts windows from them
(:mod:`gmcnn.data.dynamics`).
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch

from gmcnn.data import plume_equivariance, plumes
from gmcnn.data.dynamics import (
    DYNAMICS_SPLITS,
    DynamicsWindows,
    SplitPlan,
    WindowLayout,
    read_trajectory,
    trajectory_file,
)
from gmcnn.data.sources import BuildContext, BuildResult, DatasetSpec, Source
from gmcnn.data.storage import Manifest, atomic_torch_save

JETFLOW_GRID = (62, 23)
#: JetFlow's 24 sub-regions ``(i, j)`` split as in Wang et al.'s public code.
JETFLOW_PLAN = SplitPlan(
    train_tasks=tuple(
        "1_4 3_4 2_4 1_1 2_6 3_5 3_3 3_1 1_8 3_8 3_6 2_1 1_3 1_6 2_8 1_7 1_2 2_2".split()
    ),
    domain_tasks=tuple("2_3 3_7 2_7 2_5 3_2 1_5".split()),
)
_KEY_PREFIX, _KEY_SUFFIX = "raw_data_", ".pt"


def _key(filename: str) -> str:
    return filename[len(_KEY_PREFIX) : -len(_KEY_SUFFIX)]


def _trajectory_metadata(folder: Path, files: list[str]) -> dict[str, dict[str, Any]]:
    shapes = {tuple(torch.load(folder / f, weights_only=True).shape) for f in files}
    if len(shapes) != 1:
        raise ValueError(f"trajectories in {folder} differ in shape: {sorted(shapes)}")
    return {"trajectories": {"count": len(files), "shape": list(shapes.pop())}}


def _all_keys(plan: SplitPlan) -> tuple[str, ...]:
    return tuple(dict.fromkeys((*plan.train_tasks, *plan.domain_tasks)))


def _phiflow_build(recipe: plumes.PlumeRecipe) -> Callable[[BuildContext], BuildResult]:
    def build(ctx: BuildContext) -> BuildResult:
        o = ctx.options
        timings = plumes.generate(
            recipe,
            ctx.folder,
            o["resolution"],
            o["steps"],
            o["simulations"],
            ctx.progress,
            workers=ctx.workers,
        )
        files = [trajectory_file(s.key) for s in recipe.ordered()[: o["simulations"]]]
        records = plumes.read_records(ctx.folder).values()
        engines = {str(record["engine"] or "unrecorded") for record in records}
        inputs = {
            "package": f"phiflow {importlib.metadata.version('phiflow')}",
            "precision_bits": 64,
            "engine": ", ".join(sorted(engines)),
            "seconds_per_simulation": timings,
        }
        return BuildResult(files, _trajectory_metadata(ctx.folder, files), inputs)

    return build


def _files_build(keys: tuple[str, ...], grid: tuple[int, int]) -> Callable[..., BuildResult]:
    """Check and copy published trajectory files (float32) into the prepared folder."""

    def build(ctx: BuildContext) -> BuildResult:
        assert ctx.raw_dir is not None
        names = [trajectory_file(key) for key in keys]
        missing = [name for name in names if not (ctx.raw_dir / name).is_file()]
        if missing:
            raise FileNotFoundError(
                f"{len(missing)} of the {len(names)} trajectory files are missing from "
                f"{ctx.raw_dir} (first: {missing[0]}); put all of {names[0]} … {names[-1]} there "
                "or pass --from DIR"
            )
        for name in names:
            atomic_torch_save(read_trajectory(ctx.raw_dir / name, grid), ctx.folder / name)
        return BuildResult(
            names, _trajectory_metadata(ctx.folder, names), {"from": str(ctx.raw_dir)}
        )

    return build


def _grid(manifest: Manifest) -> tuple[int, int]:
    shape = manifest.splits["trajectories"]["shape"]
    return int(shape[2]), int(shape[3])


def _layout(options: Mapping[str, Any]) -> WindowLayout:
    return WindowLayout(options["input_frames"], options["target_frames"], options["warmup"])


def _windows_opener(plan: SplitPlan) -> Callable[..., DynamicsWindows]:
    def open_split(
        folder: Path, manifest: Manifest, split: str, options: Mapping[str, Any]
    ) -> DynamicsWindows:
        split_plan = plan.with_times(options["times"])
        prepared = {_key(name) for name in manifest.files}
        keys = [key for key in split_plan.tasks(split) if key in prepared]
        if not keys:
            raise ValueError(
                f"split {split!r} of {manifest.name} has none of its trajectories among the "
                f"{len(prepared)} prepared; prepare more simulations (--simulations)"
            )
        grid = _grid(manifest)
        trajectories = [read_trajectory(folder / trajectory_file(key), grid) for key in keys]
        return DynamicsWindows(trajectories, split_plan.starts(split), _layout(options), keys)

    return open_split


def _equivariance_opener(
    folder: Path, manifest: Manifest, split: str, options: Mapping[str, Any]
) -> DynamicsWindows:
    plan = plumes.RECIPES["equivariance"].plan.with_times(options["times"])
    level = options["level"]
    keys = plume_equivariance.level_simulations(level)
    prepared = {_key(name) for name in manifest.files}
    if not set(keys) <= prepared:
        raise ValueError(
            f"equivariance level {level} needs simulations {', '.join(keys)}, but only "
            f"{len(prepared)} are prepared; prepare at least {max(map(int, keys))} (--simulations)"
        )
    grid = _grid(manifest)
    trajectories = [read_trajectory(folder / trajectory_file(key), grid) for key in keys]
    names = [f"E_{level}/data_{j}" for j in range(4)]
    return DynamicsWindows(
        plume_equivariance.compose_level(trajectories), plan.starts(split), _layout(options), names
    )


_PLUME_VIEW = {"input_frames": 10, "target_frames": 6, "warmup": 22, "times": None}
_FILES_NOTE = "the published raw_data_<key>.pt files of Wang et al. (2022)"


def _plume_spec(name: str, description: str, paper: str) -> DatasetSpec:
    recipe = plumes.RECIPES[name]
    defaults = {"resolution": 64, "steps": recipe.steps, "simulations": len(recipe.simulations)}
    equivariance = name == "equivariance"
    keys = plumes.EQUIVARIANCE_KEYS if equivariance else _all_keys(recipe.plan)
    return DatasetSpec(
        f"plumes-{name}",
        "dynamics",
        description,
        paper,
        (
            Source(
                "phiflow",
                "generated",
                "simulated here with PhiFlow (64-bit pressure solve)",
                _phiflow_build(recipe),
                defaults,
                expensive=True,
                check=lambda o: plumes.check_options(
                    recipe, o["resolution"], o["steps"], o["simulations"]
                ),
            ),
            Source(
                "files",
                "user files",
                f"{_FILES_NOTE}, 64×64",
                _files_build(keys, (64, 64)),
                raw_dir=f"plumes-{name}/raw",
                needs=f"{_FILES_NOTE} for this set",
            ),
        ),
        tuple(recipe.plan.times) if equivariance else DYNAMICS_SPLITS,
        _equivariance_opener if equivariance else _windows_opener(recipe.plan),
        {"input_frames": 1, "target_frames": 6, "warmup": 3, "times": None, "level": 0}
        if equivariance
        else _PLUME_VIEW,
    )


DYNAMICS_SPECS: tuple[DatasetSpec, ...] = (
    _plume_spec(
        "translation",
        "smoke plumes, inflow moved, buoyancy differs left/right (35)",
        "§4.1, Table 2",
    ),
    _plume_spec(
        "rotation",
        "smoke plumes, inflow on 4 sides, buoyancy grows with index (36)",
        "§4.1, Table 2",
    ),
    _plume_spec(
        "scaling",
        "smoke plumes in 64·s boxes, s = 1 … 4.7, rescaled to 64×64 (38)",
        "§4.1, Table 2",
    ),
    _plume_spec(
        "equivariance", "rotation equivariance-test sets E_0 … E_9 (28 plumes)", "App. E, Fig. 1"
    ),
    DatasetSpec(
        "jetflow",
        "dynamics",
        "JetFlow: measured jet velocities on 24 sub-regions of 62×23",
        "§4.1, Table 1",
        (
            Source(
                "files",
                "user files",
                "the published JetFlow tensors of Wang et al. (2022)",
                _files_build(_all_keys(JETFLOW_PLAN), JETFLOW_GRID),
                raw_dir="jetflow/raw",
                needs="the 24 JetFlow files raw_data_<i>_<j>.pt (i = 1…3, j = 1…8)",
            ),
        ),
        DYNAMICS_SPLITS,
        _windows_opener(JETFLOW_PLAN),
        {**_PLUME_VIEW, "warmup": 12},
    ),
)
