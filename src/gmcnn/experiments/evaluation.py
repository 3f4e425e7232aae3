"""Test metrics of a trained model: accuracy or RMSE per rollout step, and equivariance error.

Evaluation runs in one process, outside Lightning, so the numbers are exact whatever
strategy trained the model (DDP pads the last batch of each replica).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import Dataset, Subset

from gmcnn.experiments.config import ExperimentConfig
from gmcnn.experiments.data import ExperimentData, eval_loader, example_batch
from gmcnn.experiments.memory import keep_freed_memory
from gmcnn.experiments.tasks import rollout
from gmcnn.groups import FiniteGroup, cyclic, direct_product
from gmcnn.metrics import (
    equivariance_error,
    rollout_rmse,
    rollout_squared_errors,
    sample_elements,
)
from gmcnn.models.registry import InputSpec


def model_input(x: Tensor, model: nn.Module, device: torch.device) -> Tensor:
    """``x`` on ``device``, floating data in the dtype of the model's parameters: a model
    trained with ``trainer.precision=64-true`` is float64, while the data are float32."""
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), None)
    if dtype is None or not x.is_floating_point():
        return x.to(device)
    return x.to(device, dtype=dtype)


@torch.no_grad()
def classification_metrics(model: nn.Module, loader: Any, device: torch.device) -> dict[str, float]:
    """Accuracy and mean cross-entropy over a loader."""
    correct, total, loss = 0, 0, 0.0
    for images, labels in loader:
        logits = model(model_input(images, model, device))
        labels = labels.to(device)
        loss += float(nn.functional.cross_entropy(logits, labels, reduction="sum"))
        correct += int((logits.argmax(dim=1) == labels).sum())
        total += int(labels.numel())
    return {"accuracy": correct / total, "loss": loss / total}


@torch.no_grad()
def dynamics_metrics(model: nn.Module, loader: Any, device: torch.device) -> dict[str, Any]:
    """RMSE per rollout step and over the whole rollout (Tables 1–2)."""
    sums: torch.Tensor | None = None
    for inputs, target in loader:
        target = target.to(device)
        prediction = rollout(model, model_input(inputs, model, device), target.shape[1])
        batch = rollout_squared_errors(prediction, target)
        sums = batch if sums is None else sums + batch
    assert sums is not None
    per_step = rollout_rmse(sums)
    overall = float((sums[:, 0].sum() / sums[:, 1].sum()).sqrt())
    return {"rmse": overall, "rmse_per_step": [float(v) for v in per_step]}


def model_symmetry(model: nn.Module, inputs: InputSpec) -> tuple[FiniteGroup, np.ndarray | None]:
    """The group acting on the model's input positions, and the elements to test.

    GM models say it themselves (``symmetry_group`` and ``symmetry_elements``: the subgroup
    their exact layers are equivariant to); for any other model the cyclic translations of
    the input grid are used.
    """
    group = getattr(model, "symmetry_group", None)
    if group is not None:
        elements = getattr(model, "symmetry_elements", None)
        return group, None if elements is None else np.asarray(elements)
    factors = [cyclic(n) for n in inputs.shape]
    return (factors[0] if len(factors) == 1 else direct_product(*factors)), None


#: Datasets whose model equivariance error is measured under rotations of the velocity
#: fields (App. E, after Wang et al. 2022) rather than under the model's own group.
VELOCITY_ROTATION_DATASETS = ("plumes-equivariance",)
VELOCITY_ROTATION_GROUP = "C4 (velocity rotations)"


def _rotate_frames(x: Tensor, quarter_turns: int) -> Tensor:
    """Rotate velocity frames stacked as ``(B, 2·frames, H, W)`` like ``rotate_velocity``."""
    from gmcnn.data import rotate_velocity

    batch, channels, height, width = x.shape
    frames = x.reshape(batch, channels // 2, 2, height, width)
    return rotate_velocity(frames, quarter_turns).reshape(batch, channels, width, height)


@torch.no_grad()
def velocity_rotation_error(
    model: Callable[[Tensor], Tensor], inputs: Tensor, turns: Sequence[int] = (1, 2, 3)
) -> float:
    """Rotation equivariance error of a velocity-field model (App. E; Wang et al. 2022).

    ``mean over k and x of ‖F(R_k x) − R_k F(x)‖ / ‖F(x)‖`` with ``R_k`` the rotation by
    ``k·90°`` of the grid and of the vectors (:func:`gmcnn.data.rotate_velocity`), the
    symmetry the App. E data sets break by a controlled amount. ``inputs`` are
    ``(B, 2·frames, H, W)`` with ``H = W``; the model returns one frame ``(B, 2, H, W)``.
    """
    if inputs.shape[1] % 2 or inputs.shape[-1] != inputs.shape[-2]:
        raise ValueError(
            "velocity rotations need square grids of 2-component frames, got inputs of shape "
            f"{tuple(inputs.shape)}"
        )
    reference = model(inputs)
    norms = reference.flatten(1).norm(dim=1).clamp_min(torch.finfo(reference.dtype).tiny)
    errors = []
    for k in turns:
        moved = model(_rotate_frames(inputs, k))
        expected = _rotate_frames(reference, k)
        errors.append(((moved - expected).flatten(1).norm(dim=1) / norms).mean())
    return float(torch.stack(errors).mean())


@torch.no_grad()
def measure_equivariance(
    model: nn.Module,
    dataset: Dataset[Any],
    config: ExperimentConfig,
    inputs: InputSpec,
    device: torch.device,
    symmetry: tuple[FiniteGroup, np.ndarray | None] | None = None,
) -> dict[str, Any]:
    """Model equivariance error (MATH.md §8) on the first test examples.

    ``symmetry`` overrides the group and elements (to compare models on the same action).
    On the App. E sets (:data:`VELOCITY_ROTATION_DATASETS`) every model is measured under the
    three non-trivial rotations of the velocity fields, the action whose breaking the data
    equivariance error measures, so that all methods are compared on the same action.
    """
    if symmetry is None and config.data.name in VELOCITY_ROTATION_DATASETS:
        turns = (1, 2, 3)[: config.evaluation.equivariance_elements]
        if not turns:
            return {"group": VELOCITY_ROTATION_GROUP, "elements": 0, "error": 0.0}
        x, _ = example_batch(dataset, config.evaluation.equivariance_examples)
        error = velocity_rotation_error(model, model_input(x, model, device), turns)
        return {"group": VELOCITY_ROTATION_GROUP, "elements": len(turns), "error": error}
    group, among = symmetry if symmetry is not None else model_symmetry(model, inputs)
    elements = sample_elements(
        group, config.evaluation.equivariance_elements, config.seed, among=among
    )
    if elements.size == 0:
        return {"group": group.name, "elements": 0, "error": 0.0}
    x, _ = example_batch(dataset, config.evaluation.equivariance_examples)
    error = equivariance_error(
        model,
        model_input(x, model, device),
        group,
        elements.tolist(),
        invariant=config.task == "classification",
    )
    return {"group": group.name, "elements": int(elements.size), "error": error}


def data_equivariance(config: ExperimentConfig, data: ExperimentData) -> float | None:
    """Wang et al.'s data equivariance error of a plume equivariance-test set (App. E).

    The training windows of ``plumes-equivariance`` come from four plumes, the ``j``-th
    turned by ``j`` quarter turns; they are turned back and compared. ``None`` for any
    other dataset.
    """
    if config.data.name != "plumes-equivariance":
        return None
    from gmcnn.data import data_equivariance_error, rotate_velocity

    windows = data.train.dataset if isinstance(data.train, Subset) else data.train
    turned = getattr(windows, "trajectories", None)
    if turned is None or len(turned) != 4:
        return None
    return data_equivariance_error([rotate_velocity(t, -j) for j, t in enumerate(turned)])


def evaluate(
    model: nn.Module,
    data: ExperimentData,
    config: ExperimentConfig,
    device: torch.device | None = None,
) -> dict[str, Any]:
    """Every test split's metrics and the model equivariance error, in evaluation mode."""
    keep_freed_memory()
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        metric = classification_metrics if config.task == "classification" else dynamics_metrics
        results: dict[str, Any] = {
            split: metric(model, eval_loader(ds, config.data), device)
            for split, ds in data.tests.items()
        }
        first = next(iter(data.tests.values()))
        results["equivariance"] = measure_equivariance(model, first, config, data.inputs, device)
    finally:
        model.train(was_training)
    return results
