"""Lightning plug-ins of a run: atomic checkpoints, a CSV metrics log, epoch timing."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.fabric.loggers.logger import rank_zero_experiment
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning.pytorch.loggers.logger import Logger
from lightning.pytorch.utilities import rank_zero_only

from gmcnn.experiments.files import atomic_write, write_text


class AtomicCheckpointIO(TorchCheckpointIO):
    """``torch.save`` to a temporary file, then rename: no half-written checkpoint, ever."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None
    ) -> None:
        atomic_write(Path(path), lambda tmp: torch.save(checkpoint, tmp))


class CSVMetricsLogger(Logger):
    """Metrics to ``metrics.csv``, one row per epoch, rewritten atomically on each save.

    Everything logged for an epoch (training and validation metrics, learning rate) is
    merged into that epoch's row. Resuming from a checkpoint of epoch ``e`` keeps the rows of
    epochs up to ``e``, so the file matches an uninterrupted run's.
    """

    def __init__(self, path: Path, resume_epoch: int | None = None) -> None:
        super().__init__()
        self.path = path
        self.rows: dict[int, dict[str, Any]] = {}
        if resume_epoch is not None and path.is_file():
            with path.open(encoding="utf-8", newline="") as handle:
                for row in csv.DictReader(handle):
                    epoch = int(float(row["epoch"]))
                    if epoch <= resume_epoch:
                        self.rows[epoch] = {k: v for k, v in row.items() if v != ""}

    @property
    def name(self) -> str:
        return "csv"

    @property
    def version(self) -> int:
        return 0

    @property
    @rank_zero_experiment
    def experiment(self) -> CSVMetricsLogger:
        return self

    @rank_zero_only
    def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
        """Hyper-parameters live in the run's ``config.yaml``; nothing to log here."""

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        values = {k: float(v) if torch.is_tensor(v) else v for k, v in metrics.items()}
        epoch = int(values.pop("epoch", -1))
        row = self.rows.setdefault(epoch, {"epoch": epoch})
        row.update(values, step=step)

    @rank_zero_only
    def save(self) -> None:
        if not self.rows:
            return
        rows = [self.rows[e] for e in sorted(self.rows)]
        columns = list(dict.fromkeys(k for row in rows for k in row))
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        write_text(self.path, buffer.getvalue())

    @rank_zero_only
    def finalize(self, status: str) -> None:
        self.save()


def mean_epoch_seconds(seconds: list[float]) -> float | None:
    """The time per epoch of a run: the mean without the first epoch when more than one ran.

    The first epoch of a process pays for warm-up (allocator, kernel selection, compiled
    block tails), which would otherwise dominate short runs.
    """
    if not seconds:
        return None
    steady = seconds[1:] if len(seconds) > 1 else seconds
    return sum(steady) / len(steady)


class EpochTimer(pl.Callback):
    """Wall-clock seconds of each training epoch (the paper's run-time column)."""

    def __init__(self) -> None:
        self.seconds: list[float] = []
        self._start = 0.0

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._start = time.perf_counter()

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.seconds.append(time.perf_counter() - self._start)


class EpochLines(pl.Callback):
    """One line per epoch on stdout (the progress display when output is not a terminal)."""

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._start = time.perf_counter()

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        metrics = trainer.callback_metrics
        shown = ", ".join(
            f"{key} {float(metrics[key]):.4f}"
            for key in ("train/loss", "valid/loss", "valid/accuracy", "valid/rmse")
            if key in metrics
        )
        print(
            f"epoch {trainer.current_epoch + 1}/{trainer.max_epochs}: {shown} "
            f"({time.perf_counter() - self._start:.1f} s)",
            flush=True,
        )
