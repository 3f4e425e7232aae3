"""Sample windows of the paper's dynamics tasks (§4.1, App. A.1; Wang et al. 2022).

A trajectory is a float32 tensor ``(T, 2, H, W)``: ``T`` velocity fields of 2 components
(x then y) on an ``H × W`` grid, stored one simulation (or one JetFlow sub-region) per file
``raw_data_<key>.pt``. A sample at time index ``t`` takes ``input_frames`` fields stacked
into ``2·input_frames`` channels (10 fields → 20 channels) and the next ``target_frames``
fields (6) to roll out against:

    input  = frames [t + warmup - input_frames, t + warmup)   reshaped to (2·input_frames, H, W)
    target = frames [t + warmup, t + warmup + target_frames)  shape (target_frames, 2, H, W)

``warmup`` is the index of the first predicted frame of the sample at ``t = 0`` (Wang et
al.'s ``mid``). Splits pair a list of trajectories with a range of ``t``: "train", "valid"
and "test-future" use the training trajectories at successive time ranges, "test-domain"
held-out trajectories at early times.
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch.utils.data import Dataset

from gmcnn.data.storage import IntegrityError

DYNAMICS_SPLITS = ("train", "valid", "test-future", "test-domain")


def trajectory_file(key: str) -> str:
    """File name of trajectory ``key`` (``"8_5"`` → ``raw_data_8_5.pt``)."""
    return f"raw_data_{key}.pt"


@dataclass(frozen=True)
class WindowLayout:
    """How a sample is cut from a trajectory (see the module docstring)."""

    input_frames: int = 10
    target_frames: int = 6
    warmup: int = 22

    def __post_init__(self) -> None:
        if self.input_frames < 1 or self.target_frames < 1:
            raise ValueError(
                f"input_frames={self.input_frames} and target_frames={self.target_frames} must "
                "be at least 1"
            )
        if self.warmup < self.input_frames:
            raise ValueError(
                f"warmup={self.warmup} must be at least input_frames={self.input_frames}: the "
                "inputs of the first sample are the frames before the warm-up ends"
            )

    def frames_needed(self, last_start: int) -> int:
        """Trajectory length needed by a sample starting at ``last_start``."""
        return last_start + self.warmup + self.target_frames


@dataclass(frozen=True)
class SplitPlan:
    """Which trajectories and time ranges make up each split."""

    train_tasks: tuple[str, ...]
    domain_tasks: tuple[str, ...]
    times: dict[str, tuple[int, int]] = field(
        default_factory=lambda: {
            "train": (0, 160),
            "valid": (160, 200),
            "test-future": (200, 250),
            "test-domain": (0, 100),
        }
    )

    def tasks(self, split: str) -> tuple[str, ...]:
        """Trajectory keys of ``split``."""
        if split not in self.times:
            raise ValueError(f"unknown split {split!r}: choose one of {', '.join(self.times)}")
        return self.domain_tasks if split == "test-domain" else self.train_tasks

    def starts(self, split: str) -> range:
        """Time indices ``t`` of ``split``."""
        if split not in self.times:
            raise ValueError(f"unknown split {split!r}: choose one of {', '.join(self.times)}")
        start, stop = self.times[split]
        if not 0 <= start < stop:
            raise ValueError(f"time range {start} … {stop} of split {split!r} is empty or negative")
        return range(start, stop)

    def with_times(self, times: dict[str, Sequence[int]] | None) -> SplitPlan:
        """The same plan with some time ranges replaced (e.g. for short test trajectories)."""
        if not times:
            return self
        unknown = set(times) - set(self.times)
        if unknown:
            raise ValueError(
                f"unknown split(s) {sorted(unknown)} in times: choose from {', '.join(self.times)}"
            )
        merged = dict(self.times)
        merged.update({name: (int(r[0]), int(r[1])) for name, r in times.items()})
        return SplitPlan(self.train_tasks, self.domain_tasks, merged)


def read_trajectory(path: Path, grid: tuple[int, int]) -> torch.Tensor:
    """Read ``raw_data_<key>.pt``: a float tensor ``(T, 2, H, W)`` with ``(H, W) == grid``."""
    if not path.is_file():
        raise FileNotFoundError(f"file {path} does not exist")
    try:
        data = torch.load(path, weights_only=True)
    except (RuntimeError, EOFError, ValueError, pickle.UnpicklingError) as error:
        raise IntegrityError(
            f"file {path} is not a readable torch tensor file ({error})"
        ) from error
    if not isinstance(data, torch.Tensor):
        raise IntegrityError(f"file {path} holds a {type(data).__name__}, expected a tensor")
    if data.ndim != 4 or data.shape[1] != 2 or tuple(data.shape[2:]) != grid:
        raise IntegrityError(
            f"file {path} holds a tensor of shape {tuple(data.shape)}, expected "
            f"(T, 2, {grid[0]}, {grid[1]})"
        )
    if not data.is_floating_point():
        raise IntegrityError(f"file {path} holds {data.dtype} values, expected floats")
    return data.to(torch.float32)


class DynamicsWindows(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """All windows ``(input, target)`` of some trajectories at some time indices.

    Item ``i`` is window ``starts[i % len(starts)]`` of trajectory ``i // len(starts)``:
    ``input`` has shape ``(2·input_frames, H, W)``, ``target`` ``(target_frames, 2, H, W)``.
    """

    def __init__(
        self,
        trajectories: Sequence[torch.Tensor],
        starts: Sequence[int],
        layout: WindowLayout,
        names: Sequence[str],
    ):
        if len(trajectories) != len(names):
            raise ValueError(f"{len(trajectories)} trajectories but {len(names)} names")
        if not trajectories or not starts:
            raise ValueError("a dynamics split needs at least one trajectory and one time index")
        needed = layout.frames_needed(max(starts))
        for name, trajectory in zip(names, trajectories, strict=True):
            if trajectory.shape[0] < needed:
                raise ValueError(
                    f"trajectory {name} has {trajectory.shape[0]} frames, but time index "
                    f"{max(starts)} with warmup={layout.warmup} and target_frames="
                    f"{layout.target_frames} needs {needed}; shorten the split's time range "
                    "(option times=...) or use longer trajectories"
                )
        self.trajectories = list(trajectories)
        self.starts = list(starts)
        self.layout = layout
        self.names = list(names)

    def __len__(self) -> int:
        return len(self.trajectories) * len(self.starts)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} windows")
        index %= len(self)  # negative indices count from the end, as for any sequence
        trajectory = self.trajectories[index // len(self.starts)]
        mid = self.starts[index % len(self.starts)] + self.layout.warmup
        inputs = trajectory[mid - self.layout.input_frames : mid]
        target = trajectory[mid : mid + self.layout.target_frames]
        return inputs.reshape(-1, *inputs.shape[2:]), target

    def __repr__(self) -> str:
        grid = tuple(self.trajectories[0].shape[2:])
        return (
            f"DynamicsWindows({len(self)} windows: {len(self.trajectories)} trajectories × "
            f"{len(self.starts)} times, grid {grid}, {self.layout})"
        )
