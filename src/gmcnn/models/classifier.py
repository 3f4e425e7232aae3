"""``GMCNNClassifier``: the paper's image classifier (App. A.2, Table 3).

Blocks of ``GMConv → LayerNorm (no affine) → PReLU``, each with a residual connection (a 1×1
projection where the channel count changes), optionally followed by a 2× GMPool; then
adaptive max pooling over the group and one linear layer. One PReLU (a single parameter) is
shared by all blocks, as in the paper's counts. With ``channel_mixing="shared"`` each
output channel has one kernel of ``|B_r|`` weights applied to the sum of its inputs, so
``GM (n=3)`` on ``C₂₈ × C₂₈`` with two 120-channel blocks and 2 classes has exactly
12,483 parameters; ``relaxation="error_addition"`` is Table 3's "E", ``pool_after`` its "P".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import numpy as np
import torch
from torch import Tensor, nn

from gmcnn.groups import FiniteGroup, check_integer
from gmcnn.models.axes import pooled_groups
from gmcnn.models.layers import (
    ChannelProjection,
    GlobalMaxPool,
    SignalLayerNorm,
    has_forward_hooks,
    norm_prelu_residual,
)
from gmcnn.models.pooled_block import Block, pooled_head
from gmcnn.nn import GMConv, GMPool
from gmcnn.nn.conv import ChannelMixing, Relaxation, check_group
from gmcnn.nn.relaxation import PositionRule, check_position_rule
from gmcnn.nn.signals import check_input, traceable


class GMBlock(nn.Module):
    """``x ↦ act(norm(GMConv(x))) + residual(x)``; ``residual`` is a 1×1 projection or identity."""

    def __init__(self, conv: GMConv, norm: nn.Module, act: nn.Module) -> None:
        super().__init__()
        self.conv, self.norm, self.act = conv, norm, act
        self.residual: nn.Module = (
            ChannelProjection(conv.in_channels, conv.out_channels)
            if conv.in_channels != conv.out_channels
            else nn.Identity()
        )

    def forward(self, x: Tensor) -> Tensor:
        return norm_prelu_residual(self.conv(x), x, self.norm, self.act, self.residual)

    @property
    def parts(self) -> Block:
        """The block's modules, ``(conv, norm, act, residual)``."""
        return Block(self.conv, self.norm, self.act, self.residual)


def _check_counts(name: str, values: Sequence[int]) -> list[int]:
    """A non-empty list of positive channel counts (``TypeError`` for non-integers)."""
    if isinstance(values, str | bytes) or not isinstance(values, Sequence):
        raise TypeError(
            f"{name} must be a non-empty list of positive integers, got {values!r} of type "
            f"{type(values).__name__}"
        )
    if not values:
        raise ValueError(f"{name} must be a non-empty list of positive integers, got {values!r}")
    return [check_integer(c, f"each entry of {name}", 1) for c in values]


def check_block_indices(pool_after: Sequence[int], blocks: int) -> set[int]:
    """The block indices of ``pool_after`` (``TypeError`` for non-integers such as ``True``)."""
    if isinstance(pool_after, str | bytes) or not isinstance(pool_after, Sequence):
        raise TypeError(
            f"pool_after must be a list of block indices, got {pool_after!r} of type "
            f"{type(pool_after).__name__}"
        )
    pools = {check_integer(i, "each entry of pool_after") for i in pool_after}
    if any(i >= blocks for i in pools):
        raise ValueError(f"pool_after {list(pool_after)} names blocks outside 0 … {blocks - 1}")
    return pools


