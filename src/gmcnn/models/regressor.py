"""``GMCNNRegressor``: the paper's dynamics model (App. A.1, Tables 1–2).

A 1×1 projection lifts the input window (10 velocity fields, 20 channels) to the hidden
width; then ``layers`` GMConv layers (128 channels) each followed by its own PReLU and a
residual connection; a final 1×1 convolution maps to the output channels (the next
velocity field). No pooling: the resolution is kept. As in the public code, the first
GMConv reads the raw input and the projection only feeds the residual path, and the
default layer is the public regression layer with per-position output scaling
(``relaxation="output_scaling"``; ``None`` gives the exactly equivariant model).
"""

from __future__ import annotations

from typing import cast

import torch
from torch import Tensor, nn

from gmcnn.groups import FiniteGroup, check_integer
from gmcnn.models.layers import ChannelProjection
from gmcnn.models.regression_tail import conv_prelu_residual
from gmcnn.nn import GMConv
from gmcnn.nn.conv import ChannelMixing, Relaxation, check_group
from gmcnn.nn.relaxation import PositionRule, check_position_rule
from gmcnn.nn.signals import check_input, traceable


class GMCNNRegressor(nn.Module):
    """GM-CNN for next-frame prediction on a grid that is labelled by ``group`` (App. A.1).

    Args:
        group: the group of the grid (plumes ``C₆₄ × C₆₄``; JetFlow ``D₃₁ × C₂₃``).
        in_channels: input channels (20: ten 2-component fields).
        out_channels: output channels (2).
        hidden_channels: width of the GMConv layers (128).
        layers: number of GMConv layers (4).
        radius: kernel ball radius.
        channel_mixing: ``"shared"`` (the paper's layer) or ``"full"``.
        relaxation: ``"output_scaling"`` (default, the public regression layer),
            ``"error_addition"``, ``"low_rank"`` (with ``rank``) or ``None`` (exact).
        rank: displacement rank of the ``"low_rank"`` relaxation.
        error_positions: with ``"error_addition"``: ``"centre"`` (the grid points nearest the
            grid's centre), ``"identity"``, or ``None`` (``"centre"``; see :class:`GMConv`).
        normalize: with ``"output_scaling"``: each layer applies its kernels and position
            scale divided by their L2 norms, as the public regression layer does (see
            :class:`GMConv`); ``False`` (default) applies them as they are.

    With shared mixing (the paper's layer) each GMConv, its PReLU and the residual run as one
    fused step (:func:`gmcnn.models.regression_tail.conv_prelu_residual`).

    Input ``(B, in_channels, n₁, …, n_k)``; output ``(B, out_channels, n₁, …, n_k)``.
    """

    def __init__(
        self,
        group: FiniteGroup,
        in_channels: int,
        out_channels: int,
        hidden_channels: int = 128,
        layers: int = 4,
        radius: int = 1,
        channel_mixing: ChannelMixing = "shared",
        relaxation: Relaxation | None = "output_scaling",
        rank: int = 0,
        error_positions: PositionRule | None = None,
        normalize: bool = False,
    ) -> None:
        super().__init__()
        group = check_group(group)
        check_position_rule(error_positions, relaxation)
        layers = check_integer(layers, "layers", 1)
        in_channels = check_integer(in_channels, "in_channels", 1)
        out_channels = check_integer(out_channels, "out_channels", 1)
        hidden_channels = check_integer(hidden_channels, "hidden_channels", 1)
        self.symmetry_group = group
        self.symmetry_elements = group.labels
        self.lift = ChannelProjection(in_channels, hidden_channels)
        self.convs = nn.ModuleList(
            GMConv(
                group,
                in_channels if index == 0 else hidden_channels,
                hidden_channels,
                radius=radius,
                channel_mixing=channel_mixing,
                rank=rank,
                relaxation=relaxation,
                error_positions=error_positions,
                normalize=normalize,
            )
            for index in range(layers)
        )
        self.acts = nn.ModuleList(nn.PReLU() for _ in range(layers))
        self.head = ChannelProjection(hidden_channels, out_channels)

    @traceable
    def forward(self, x: Tensor) -> Tensor:
        check_input(x, "GMCNNRegressor", self.head.weight.dtype)
        residual = self.lift(x)
        for conv, act in zip(self.convs, self.acts, strict=True):
            x = conv_prelu_residual(x, residual, conv, act)
            residual = x
        return self.head(x)  # type: ignore[no-any-return]

    def relaxation_penalty(self) -> Tensor:
        """``Σ dist_G(M)²`` over the GMConv layers (eq. 13)."""
        convs = cast(list[GMConv], list(self.convs))
        return torch.stack([conv.equivariance_penalty() for conv in convs]).sum()
