"""Cost of a model: trainable parameters and forward FLOPs per example (Tables 1–3)."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def parameter_count(model: nn.Module) -> int:
    """Number of trainable parameters (the counts of the paper's tables)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def flops_per_example(model: nn.Module, example: torch.Tensor) -> int:
    """Forward FLOPs of ``model`` on one example ``(C, …)``, by ``torch.utils.flop_counter``.

    Counts the matrix products and convolutions that PyTorch's counter knows (a multiply-add
    is 2 FLOPs); element-wise operations, gathers and normalisations are not counted.
    """
    was_training = model.training
    model.eval()
    counter = FlopCounterMode(display=False)
    try:
        with torch.no_grad(), counter:
            model(example.unsqueeze(0))
    finally:
        model.train(was_training)
    return int(counter.get_total_flops())
