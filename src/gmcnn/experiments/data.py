"""The data side of an experiment: datasets from :func:`gmcnn.data.load`, loaders, shapes.

Training batches are shuffled by a permutation that depends only on ``(seed, epoch)``
(a one-replica :class:`~torch.utils.data.DistributedSampler`), so a run resumed from a
checkpoint sees the same batches as an uninterrupted one. Under DDP, Lightning replaces it
with the usual per-replica sampler, seeded the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Subset

from gmcnn.experiments.config import ConfigError, DataConfig, ExperimentConfig
from gmcnn.models.registry import InputSpec, Task

#: The evaluation splits of each task (validation is ``valid`` for both).
TEST_SPLITS: dict[str, tuple[str, ...]] = {
    "classification": ("test",),
    "dynamics": ("test-future", "test-domain"),
}


def evaluation_splits(config: ExperimentConfig) -> tuple[str, ...]:
    """The splits a trained model is evaluated on: the task's :data:`TEST_SPLITS` the dataset has.

    A dataset with none of them (the App. E equivariance-test sets ``plumes-equivariance``
    have only ``train`` and ``valid``, as in Wang et al. 2022) is evaluated on ``valid``.
    """
    from gmcnn.data import dataset_spec

    try:
        available = dataset_spec(config.data.name).splits
    except ValueError:  # a dataset of the user's (:func:`gmcnn.experiments.training.fit`)
        return TEST_SPLITS[config.task]
    return tuple(s for s in TEST_SPLITS[config.task] if s in available) or ("valid",)


@dataclass
class ExperimentData:
    """The splits of an experiment and what a model builder needs to know about them.

    ``full_sizes`` names the splits cut short by ``data.max_examples`` and their full sizes.
    """

    train: Dataset[Any]
    valid: Dataset[Any]
    tests: dict[str, Dataset[Any]]
    inputs: InputSpec
    full_sizes: dict[str, int] = field(default_factory=dict)

    def sizes(self) -> dict[str, int]:
        """Number of examples per split."""
        splits = {"train": self.train, "valid": self.valid, **self.tests}
        return {name: len(ds) for name, ds in splits.items()}  # type: ignore[arg-type]


class Downsampled(Dataset[tuple[torch.Tensor, Any]]):
    """``dataset`` with every ``factor × …`` block of grid points averaged (``data.downsample``).

    An example ``(x, y)`` has ``x`` of shape ``(C, n₁, …, n_k)``; ``x`` becomes
    ``(C, n₁/f, …, n_k/f)``, and ``y`` too where it is a tensor ending in the same grid (the
    target fields of a dynamics window, ``(T, 2, n₁, n₂)``); class labels stay as they are.
    """

    def __init__(self, dataset: Dataset[Any], factor: int) -> None:
        self.dataset = dataset
        self.factor = factor

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, Any]:
        x, y = self.dataset[index]
        grid = tuple(x.shape[1:])
        if torch.is_tensor(y) and y.dim() >= len(grid) and tuple(y.shape[-len(grid) :]) == grid:
            y = block_mean(y, len(grid), self.factor)
        return block_mean(x, len(grid), self.factor), y


def block_mean(t: torch.Tensor, axes: int, factor: int) -> torch.Tensor:
    """The mean of every ``factor``-wide block along each of the last ``axes`` axes."""
    lead, grid = t.shape[: t.dim() - axes], t.shape[t.dim() - axes :]
    split = [size for n in grid for size in (n // factor, factor)]
    blocks = t.reshape(*lead, *split)
    return blocks.mean(dim=tuple(range(len(lead) + 1, blocks.dim(), 2)))


def _load(config: DataConfig, split: str, full_sizes: dict[str, int]) -> Dataset[Any]:
    """Split ``split`` of ``config``: every ``data.stride``-th example of ``train`` and
    ``valid``, cut to ``data.max_examples`` (recorded in ``full_sizes``), averaged over blocks
    of ``data.downsample`` grid points (:class:`Downsampled`).

    Raises :class:`~gmcnn.experiments.config.ConfigError` when ``data.downsample`` does not
    divide the grid, or when the stride leaves no example.
    """
    from gmcnn.data import load

    dataset = load(config.name, split, config.root, source=config.source, **dict(config.options))
    if config.stride > 1 and split in ("train", "valid"):
        dataset = Subset(dataset, range(0, len(dataset), config.stride))  # type: ignore[arg-type]
    size = len(dataset)  # type: ignore[arg-type]
    if config.max_examples is not None and config.max_examples < size:
        full_sizes[split] = size
        dataset = Subset(dataset, range(config.max_examples))
    if config.downsample > 1:
        grid = tuple(dataset[0][0].shape[1:]) if len(dataset) else ()  # type: ignore[arg-type]
        if not grid or any(n % config.downsample for n in grid):
            shown = " × ".join(map(str, grid)) or "ungridded"
            raise ConfigError(
                f"config key 'data.downsample' = {config.downsample}: it must divide the "
                f"{shown} grid of {config.name}"
            )
        dataset = Downsampled(dataset, config.downsample)
    return dataset


def _classes(dataset: Dataset[Any]) -> int:
    """``len(dataset.classes)``, or one more than the largest label of the dataset."""
    base = dataset
    while isinstance(base, Subset | Downsampled):  # data.stride, max_examples, downsample
        base = base.dataset
    classes = getattr(base, "classes", None)
    if classes is not None:
        return len(classes)
    return 1 + max(int(dataset[i][1]) for i in range(len(dataset)))  # type: ignore[arg-type]


def input_spec(task: Task, dataset: Dataset[Any]) -> InputSpec:
    """The :class:`InputSpec` of ``dataset``'s examples."""
    x, y = dataset[0]
    if task == "classification":
        return InputSpec(task, int(x.shape[0]), tuple(x.shape[1:]), _classes(dataset))
    return InputSpec(task, int(x.shape[0]), tuple(x.shape[1:]), int(y.shape[1]))


