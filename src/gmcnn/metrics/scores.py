"""Task scores: classification accuracy (Table 3) and RMSE per rollout step (Tables 1–2)."""

from __future__ import annotations

import torch


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of rows of ``logits`` ``(B, classes)`` whose arg-max equals ``labels``."""
    if logits.ndim != 2 or labels.shape != logits.shape[:1]:
        raise ValueError(
            f"expected logits (B, classes) and labels (B,), got {tuple(logits.shape)} and "
            f"{tuple(labels.shape)}"
        )
    return float((logits.argmax(dim=1) == labels).float().mean())


def rollout_squared_errors(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Sum of squared errors and element count per rollout step.

    ``prediction`` and ``target`` are ``(B, steps, …)``; returns ``(steps, 2)`` holding, per
    step, the sum of squared errors and the number of values, so that batches can be added
    before taking :func:`rollout_rmse`.
    """
    if prediction.shape != target.shape or prediction.ndim < 2:
        raise ValueError(
            f"prediction {tuple(prediction.shape)} and target {tuple(target.shape)} must have "
            "the same shape (B, steps, …)"
        )
    diff = (prediction - target).double().transpose(0, 1).flatten(1)
    count = torch.full((diff.shape[0],), diff.shape[1], dtype=torch.float64, device=diff.device)
    return torch.stack((diff.pow(2).sum(dim=1), count), dim=1)


def rollout_rmse(squared_errors: torch.Tensor) -> torch.Tensor:
    """RMSE per step from :func:`rollout_squared_errors` sums (``(steps, 2)`` → ``(steps,)``)."""
    return (squared_errors[:, 0] / squared_errors[:, 1]).sqrt()
