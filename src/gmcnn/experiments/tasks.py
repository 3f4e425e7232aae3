"""Lightning modules for the paper's two tasks (App. A): classification and dynamics rollout.

Both optimise with AdamW and reduce the learning rate on a plateau of the validation loss.
The plateau scheduler is stepped here, at the end of each validation epoch, so that its
state in a checkpoint is the state after that epoch: a run resumed from the checkpoint then
follows exactly the schedule of an uninterrupted run.
"""

from __future__ import annotations

import abc
from typing import Any

import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gmcnn.experiments.config import ExperimentConfig
from gmcnn.experiments.errors import NonFiniteLossError as NonFiniteLossError  # re-exported


def relaxation_penalty(model: nn.Module) -> Tensor | None:
    """The model's soft-equivariance penalty, or ``None`` when it has none.

    ``model.relaxation_penalty()`` where the model defines it (the relaxed baselines RGroup,
    RSteer and RPP, and the GM-CNN models); otherwise the sum of ``equivariance_penalty()``
    (eq. 13) over its relaxed GMConv layers, if it has any.
    """
    method = getattr(model, "relaxation_penalty", None)
    if callable(method):
        return method()  # type: ignore[no-any-return]
    terms: list[Tensor] = [
        getattr(m, "equivariance_penalty")()  # noqa: B009  (nn.Module's __getattr__ is Tensor-typed)
        for m in model.modules()
        if m is not model and callable(getattr(m, "equivariance_penalty", None))
    ]
    return torch.stack(terms).sum() if terms else None


def rollout(model: nn.Module, inputs: Tensor, steps: int) -> Tensor:
    """Autoregressive prediction (§4.1): ``(B, 2·frames, H, W)`` → ``(B, steps, 2, H, W)``.

    Each prediction replaces the oldest frame of the input window for the next step.
    """
    predictions = []
    window = inputs
    for _ in range(steps):
        frame = model(window)
        predictions.append(frame)
        window = torch.cat([window[:, frame.shape[1] :], frame], dim=1)
    return torch.stack(predictions, dim=1)


class ExperimentTask(pl.LightningModule, abc.ABC):
    """The training logic shared by both tasks; subclasses define the loss and metrics."""

    def __init__(self, model: nn.Module, config: ExperimentConfig) -> None:
        super().__init__()
        self.model = model
        self.config = config
        self._scheduler: torch.optim.lr_scheduler.ReduceLROnPlateau | None = None
        self._scheduler_state: dict[str, Any] | None = None

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)  # type: ignore[no-any-return]

    @abc.abstractmethod
    def loss(self, batch: tuple[Tensor, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        """The loss and named metrics of one batch."""

    def training_loss(self, batch: tuple[Tensor, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        """The task loss plus ``optimizer.relaxation_weight`` times the relaxation penalty.

        Validation and early stopping use the task loss alone.
        """
        loss, metrics = self.loss(batch)
        weight = self.config.optimizer.relaxation_weight
        if weight > 0:
            penalty = relaxation_penalty(self.model)
            if penalty is not None:
                loss = loss + weight * penalty
                metrics = {**metrics, "relaxation_penalty": penalty.detach()}
        return loss, metrics

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        loss, metrics = self.training_loss(batch)
        finite = bool(torch.isfinite(loss.detach()))
        if not self.trainer.strategy.reduce_boolean_decision(finite, all=True):
            raise NonFiniteLossError(
                f"training loss is {loss.item()} at epoch {self.current_epoch}, batch "
                f"{batch_idx}; stopped, the checkpoints of the last completed epoch are kept"
            )
        size = batch[0].shape[0]
        self.log("train/loss", loss, on_step=False, on_epoch=True, prog_bar=True, batch_size=size)
        for name, value in metrics.items():
            self.log(f"train/{name}", value, on_step=False, on_epoch=True, batch_size=size)
        return loss

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        loss, metrics = self.loss(batch)
        size = batch[0].shape[0]
        self.log("valid/loss", loss, prog_bar=True, sync_dist=True, batch_size=size)
        for name, value in metrics.items():
            self.log(f"valid/{name}", value, prog_bar=True, sync_dist=True, batch_size=size)

    def on_validation_epoch_end(self) -> None:
        if self.trainer.sanity_checking or self._scheduler is None:
            return
        monitored = self.trainer.callback_metrics.get("valid/loss")
        if monitored is not None:
            self._scheduler.step(float(monitored))
        self.log("lr", self._scheduler.get_last_lr()[0], sync_dist=False)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        optimizer = torch.optim.AdamW(
            self.parameters(),
            lr=self.config.optimizer.lr,
            weight_decay=self.config.optimizer.weight_decay,
        )
        self._scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer,
            mode="min",
            factor=self.config.scheduler.factor,
            patience=self.config.scheduler.patience,
            min_lr=self.config.scheduler.min_lr,
        )
        if self._scheduler_state is not None:
            self._scheduler.load_state_dict(self._scheduler_state)
        return optimizer

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["gmcnn"] = {
            "experiment": self.config.name,
            "config": self.config.to_dict(),
            "plateau_scheduler": None if self._scheduler is None else self._scheduler.state_dict(),
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self._scheduler_state = checkpoint.get("gmcnn", {}).get("plateau_scheduler")


class ClassificationTask(ExperimentTask):
    """Cross-entropy on class logits (App. A.2); reports accuracy."""

    def loss(self, batch: tuple[Tensor, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        images, labels = batch
        logits = self.model(images)
        classes = logits.shape[1]
        if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= classes):
            bad = int(labels.max()) if int(labels.max()) >= classes else int(labels.min())
            raise ValueError(
                f"label {bad} is outside the model's {classes} classes 0 … {classes - 1}"
            )
        loss = F.cross_entropy(logits, labels)
        accuracy = (logits.argmax(dim=1) == labels).float().mean()
        return loss, {"accuracy": accuracy}


class DynamicsTask(ExperimentTask):
    """Mean squared error of the autoregressive rollout over the target frames (App. A.1)."""

    def loss(self, batch: tuple[Tensor, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        inputs, target = batch
        prediction = rollout(self.model, inputs, target.shape[1])
        mse = F.mse_loss(prediction, target)
        return mse, {"rmse": mse.detach().sqrt()}


def make_task(model: nn.Module, config: ExperimentConfig) -> ExperimentTask:
    """The Lightning module of ``config.task`` around ``model``."""
    cls = ClassificationTask if config.task == "classification" else DynamicsTask
    return cls(model, config)
