"""Evaluating a saved run folder or checkpoint (``gmcnn evaluate``).

The result has the layout of a run's ``summary.json``: ``test`` maps each evaluated split
to its metrics, ``equivariance`` holds the model equivariance error. A run trained by
:func:`~gmcnn.experiments.training.fit` on data held in memory is evaluated by passing the
model (and test data) back: ``evaluate_saved(run, model=net, test_data=ds)``; without them
its recorded test metrics are returned (``recorded: True``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gmcnn.experiments.config import (
    IN_MEMORY,
    ExperimentConfig,
    apply_overrides,
    config_from_dict,
    load_config,
)
from gmcnn.experiments.runs import RunFolder

if TYPE_CHECKING:
    from torch import nn
    from torch.utils.data import Dataset


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


def _saved_state(checkpoint: Path) -> dict[str, Any]:
    """The ``gmcnn`` record of a checkpoint: experiment name and config."""
    from gmcnn.experiments.training import CheckpointError, read_checkpoint

    state = read_checkpoint(checkpoint)
    saved = state.get("gmcnn")
    if not isinstance(saved, dict) or "config" not in saved:
        raise CheckpointError(
            f"{checkpoint} holds no gmcnn config; pass --experiment to say which model it is"
        )
    return saved


def _saved_config(saved: dict[str, Any], checkpoint: Path, overrides: Sequence[str]) -> Any:
    raw = apply_overrides(saved["config"], overrides)
    name = saved.get("experiment", checkpoint.stem)
    if (raw.get("data") or {}).get("name") == IN_MEMORY:
        return config_from_dict(raw, name, registered=False)
    return config_from_dict(raw, name)


def _recorded(target: Path, checkpoint: Path, config: ExperimentConfig) -> dict[str, Any]:
    """The test metrics a :func:`fit` run recorded in its ``summary.json``."""
    folder = target if target.is_dir() else checkpoint.parent.parent
    summary_path = RunFolder(folder).summary
    if not summary_path.is_file():
        raise FileNotFoundError(
            f"{target} was trained by fit() on data held in memory and has no summary.json; "
            "evaluate it from Python: evaluate_saved(RUN, model=..., test_data=...)"
        )
    summary = RunFolder(folder).read_summary()
    return {
        "experiment": config.name,
        "checkpoint": summary.get("best_checkpoint", str(checkpoint)),
        "parameters": summary.get("parameters"),
        "recorded": True,
        "test": summary.get("test", {}),
        "equivariance": summary.get("equivariance"),
        **_subset(config),
    }


def evaluate_saved(
    target: Path | str,
    experiment: str | None = None,
    overrides: Sequence[str] = (),
    *,
    model: nn.Module | None = None,
    test_data: Dataset[Any] | None = None,
) -> dict[str, Any]:
    """Test metrics of the best checkpoint of a run folder, or of a checkpoint file.

    The model is rebuilt from the config saved in the checkpoint, or from ``experiment``
    (then a checkpoint of another architecture is a :class:`CheckpointError`). A run of
    :func:`~gmcnn.experiments.training.fit` names no registered model or dataset: pass
    ``model`` (an instance of the trained architecture; its weights are replaced) and
    ``test_data`` to evaluate it again, or neither to get the metrics it recorded.
    """
    target = Path(target)
    checkpoint = _checkpoint_of(target)
    saved = _saved_state(checkpoint) if experiment is None else None
    if experiment is not None:
        config = load_config(experiment, overrides)
    else:
        assert saved is not None
        config = _saved_config(saved, checkpoint, overrides)
    custom = config.data.name == IN_MEMORY
    if custom and model is None and test_data is None:
        return _recorded(target, checkpoint, config)
    if custom and (model is None or test_data is None):
        raise ValueError(
            f"{target} was trained by fit() on data held in memory: pass both model and "
            "test_data to evaluate it again"
        )

    import torch

    from gmcnn.experiments.data import TEST_SPLITS, ExperimentData, input_spec
    from gmcnn.experiments.evaluation import evaluate
    from gmcnn.experiments.training import build_experiment_model, load_weights
    from gmcnn.metrics import parameter_count

    if custom:
        assert model is not None and test_data is not None
        data = ExperimentData(
            train=test_data,
            valid=test_data,
            tests={TEST_SPLITS[config.task][0]: test_data},
            inputs=input_spec(config.task, test_data),
        )
    else:
        from gmcnn.experiments.data import load_experiment_data

        data = load_experiment_data(config)
        model = model if model is not None else build_experiment_model(config, data)
    load_weights(model, checkpoint)
    results = evaluate(model, data, config, torch.device("cpu"))
    return {
        "experiment": config.name,
        "checkpoint": str(checkpoint),
        "parameters": parameter_count(model),
        "test": {k: v for k, v in results.items() if k != "equivariance"},
        "equivariance": results["equivariance"],
        **_subset(config),
    }


def _subset(config: ExperimentConfig) -> dict[str, Any]:
    """``{"subset": …}`` when the run was limited to ``data.max_examples``, as in summaries."""
    limit = config.data.max_examples
    return {} if limit is None else {"subset": {"max_examples": limit}}