def load_experiment_data(config: ExperimentConfig) -> ExperimentData:
    """Every split of ``config.data`` (loaded and verified by :mod:`gmcnn.data`)."""
    full_sizes: dict[str, int] = {}
    train = _load(config.data, "train", full_sizes)
    return ExperimentData(
        train=train,
        valid=_load(config.data, "valid", full_sizes),
        tests={split: _load(config.data, split, full_sizes) for split in evaluation_splits(config)},
        inputs=input_spec(config.task, train),
        full_sizes=full_sizes,
    )


def train_loader(
    dataset: Dataset[Any], config: DataConfig, seed: int, distributed: bool
) -> DataLoader[Any]:
    """Shuffled training batches, the order fixed by ``(seed, epoch)``."""
    common: dict[str, Any] = {
        "batch_size": config.batch_size,
        "num_workers": config.num_workers,
        "persistent_workers": config.num_workers > 0,
    }
    if distributed:
        return DataLoader(dataset, shuffle=True, **common)
    sampler: DistributedSampler[Any] = DistributedSampler(
        dataset, num_replicas=1, rank=0, shuffle=True, seed=seed
    )
    return DataLoader(dataset, sampler=sampler, **common)


def eval_loader(dataset: Dataset[Any], config: DataConfig) -> DataLoader[Any]:
    """Batches in dataset order, for validation and testing."""
    return DataLoader(
        dataset,
        batch_size=config.eval_batch_size,
        shuffle=False,
        num_workers=config.num_workers,
        persistent_workers=config.num_workers > 0,
    )


def example_batch(dataset: Dataset[Any], count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``count`` examples of ``dataset`` as one batch."""
    items = [dataset[i] for i in range(min(count, len(dataset)))]  # type: ignore[arg-type]
    xs, ys = zip(*items, strict=True)
    labels = torch.stack(ys) if torch.is_tensor(ys[0]) else torch.as_tensor(ys)
    return torch.stack(xs), labels
