"""Training with PyTorch Lightning (App. A): experiments, your own data, and the dry run.

:func:`train` builds data and model from an :class:`ExperimentConfig` (:func:`fit` takes a
model and datasets of your own instead) and trains with AdamW,
ReduceLROnPlateau and early stopping, keeps the best and the last checkpoint, logs metrics
to CSV (and TensorBoard when it is installed), evaluates the best checkpoint on the test
splits and writes ``summary.json``. ``trainer.devices`` / ``trainer.num_nodes`` /
``trainer.strategy=ddp`` train on several GPUs or nodes through Lightning's DDP; mixed
precision is used on GPUs (``trainer.precision=auto``).
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import logging
import os
import platform
import sys
import time
import warnings
from collections.abc import Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset

from gmcnn.experiments.config import (
    ConfigError,
    DataConfig,
    ExperimentConfig,
    ModelConfig,
    OptimizerConfig,
    TrainerConfig,
)
from gmcnn.experiments.data import (
    TEST_SPLITS,
    ExperimentData,
    eval_loader,
    input_spec,
    load_experiment_data,
    train_loader,
)
from gmcnn.experiments.evaluation import data_equivariance, evaluate
from gmcnn.experiments.runs import RunFolder, runs_root
from gmcnn.metrics import flops_per_example, parameter_count
from gmcnn.models.registry import Task, build_model


class CheckpointError(ValueError):
    """A checkpoint is unreadable or belongs to another architecture."""


#: Lightning messages that say nothing about this run (hardware banners, tips, loader hints).
_NOISE = (
    r".*LeafSpec.*is deprecated.*",
    r".*does not have many workers.*",
    r".*is smaller than the logging interval.*",
)


@contextlib.contextmanager
def quiet_lightning() -> Iterator[None]:
    """Keep Lightning's warnings and errors, drop its info banners and known noise."""
    logger = logging.getLogger("lightning.pytorch")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            for pattern in _NOISE:
                warnings.filterwarnings("ignore", message=pattern)
            yield
    finally:
        logger.setLevel(level)


def launched_as_rank_zero() -> bool:
    """Whether this process is the first of a (possibly distributed) launch."""
    return all(os.environ.get(var, "0") == "0" for var in ("RANK", "LOCAL_RANK", "NODE_RANK"))


def build_experiment_model(config: ExperimentConfig, data: ExperimentData) -> nn.Module:
    """The model of ``config`` for ``data``; a bad model option is a :class:`ConfigError`."""
    try:
        return build_model(config.model.name, data.inputs, **config.model.options)
    except (ValueError, TypeError) as error:
        raise ConfigError(f"model {config.model.name!r}: {error}") from None


def load_weights(model: nn.Module, checkpoint: Path) -> dict[str, Any]:
    """Load a Lightning checkpoint's weights into ``model``; return the checkpoint.

    Raises :class:`CheckpointError` (one line) when the file is unreadable or its weights do
    not fit ``model``'s architecture.
    """
    try:
        state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    except (OSError, RuntimeError, EOFError) as error:
        raise CheckpointError(f"checkpoint {checkpoint} cannot be read: {error}") from None
    if not isinstance(state, dict) or "state_dict" not in state:
        raise CheckpointError(f"{checkpoint} is not a gmcnn training checkpoint")
    weights = {k.removeprefix("model."): v for k, v in state["state_dict"].items()}
    expected = model.state_dict()
    # GMConv fills in error positions that older checkpoints lack (the identity rule then).
    missing = sorted(k for k in set(expected) - set(weights) if not k.endswith("error_positions"))
    unexpected = sorted(set(weights) - set(expected))
    wrong = [k for k in expected if k in weights and weights[k].shape != expected[k].shape]
    if missing or unexpected or wrong:
        what = (
            f"missing {missing[0]!r}"
            if missing
            else f"unexpected {unexpected[0]!r}"
            if unexpected
            else f"{wrong[0]!r} has shape {tuple(weights[wrong[0]].shape)}, the model "
            f"{tuple(expected[wrong[0]].shape)}"
        )
        raise CheckpointError(
            f"checkpoint {checkpoint} does not fit this architecture ({what}); it was saved "
            f"by experiment {state.get('gmcnn', {}).get('experiment', '?')!r}"
        )
    model.load_state_dict(weights)
    return state


def describe(config: ExperimentConfig, data: ExperimentData, model: nn.Module) -> dict[str, Any]:
    """Parameter count, FLOPs per example and the data shapes of an experiment."""
    example = data.train[0][0]
    return {
        "experiment": config.name,
        "task": config.task,
        "dataset": config.data.name,
        "model": config.model.name,
        "model_options": dict(config.model.options),
        "splits": data.sizes(),
        "input": {"channels": data.inputs.channels, "shape": list(data.inputs.shape)},
        "outputs": data.inputs.outputs,
        "parameters": parameter_count(model),
        "flops_per_example": flops_per_example(model, example),
        "paper": {k: v for k, v in vars(config.paper).items() if v not in (None, "")},
    }