class GMCNNClassifier(nn.Module):
    """GM-CNN image classifier (App. A.2).

    Args:
        group: the group of the input signal; for images a direct product ``G₁ × G₂`` with
            ``|G₁| = H``, ``|G₂| = W`` (pixel ``(i, j)`` ↔ element ``(i, j)``).
        in_channels: input channels.
        num_classes: classes.
        channels: output channels of each GMConv block (``(120, 120)``; the pooling variant
            uses ``(44, 44, 56)``).
        radius: kernel ball radius ``n`` (Table 3's ``n``).
        channel_mixing: ``"shared"`` (the paper's layer) or ``"full"``.
        relaxation: ``None`` (exactly equivariant), ``"error_addition"`` (Table 3's E),
            ``"output_scaling"`` or ``"low_rank"`` (with ``rank``); see :class:`GMConv`.
        rank: displacement rank of the ``"low_rank"`` relaxation.
        error_positions: where error addition puts each channel's error term, in every
            block: ``"centre"`` (the pixels nearest the image centre, as the public code),
            ``"identity"``, or ``None`` (``"centre"`` on images; see :class:`GMConv`).
        pool_after: indices of the blocks followed by a GMPool that halves every axis (the
            subgroups ``2C_n`` / ``⟨r², f⟩`` of :mod:`gmcnn.models.axes`; Table 3's P).
        pool_mode: ``"max"`` or ``"mean"``.

    Input ``(B, C, n₁, …, n_k)`` (or ``(B, C, N)``); output logits ``(B, num_classes)``.
    ``symmetry_group`` and ``symmetry_elements`` name the input group and the labels of the
    subgroup that the exact model is invariant to (all of it without pooling).
    """

    def __init__(
        self,
        group: FiniteGroup,
        in_channels: int,
        num_classes: int,
        channels: Sequence[int] = (120, 120),
        radius: int = 3,
        channel_mixing: ChannelMixing = "shared",
        relaxation: Relaxation | None = None,
        rank: int = 0,
        pool_after: Sequence[int] = (),
        pool_mode: str = "max",
        error_positions: PositionRule | None = None,
    ) -> None:
        super().__init__()
        group = check_group(group)
        widths = _check_counts("channels", channels)
        in_channels = check_integer(in_channels, "in_channels", 1)
        num_classes = check_integer(num_classes, "num_classes", 1)
        check_position_rule(error_positions, relaxation)
        if pool_mode not in ("max", "mean"):
            raise ValueError(f"pool_mode must be 'max' or 'mean', got {pool_mode!r}")
        pools = sorted(check_block_indices(pool_after, len(widths)))
        self.symmetry_group = group
        self.act = nn.PReLU()
        self.blocks = nn.ModuleList()
        self.pools = nn.ModuleDict()
        current, elements = group, group.labels
        width = in_channels
        for index, out in enumerate(widths):
            conv = GMConv(
                current,
                width,
                out,
                radius=radius,
                channel_mixing=channel_mixing,
                rank=rank,
                relaxation=relaxation,
                error_positions=error_positions,
            )
            self.blocks.append(GMBlock(conv, SignalLayerNorm(), self.act))
            if index in pools:
                subgroup, current_next = pooled_groups(current)
                self.pools[str(index)] = GMPool(current, subgroup, mode=pool_mode)  # type: ignore[arg-type]
                elements = elements[subgroup.elements]
                current = current_next
            width = out
        self.symmetry_elements = np.sort(elements)
        self.head_pool = GlobalMaxPool()
        self.head = nn.Linear(width, num_classes)

    def features(self, x: Tensor) -> Tensor:
        """The signal after the last block (before global pooling)."""
        for index, block in enumerate(self.blocks):
            x = block(x)
            if str(index) in self.pools:
                x = self.pools[str(index)](x)
        return x

    @traceable
    def forward(self, x: Tensor) -> Tensor:
        check_input(x, "GMCNNClassifier", self.head.weight.dtype)
        blocks = cast(list[GMBlock], list(self.blocks))
        last = len(blocks) - 1
        if str(last) in self.pools or any(map(has_forward_hooks, (blocks[last], self.head_pool))):
            pooled = self.head_pool(self.features(x))  # hooked modules are called, not fused
        else:  # the last blocks and the global max pooling fused (pooled_head)
            fuse_previous = (
                last > 0
                and str(last - 1) not in self.pools
                and not has_forward_hooks(blocks[last - 1])
            )
            head = last - 1 if fuse_previous else last
            for index, block in enumerate(blocks[:head]):
                x = block(x)
                if str(index) in self.pools:
                    x = self.pools[str(index)](x)
            previous = blocks[head].parts if head < last else None
            pooled = pooled_head(previous, blocks[last].parts, x)
        logits: Tensor = self.head(pooled)
        return logits

    def relaxation_penalty(self) -> Tensor:
        """``Σ dist_G(M)²`` over the GMConv layers (eq. 13), zero when exactly equivariant."""
        blocks = cast(list[GMBlock], list(self.blocks))
        terms = [block.conv.equivariance_penalty() for block in blocks]
        return torch.stack(terms).sum()
