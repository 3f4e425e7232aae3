"""Small building blocks of the paper's networks (App. A): equivariant by construction.

Each acts on signals ``(B, C, *positions)`` and commutes with any permutation of the
positions, so it keeps a GM-CNN equivariant.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class SignalLayerNorm(nn.Module):
    """LayerNorm over channels and positions, without learnable parameters (App. A.2).

    ``y = (x - mean) / sqrt(var + eps)`` with mean and variance over all but the batch axis.
    """

    def __init__(self, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        return F.layer_norm(x, x.shape[1:], eps=self.eps)

    def extra_repr(self) -> str:
        return f"eps={self.eps}"


class ChannelProjection(nn.Module):
    """A 1×1 convolution: ``y_o(g) = Σ_i W[o, i] x_i(g) + b_o`` at every position ``g``.

    The residual projection where channel counts differ (App. A.2) and the final convolution
    of the dynamics model (App. A.1). ``in·out + out`` parameters.
    """

    def __init__(self, in_channels: int, out_channels: int, bias: bool = True) -> None:
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, 1))
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """``U(±1/√in_channels)``, as ``torch.nn.Conv1d``."""
        bound = 1.0 / math.sqrt(self.in_channels)
        nn.init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() < 3 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"ChannelProjection got shape {tuple(x.shape)}; expected (batch, "
                f"{self.in_channels}, positions…)"
            )
        flat = x.flatten(2)
        weight = self.weight[:, :, 0].expand(x.shape[0], -1, -1)
        if self.bias is None:
            y = torch.bmm(weight, flat)
        else:  # one batched matmul (faster on CPU than conv1d with a 1-wide kernel)
            y = torch.baddbmm(self.bias[None, :, None], weight, flat)
        return y.reshape(x.shape[0], self.out_channels, *x.shape[2:])

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, bias={self.bias is not None}"


class GlobalMaxPool(nn.Module):
    """Adaptive max pooling over all positions (App. A.2): ``(B, C, …) → (B, C)``, invariant.

    ``max`` rather than ``amax``: its backward scatters to the arg-max only, several times
    faster on CPU.
    """

    def forward(self, x: Tensor) -> Tensor:
        return x.flatten(2).max(dim=2).values