def format_description(info: dict[str, Any]) -> str:
    """The dry-run summary: one ``key: value`` line each (``parameters: N`` among them)."""
    lines = [
        f"experiment: {info['experiment']}",
        f"task: {info['task']}",
        f"dataset: {info['dataset']} ("
        + ", ".join(f"{k} {v:,}" for k, v in info["splits"].items())
        + ")",
        f"input: {info['input']['channels']} × {' × '.join(map(str, info['input']['shape']))}"
        f" → {info['outputs']} {'classes' if info['task'] == 'classification' else 'channels'}",
        f"model: {info['model']} " + " ".join(f"{k}={v}" for k, v in info["model_options"].items()),
        f"parameters: {info['parameters']}",
        f"flops per example: {info['flops_per_example']:,}",
    ]
    if "parameters" in info["paper"]:
        lines.append(f"paper parameters: {info['paper']['parameters']}")
    return "\n".join(lines)


def dry_run(config: ExperimentConfig) -> dict[str, Any]:
    """Build data pipeline and model, draw one batch and run it; no training, no files."""
    torch.manual_seed(config.seed)
    data = load_experiment_data(config)
    model = build_experiment_model(config, data)
    x, _ = next(iter(eval_loader(data.valid, config.data)))
    with torch.no_grad():
        model.eval()(x[:2])
    return describe(config, data, model)


def _precision(config: ExperimentConfig) -> str:
    if config.trainer.precision != "auto":
        return config.trainer.precision
    gpu = config.trainer.accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available()
    if not gpu:
        return "32-true"
    return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"


def _loggers(run: RunFolder, resume_epoch: int | None) -> list[Any]:
    from gmcnn.experiments.callbacks import CSVMetricsLogger

    loggers: list[Any] = [CSVMetricsLogger(run.metrics, resume_epoch)]
    if importlib.util.find_spec("tensorboard") or importlib.util.find_spec("tensorboardX"):
        from lightning.pytorch.loggers import TensorBoardLogger

        loggers.append(TensorBoardLogger(run.path, name="tensorboard", version=""))
    return loggers


def _evaluation_device(config: ExperimentConfig) -> torch.device:
    gpu = config.trainer.accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available()
    return torch.device("cuda" if gpu else "cpu")


def train(
    config: ExperimentConfig,
    run_dir: Path,
    *,
    resume: bool = False,
    overwrite: bool = False,
    argv: Sequence[str] | None = None,
) -> dict[str, Any] | None:
    """Train ``config`` in ``run_dir``; return the summary (``None`` on non-zero DDP ranks).

    Raises :class:`~gmcnn.experiments.runs.RunFolderError` for a folder that exists (without
    ``overwrite``) or has nothing to resume, :class:`ConfigError` when resuming with another
    config, :class:`CheckpointError` for a checkpoint of another architecture, and
    :class:`~gmcnn.experiments.tasks.NonFiniteLossError` when the loss diverges (after
    recording the failure in ``summary.json``).
    """
    with quiet_lightning():
        return _train(config, RunFolder(Path(run_dir)), resume, overwrite, argv)


def _train(
    config: ExperimentConfig,
    run: RunFolder,
    resume: bool,
    overwrite: bool,
    argv: Sequence[str] | None,
) -> dict[str, Any] | None:
    import lightning.pytorch as pl

    rank_zero = launched_as_rank_zero()
    if rank_zero:
        run.check_available(config, resume, overwrite)  # fail before loading anything
    pl.seed_everything(config.seed, workers=True, verbose=False)
    data = load_experiment_data(config)
    model = build_experiment_model(config, data)
    if rank_zero:  # only now: a missing dataset or a bad model leaves no folder behind
        run.prepare(config, resume=resume, overwrite=overwrite)
    return _fit(config, run, data, model, resume, argv)


