"""Training with PyTorch Lightning (App. A): experiments, your own data, and the dry run.

:func:`train` builds data and model from an :class:`ExperimentConfig` (:func:`fit` takes a
model and datasets of your own instead) and trains with AdamW,
ReduceLROnPlateau and early stopping, keeps the best and the last checkpoint, logs metrics
to CSV (and TensorBoard when it is installed), evaluates the best checkpoint on the test
splits and writes ``summary.json``. ``trainer.devices`` / ``trainer.num_nodes`` /
``trainer.strategy=ddp`` train on several GPUs or nodes through Lightning's DDP; mixed
precision is used on GPUs (``trainer.precision=auto``).

``checkpoints/last.ckpt`` is the state at the end of every completed epoch (the resume
point), ``checkpoints/best.ckpt`` that of the epoch with the lowest validation loss. The
time per epoch in the summary leaves out the first epoch (warm-up) when more than one ran.
Everything that can be checked before training — config values, the hardware asked for,
the run folder, empty datasets, labels outside the model's classes — is checked first.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import logging
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
from torch.utils.data import Dataset, Subset

from gmcnn.experiments.config import (
    IN_MEMORY,
    ConfigError,
    ExperimentConfig,
    config_from_dict,
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
from gmcnn.experiments.memory import keep_freed_memory
from gmcnn.experiments.runs import RunFolder, launched_as_rank_zero, runs_root
from gmcnn.metrics import flops_per_example, parameter_count
from gmcnn.models.registry import Task, build_model


class CheckpointError(ValueError):
    """A checkpoint is unreadable or belongs to another architecture."""


class DataError(ValueError):
    """A dataset cannot be trained on as given (empty, or labels outside the classes)."""


#: Lightning messages that say nothing about this run (hardware banners, tips, loader hints).
_NOISE = (
    r".*LeafSpec.*is deprecated.*",
    r".*does not have many workers.*",
    r".*is smaller than the logging interval.*",
    r".*Checkpoint directory .* exists and is not empty.*",  # resuming: the run's own folder
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


def build_experiment_model(config: ExperimentConfig, data: ExperimentData) -> nn.Module:
    """The model of ``config`` for ``data``; a bad model option is a :class:`ConfigError`."""
    try:
        return build_model(config.model.name, data.inputs, **config.model.options)
    except (ValueError, TypeError) as error:
        raise ConfigError(f"model {config.model.name!r}: {error}") from None


def read_checkpoint(checkpoint: Path) -> dict[str, Any]:
    """The contents of a Lightning checkpoint file, on the CPU.

    Raises :class:`CheckpointError` (one line) for a file that is not a checkpoint: a text
    file named ``.ckpt``, a truncated or empty file, a folder, a file of another format.
    """
    if not Path(checkpoint).is_file():
        raise CheckpointError(f"checkpoint {checkpoint} is not a file")
    try:
        state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    except Exception as error:  # unpickling raises anything the file's bytes lead it to
        reason = " ".join(str(error).split())[:200] or type(error).__name__
        raise CheckpointError(
            f"{checkpoint} is not a readable checkpoint ({type(error).__name__}: {reason})"
        ) from None
    if not isinstance(state, dict) or "state_dict" not in state:
        raise CheckpointError(f"{checkpoint} is not a gmcnn training checkpoint")
    return state


def load_weights(model: nn.Module, checkpoint: Path) -> dict[str, Any]:
    """Load a Lightning checkpoint's weights into ``model``; return the checkpoint.

    Raises :class:`CheckpointError` (one line) when the file is unreadable or its weights do
    not fit ``model``'s architecture.
    """
    state = read_checkpoint(checkpoint)
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
        "subset": {"max_examples": config.data.max_examples, "full_sizes": data.full_sizes}
        if data.full_sizes
        else None,
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
    if info.get("subset"):
        lines.append(
            f"subset: the first {info['subset']['max_examples']:,} examples of each split "
            "(data.max_examples); not comparable with the paper"
        )
    return "\n".join(lines)


def check_hardware(config: ExperimentConfig) -> None:
    """Raise :class:`ConfigError` when ``config`` asks for hardware this machine lacks, or
    for a training strategy Lightning does not know (before any run folder is written)."""
    trainer = config.trainer
    if trainer.accelerator in ("gpu", "cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(
                f"config key 'trainer.accelerator' = {trainer.accelerator!r}: no CUDA GPU is "
                f"available (torch {torch.__version__}); use auto or cpu"
            )
        count = torch.cuda.device_count()
        if isinstance(trainer.devices, int) and trainer.devices > count:
            raise ConfigError(
                f"config key 'trainer.devices' = {trainer.devices}: this machine has {count} "
                "CUDA GPU(s)"
            )
    if trainer.accelerator == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(
            "config key 'trainer.accelerator' = 'mps': Apple's MPS is not available here; use "
            "auto or cpu"
        )
    from lightning.pytorch.strategies import StrategyRegistry

    strategies = ["auto", *sorted(StrategyRegistry.available_strategies())]
    if trainer.strategy not in strategies:
        raise ConfigError(
            f"config key 'trainer.strategy' = {trainer.strategy!r}: expected one of Lightning's "
            f"strategies ({', '.join(strategies[:6])}, …)"
        )


def check_datasets(data: ExperimentData, model: nn.Module, task: Task) -> None:
    """Raise :class:`DataError` for an empty split or a label outside the model's classes.

    The number of classes is the width of the model's output on one training example.
    """
    splits = {"train": data.train, "valid": data.valid, **data.tests}
    for split, dataset in splits.items():
        if len(dataset) == 0:  # type: ignore[arg-type]
            raise DataError(f"the {split} set is empty: training needs at least one example")
    if task != "classification":
        return
    x, _ = data.train[0]
    was_training = model.training
    with torch.no_grad():
        outputs = model.eval()(torch.as_tensor(x)[None])
    model.train(was_training)
    if outputs.dim() != 2:
        raise DataError(
            f"a classifier must return logits of shape (batch, classes), got "
            f"{tuple(outputs.shape)} for one example"
        )
    classes = int(outputs.shape[1])
    for split, dataset in splits.items():
        labels = _labels_of(dataset)
        outside = torch.nonzero((labels < 0) | (labels >= classes))
        if outside.numel():
            index = int(outside[0])
            raise DataError(
                f"label {int(labels[index])} in the {split} set (example {index}) is outside "
                f"the model's {classes} classes 0 … {classes - 1}"
            )


def _labels_tensor(dataset: Dataset[Any]) -> torch.Tensor | None:
    """The labels of ``dataset`` as one tensor, when it holds them so (else ``None``)."""
    tensors = getattr(dataset, "tensors", None)
    labels = tensors[1] if isinstance(tensors, tuple) and len(tensors) == 2 else None
    if labels is None:
        labels = getattr(dataset, "labels", None)
    return labels if torch.is_tensor(labels) else None


def _labels_of(dataset: Dataset[Any]) -> torch.Tensor:
    """Every label of a classification dataset, as one integer tensor.

    Reads ``tensors[1]`` of a :class:`~torch.utils.data.TensorDataset` (or a ``labels``
    tensor, also through a :class:`~torch.utils.data.Subset`) at once; otherwise every
    example.
    """
    if isinstance(dataset, Subset):
        base = _labels_tensor(dataset.dataset)
        labels = base[torch.as_tensor(list(dataset.indices))] if base is not None else None
    else:
        labels = _labels_tensor(dataset)
    if not (torch.is_tensor(labels) and len(labels) == len(dataset)):  # type: ignore[arg-type]
        labels = torch.as_tensor([int(dataset[i][1]) for i in range(len(dataset))])  # type: ignore[arg-type]
    return torch.as_tensor(labels).reshape(-1)


def dry_run(config: ExperimentConfig) -> dict[str, Any]:
    """Build data pipeline and model, draw one batch and run it; no training, no files."""
    check_hardware(config)
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
    check_hardware(config)
    keep_freed_memory()  # before anything is written: a bad GMCNN_MALLOC is a clear error
    if rank_zero:
        run.check_available(config, resume, overwrite)  # fail before loading anything
    pl.seed_everything(config.seed, workers=True, verbose=False)
    data = load_experiment_data(config)
    model = build_experiment_model(config, data)
    check_datasets(data, model, config.task)
    if rank_zero:  # only now: a missing dataset or a bad model leaves no folder behind
        run.prepare(config, resume=resume, overwrite=overwrite)
    return _fit(config, run, data, model, resume, argv)


#: The config keys behind :func:`fit`'s arguments, for its error messages.
_FIT_ARGUMENTS = {
    "task": "task",
    "seed": "seed",
    "data.batch_size": "batch_size",
    "data.eval_batch_size": "batch_size",
    "optimizer.lr": "lr",
    "optimizer.weight_decay": "weight_decay",
    "trainer.max_epochs": "max_epochs",
    "trainer.progress_bar": "progress_bar",
}


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
    progress_bar: bool = True,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Train any ``model`` on your own datasets with the paper's recipe; return the summary.

    ``train_data`` / ``valid_data`` / ``test_data`` yield ``(image (C, H, W), label)`` for
    classification or ``(input, target (steps, channels, …))`` for dynamics. Everything
    :func:`train` does applies: AdamW with ReduceLROnPlateau, early stopping, best and last
    checkpoints, ``metrics.csv`` and ``summary.json`` in ``run_dir`` (default:
    ``runs/custom/<model class>``), test metrics and the model equivariance error.
    ``progress_bar`` shows a bar on a terminal and one line per epoch otherwise
    (``progress_bar=False``: silent).

    Every argument is checked before anything is written: ``max_epochs``, ``batch_size``
    and ``lr`` must be positive (and finite), the datasets non-empty, and every label one
    of the model's classes (:class:`DataError`); a ``run_dir`` that exists is replaced only
    with ``overwrite`` and only when it is a gmcnn run folder.
    """
    name = type(model).__name__
    raw = {
        "task": task,
        "seed": seed,
        "data": {"name": IN_MEMORY, "batch_size": batch_size, "eval_batch_size": batch_size},
        "model": {"name": name},
        "optimizer": {"lr": lr, "weight_decay": weight_decay},
        "trainer": {"max_epochs": max_epochs, "progress_bar": progress_bar},
    }
    try:
        config = config_from_dict(raw, f"custom/{name}", registered=False)
    except ConfigError as error:  # name fit's argument, not the config key behind it
        message = str(error)
        for key, argument in _FIT_ARGUMENTS.items():
            message = message.replace(f"config key '{key}'", f"fit argument {argument}")
        raise ConfigError(message) from None
    run = RunFolder(Path(run_dir) if run_dir is not None else runs_root() / "custom" / name)
    run.check_available(config, resume=False, overwrite=overwrite)
    keep_freed_memory()
    for split, dataset in (("train", train_data), ("valid", valid_data), ("test", test_data)):
        if dataset is not None and len(dataset) == 0:  # type: ignore[arg-type]
            raise DataError(f"{split}_data is empty: training needs at least one example")
    data = ExperimentData(
        train=train_data,
        valid=valid_data,
        tests={TEST_SPLITS[task][0]: test_data if test_data is not None else valid_data},
        inputs=input_spec(task, train_data),
    )
    check_datasets(data, model, config.task)
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
    from lightning.fabric.utilities.exceptions import MisconfigurationException
    from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint, TQDMProgressBar

    from gmcnn.experiments.budget import budget_summary
    from gmcnn.experiments.callbacks import (
        AtomicCheckpointIO,
        EpochLines,
        EpochTimer,
        mean_epoch_seconds,
    )
    from gmcnn.experiments.tasks import NonFiniteLossError, make_task

    info = describe(config, data, model)
    resume_epoch = int(load_weights(model, run.last).get("epoch", 0)) if resume else None

    checkpoint = ModelCheckpoint(
        dirpath=run.checkpoints,
        filename="best",
        monitor="valid/loss",
        mode="min",
        save_top_k=1,
        enable_version_counter=False,
    )
    # Lightning's save_last writes last.ckpt only on epochs that improve the monitored loss;
    # this one writes it at the end of every epoch (after ``checkpoint``, whose state it holds).
    every_epoch = ModelCheckpoint(
        dirpath=run.checkpoints,
        filename=Path(run.last).stem,
        monitor=None,
        save_top_k=1,
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
    try:
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
            callbacks=[checkpoint, every_epoch, stopper, timer, *display],
            plugins=[AtomicCheckpointIO()],
            enable_progress_bar=interactive,
            enable_model_summary=False,
            log_every_n_steps=config.trainer.log_every_n_steps,
            default_root_dir=run.path,
            num_sanity_val_steps=0,
        )
    except (MisconfigurationException, ValueError, TypeError, RuntimeError) as error:
        raise ConfigError(f"trainer settings: {' '.join(str(error).split())}") from None
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
        "seconds_per_epoch": mean_epoch_seconds(timer.seconds),
        "seconds_per_epoch_excludes_first": len(timer.seconds) > 1,
        "first_epoch_seconds": timer.seconds[0] if timer.seconds else None,
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
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
