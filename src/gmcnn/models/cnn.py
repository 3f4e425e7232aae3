"""``CNNClassifier``: a plain CNN with the GM-CNN's layout, for side-by-side comparisons.

The same blocks as :class:`~gmcnn.models.classifier.GMCNNClassifier` with an ordinary
``k × k`` convolution (zero padding, full channel mixing) in place of GMConv and 2×2 max
pooling in place of GMPool: what the demo compares a GM-CNN against at a similar size.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from gmcnn.groups import check_integer
from gmcnn.models.classifier import _check_counts, check_block_indices
from gmcnn.models.layers import (
    ChannelProjection,
    GlobalMaxPool,
    SignalLayerNorm,
    norm_prelu_residual,
)
from gmcnn.nn.signals import check_input, traceable


class ConvBlock(nn.Module):
    """``x ↦ act(norm(conv(x))) + residual(x)`` with a zero-padded ``k × k`` convolution."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, act: nn.Module):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding="same")
        self.norm = SignalLayerNorm()
        self.act = act
        self.residual: nn.Module = (
            ChannelProjection(in_channels, out_channels)
            if in_channels != out_channels
            else nn.Identity()
        )

    def forward(self, x: Tensor) -> Tensor:
        return norm_prelu_residual(self.conv(x), x, self.norm, self.act, self.residual)


class CNNClassifier(nn.Module):
    """Plain CNN classifier: conv blocks, optional 2×2 max pooling, global max pool, linear.

    Args:
        in_channels, num_classes: input channels and classes.
        channels: output channels of each block.
        kernel_size: odd side of the square kernels.
        pool_after: indices of the blocks followed by 2×2 max pooling.
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        channels: Sequence[int] = (32, 32),
        kernel_size: int = 3,
        pool_after: Sequence[int] = (),
    ) -> None:
        super().__init__()
        widths = _check_counts("channels", channels)
        in_channels = check_integer(in_channels, "in_channels", 1)
        num_classes = check_integer(num_classes, "num_classes", 1)
        if check_integer(kernel_size, "kernel_size", 1) % 2 == 0:
            raise ValueError(f"kernel_size must be an odd positive integer, got {kernel_size!r}")
        pools = check_block_indices(pool_after, len(widths))
        self.in_channels = in_channels
        self.act = nn.PReLU()
        layers: list[nn.Module] = []
        width = in_channels
        for index, out in enumerate(widths):
            layers.append(ConvBlock(width, out, kernel_size, self.act))
            if index in pools:
                layers.append(nn.MaxPool2d(2))
            width = out
        self.body = nn.Sequential(*layers)
        self.head_pool = GlobalMaxPool()
        self.head = nn.Linear(width, num_classes)

    @traceable
    def forward(self, x: Tensor) -> Tensor:
        check_input(x, "CNNClassifier", self.head.weight.dtype)
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"CNNClassifier got an input of shape {tuple(x.shape)}; expected "
                f"(batch, {self.in_channels}, height, width)"
            )
        return self.head(self.head_pool(self.body(x)))  # type: ignore[no-any-return]
