"""Evaluating a saved run folder or checkpoint (``gmcnn evaluate``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from gmcnn.experiments.config import (
    ExperimentConfig,
    apply_overrides,
    config_from_dict,
    load_config,
)
from gmcnn.experiments.data import load_experiment_data
from gmcnn.experiments.evaluation import evaluate
from gmcnn.experiments.runs import RunFolder
from gmcnn.experiments.training import CheckpointError, build_experiment_model, load_weights
from gmcnn.metrics import parameter_count


def _checkpoint_of(target: Path) -> Path:
    if target.is_dir():
        run = RunFolder(target)
        for candidate in (run.best, run.last):
            if candidate.is_file():
                return candidate
        raise FileNotFoundError(f"{target} holds no checkpoints/best.ckpt or checkpoints/last.ckpt")
    if target.is_file():
        return target
    raise FileNotFoundError(f"{target} is neither a run folder nor a checkpoint file")


def _saved_config(checkpoint: Path, overrides: Sequence[str]) -> ExperimentConfig:
    try:
        state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    except (OSError, RuntimeError, EOFError) as error:
        raise CheckpointError(f"checkpoint {checkpoint} cannot be read: {error}") from None
    saved = state.get("gmcnn") if isinstance(state, dict) else None
    if not saved or "config" not in saved:
        raise CheckpointError(
            f"{checkpoint} holds no gmcnn config; pass --experiment to say which model it is"
        )
    raw = apply_overrides(saved["config"], overrides)
    return config_from_dict(raw, saved.get("experiment", checkpoint.stem))


def evaluate_saved(
    target: Path, experiment: str | None = None, overrides: Sequence[str] = ()
) -> dict[str, Any]:
    """Test metrics of the best checkpoint of a run folder, or of a checkpoint file.

    The model is rebuilt from the config saved in the checkpoint, or from ``experiment``
    (then a checkpoint of another architecture is a :class:`CheckpointError`).
    """
    checkpoint = _checkpoint_of(target)
    if experiment is not None:
        config = load_config(experiment, overrides)
    else:
        config = _saved_config(checkpoint, overrides)
    data = load_experiment_data(config)
    model = build_experiment_model(config, data)
    load_weights(model, checkpoint)
    results = evaluate(model, data, config, torch.device("cpu"))
    return {
        "experiment": config.name,
        "checkpoint": str(checkpoint),
        "parameters": parameter_count(model),
        **results,
    }
