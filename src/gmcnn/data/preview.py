"""Look at a prepared dataset: a figure of some samples and a table of its statistics.

``gmcnn data show NAME`` calls :func:`show`. Dynamics sets (plumes, JetFlow) are drawn as
the speed ``|u|`` of a few frames of a few trajectories, with a colour bar shared by the
figure and arrows for the direction of the flow; classification sets as a grid of training
images with their labels. Every file read is first checked against the manifest.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gmcnn.data.api import dataset_spec, load, prepared_folder
from gmcnn.data.dynamics import read_trajectory
from gmcnn.data.storage import Manifest, read_manifest, verify_manifest

PathLike = str | os.PathLike[str]


@dataclass(frozen=True)
class DynamicsStatistics:
    """Summary of a prepared dynamics set: counts, speeds (grid cells per unit time), cost."""

    trajectories: int
    frames: int
    grid: tuple[int, int]
    mean_speed: float
    max_speed: float
    bytes: int
    prepare_seconds: float

    def markdown_row(self, name: str) -> str:
        """``| name | trajectories | frames | grid | mean | max | MiB | seconds |``."""
        return (
            f"| `{name}` | {self.trajectories} | {self.frames} | {self.grid[0]}×{self.grid[1]} "
            f"| {self.mean_speed:.3f} | {self.max_speed:.3f} | {self.bytes / 2**20:.1f} "
            f"| {self.prepare_seconds:.0f} |"
        )


STATISTICS_HEADER = (
    "| dataset | trajectories | frames each | grid | mean speed | max speed | MiB | build s |\n"
    "|---|---|---|---|---|---|---|---|"
)


def _prepared(name: str, source: str | None, root: PathLike | None) -> tuple[Path, Manifest]:
    spec = dataset_spec(name)
    folder = prepared_folder(name, source, root)
    manifest = read_manifest(folder)
    if manifest is None:
        raise FileNotFoundError(
            f"{name} is not prepared in {folder}: run `gmcnn data prepare {name} --source "
            f"{spec.source(source).name}` first"
        )
    verify_manifest(folder, manifest, f"run `gmcnn data prepare {name}` to build it again")
    return folder, manifest


def _trajectories(folder: Path, manifest: Manifest) -> list[tuple[str, torch.Tensor]]:
    shape = manifest.splits["trajectories"]["shape"]
    grid = (int(shape[2]), int(shape[3]))
    return [
        (rel.removeprefix("raw_data_").removesuffix(".pt"), read_trajectory(folder / rel, grid))
        for rel in sorted(manifest.files)
        if rel.startswith("raw_data_")
    ]


def dynamics_statistics(
    name: str, source: str | None = None, root: PathLike | None = None
) -> DynamicsStatistics:
    """Counts, mean and maximum speed, size and build time of a prepared dynamics set.

    Raises:
        FileNotFoundError: the set is not prepared.
        ValueError: ``name`` is not a dynamics set.
    """
    if dataset_spec(name).task != "dynamics":
        raise ValueError(f"{name} is a classification set; statistics are for dynamics sets")
    folder, manifest = _prepared(name, source, root)
    total, peak, count = 0.0, 0.0, 0
    trajectories = _trajectories(folder, manifest)
    for _, frames in trajectories:
        speed = frames.double().pow(2).sum(1).sqrt()
        total += float(speed.sum())
        count += speed.numel()
        peak = max(peak, float(speed.max()))
    shape = manifest.splits["trajectories"]["shape"]
    return DynamicsStatistics(
        trajectories=len(trajectories),
        frames=int(shape[0]),
        grid=(int(shape[2]), int(shape[3])),
        mean_speed=total / max(count, 1),
        max_speed=peak,
        bytes=manifest.total_bytes,
        prepare_seconds=manifest.prepare_seconds,
    )


def show(
    name: str,
    out: PathLike,
    source: str | None = None,
    root: PathLike | None = None,
    samples: int = 3,
    frames: int = 4,
) -> Path:
    """Draw ``samples`` trajectories × ``frames`` frames (or a grid of images) to ``out``.

    Frames are spread evenly over each trajectory, ending with its last; the trajectories
    are the first, middle and last of the set by key (for ``samples = 3``). Returns the
    path written (PNG, PDF or SVG, by the suffix of ``out``).

    Raises:
        FileNotFoundError: the set is not prepared.
        ValueError: ``samples`` or ``frames`` below 1.
    """
    if samples < 1 or frames < 1:
        raise ValueError(f"samples={samples} and frames={frames} must both be at least 1")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out)
    spec = dataset_spec(name)
    if spec.task == "dynamics":
        figure = _dynamics_figure(plt, name, source, root, samples, frames)
    else:
        figure = _images_figure(plt, name, source, root, samples * frames)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=110, bbox_inches="tight")
    plt.close(figure)
    return out


def _dynamics_figure(
    plt: Any, name: str, source: str | None, root: PathLike | None, samples: int, frames: int
) -> Any:
    folder, manifest = _prepared(name, source, root)
    trajectories = _trajectories(folder, manifest)
    picks = np.unique(np.linspace(0, len(trajectories) - 1, min(samples, len(trajectories))))
    chosen = [trajectories[int(i)] for i in picks]
    length = chosen[0][1].shape[0]
    # Evenly spread, the last frame included and the (still) first one left out.
    count = min(frames, length)
    times = np.unique(np.linspace(length / count - 1, length - 1, count).round().astype(int))
    speeds = [frames_.pow(2).sum(1).sqrt() for _, frames_ in chosen]
    vmax = max(float(s[times].max()) for s in speeds) or 1.0
    figure, axes = plt.subplots(
        len(chosen),
        len(times),
        figsize=(2.6 * len(times) + 0.8, 2.6 * len(chosen)),
        squeeze=False,
        constrained_layout=True,
    )
    image = None
    for row, ((key, field), speed) in enumerate(zip(chosen, speeds, strict=True)):
        height, width = field.shape[-2:]
        step = max(1, max(height, width) // 16)
        ys, xs = np.mgrid[0:height:step, 0:width:step]
        for column, t in enumerate(times):
            axis = axes[row, column]
            image = axis.imshow(
                speed[t].numpy(), origin="lower", cmap="viridis", vmin=0.0, vmax=vmax
            )
            u = field[t, 0, ::step, ::step].numpy()
            v = field[t, 1, ::step, ::step].numpy()
            # An arrow of the figure's top speed spans the gap between two arrows.
            axis.quiver(
                xs, ys, u, v, color="white", angles="xy", scale_units="xy", scale=vmax / step
            )
            axis.set_xticks([])
            axis.set_yticks([])
            axis.set_title(f"{key}, frame {t}", fontsize=8)
    figure.colorbar(image, ax=axes, shrink=0.8, label="speed |u| (grid cells per unit time)")
    figure.suptitle(f"{name}: velocity (arrows) and speed", fontsize=10)
    return figure


def _images_figure(
    plt: Any, name: str, source: str | None, root: PathLike | None, count: int
) -> Any:
    data = load(name, "train", root, source=source)
    count = min(count, len(data))  # type: ignore[arg-type]
    columns = min(count, 8)
    rows = -(-count // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(1.4 * columns, 1.6 * rows), squeeze=False)
    for index, axis in enumerate(axes.flat):
        axis.set_axis_off()
        if index >= count:
            continue
        image, label = data[index]
        picture = image.permute(1, 2, 0).numpy()
        axis.imshow(picture.squeeze(-1) if picture.shape[-1] == 1 else picture, cmap="gray")
        axis.set_title(str(int(label)), fontsize=8)
    figure.suptitle(f"{name}: training images and labels", fontsize=10)
    return figure