def fit(
    model: nn.Module,
    train_data: Dataset[Any],
    valid_data: Dataset[Any],
    test_data: Dataset[Any] | None = None,
    *,
    task: Task = "classification",
    run_dir: Path | None = None,
    max_epochs: int = 20,
    lr: float = 0.004,
    weight_decay: float = 0.0153,
    batch_size: int = 64,
    seed: int = 0,
    progress_bar: bool = False,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Train any ``model`` on your own datasets with the paper's recipe; return the summary.

    ``train_data`` / ``valid_data`` / ``test_data`` yield ``(image (C, H, W), label)`` for
    classification or ``(input, target (steps, channels, …))`` for dynamics. Everything
    :func:`train` does applies: AdamW with ReduceLROnPlateau, early stopping, best and last
    checkpoints, ``metrics.csv`` and ``summary.json`` in ``run_dir`` (default:
    ``runs/custom/<model class>``), test metrics and the model equivariance error.
    """
    name = type(model).__name__
    config = ExperimentConfig(
        name=f"custom/{name}",
        task=task,
        data=DataConfig(name="(in memory)", batch_size=batch_size, eval_batch_size=batch_size),
        model=ModelConfig(name=name),
        seed=seed,
        optimizer=OptimizerConfig(lr=lr, weight_decay=weight_decay),
        trainer=TrainerConfig(max_epochs=max_epochs, progress_bar=progress_bar),
    )
    run = RunFolder(Path(run_dir) if run_dir is not None else runs_root() / "custom" / name)
    data = ExperimentData(
        train=train_data,
        valid=valid_data,
        tests={TEST_SPLITS[task][0]: test_data if test_data is not None else valid_data},
        inputs=input_spec(task, train_data),
    )
    with quiet_lightning():
        run.prepare(config, resume=False, overwrite=overwrite)
        torch.manual_seed(seed)
        summary = _fit(config, run, data, model, False, None)
    assert summary is not None
    return summary


def _fit(
    config: ExperimentConfig,
    run: RunFolder,
    data: ExperimentData,
    model: nn.Module,
    resume: bool,
    argv: Sequence[str] | None,
) -> dict[str, Any] | None:
    import lightning.pytorch as pl
    from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint, TQDMProgressBar

    from gmcnn.experiments.budget import budget_summary
    from gmcnn.experiments.callbacks import AtomicCheckpointIO, EpochLines, EpochTimer
    from gmcnn.experiments.tasks import NonFiniteLossError, make_task

    info = describe(config, data, model)
    resume_epoch = int(load_weights(model, run.last).get("epoch", 0)) if resume else None

    checkpoint = ModelCheckpoint(
        dirpath=run.checkpoints,
        filename="best",
        monitor="valid/loss",
        mode="min",
        save_top_k=1,
        save_last=True,
        enable_version_counter=False,
    )
    stopper = EarlyStopping(
        monitor="valid/loss", mode="min", patience=config.trainer.early_stopping_patience
    )
    timer = EpochTimer()
    interactive = config.trainer.progress_bar and sys.stderr.isatty()
    display: list[pl.Callback] = []
    if config.trainer.progress_bar:
        display.append(TQDMProgressBar() if interactive else EpochLines())
    trainer = pl.Trainer(
        accelerator=config.trainer.accelerator,
        devices=config.trainer.devices,
        num_nodes=config.trainer.num_nodes,
        strategy=config.trainer.strategy,
        precision=_precision(config),  # type: ignore[arg-type]
        max_epochs=config.trainer.max_epochs,
        max_time=None
        if config.trainer.max_minutes is None
        else timedelta(minutes=config.trainer.max_minutes),
        logger=_loggers(run, resume_epoch),
        callbacks=[checkpoint, stopper, timer, *display],
        plugins=[AtomicCheckpointIO()],
        enable_progress_bar=interactive,
        enable_model_summary=False,
        log_every_n_steps=config.trainer.log_every_n_steps,
        default_root_dir=run.path,
        num_sanity_val_steps=0,
    )
    distributed = config.trainer.num_nodes > 1 or config.trainer.devices not in (1, "1")
    started = time.time()
    try:
        trainer.fit(
            make_task(model, config),
            train_loader(data.train, config.data, config.seed, distributed),
            eval_loader(data.valid, config.data),
            ckpt_path=run.last if resume else None,
        )
    except NonFiniteLossError as error:
        if trainer.is_global_zero:
            run.write_summary({**info, "status": "failed", "error": str(error)})
        raise
    if not trainer.is_global_zero:
        return None

    best = Path(checkpoint.best_model_path) if checkpoint.best_model_path else run.last
    load_weights(model, best)
    device = _evaluation_device(config)
    results = evaluate(model.to(device), data, config, device)
    score = checkpoint.best_model_score
    summary = {
        **info,
        "status": "completed",
        "run_dir": str(run.path),
        "command": list(argv) if argv is not None else sys.argv,
        # Epochs begun: the checkpoint resumed from was written in epoch ``resume_epoch``
        # (counted even when a spent --budget stops the resumed run before it trains).
        "epochs": max(trainer.current_epoch, -1 if resume_epoch is None else resume_epoch + 1),
        "stopped_early": stopper.stopped_epoch > 0,
        **budget_summary(trainer, config.trainer.max_minutes),  # --budget (budget.py)
        "world_size": trainer.world_size,
        "seconds_per_epoch": sum(timer.seconds) / len(timer.seconds) if timer.seconds else None,
        "train_seconds": time.time() - started,
        "best_checkpoint": str(best),
        "best_valid_loss": None if score is None else float(score),
        "test": {k: v for k, v in results.items() if k != "equivariance"},
        "equivariance": results["equivariance"],
        "data_equivariance_error": data_equivariance(config, data),
        "environment": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "lightning": importlib.metadata.version("lightning"),
            "machine": platform.machine(),
            "threads": torch.get_num_threads(),
        },
    }
    run.write_summary(summary)
    return summary
