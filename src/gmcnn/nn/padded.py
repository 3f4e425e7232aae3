"""Convolution on ``Z^d`` for signals on a finite window (App. D.2–D.3, eq. 23–27; MATH.md §7).

Inputs are supported on the window ``Ω = [0, n₁) × … × [0, n_d)``, kernels on a finite set
of offsets ``B`` (by default the ball ``B_r = {−r … r}^d`` of the product generating set,
MATH.md §1). The convolution ``(f ∗ ψ)(p) = Σ_{δ ∈ B} ψ(δ) f(p − δ)`` reads ``f`` on
``Ω − B``; ``f`` is extended by zero there and the result is restricted to ``Ω`` (eq. 25):
exactly a zero-padded ``conv_nd``. The restriction is what breaks translation equivariance
(§D.3): in the group-diagonal basis of ``Ω`` only the columns of offsets ``δ`` whose
translate ``Ω − δ`` leaves ``Ω`` — into the padding — carry a displacement, so the
displacement dimension of the layer's matrices is at most the number of such offsets
(eq. 27), itself at most the number of padding elements ``|(Ω − B) \\ Ω|``.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import Tensor, nn

from gmcnn.groups import check_integer
from gmcnn.nn import functional as F
from gmcnn.nn.conv import ChannelMixing, check_channels, check_choice
from gmcnn.nn.kernels import (
    drop_saved_index,
    init_kernel_parameters,
    kernel_parameters,
    load_labels,
    set_index,
)
from gmcnn.nn.signals import check_input, traceable


def chebyshev_ball(radius: int, dims: int) -> npt.NDArray[np.int64]:
    """``{−r … r}^d`` as ``((2r+1)^d, d)`` offsets in lexicographic order."""
    radius = check_integer(radius, "radius")
    axis = range(-radius, radius + 1)
    return np.array(list(itertools.product(axis, repeat=dims)), dtype=np.int64).reshape(-1, dims)


def _check_window(window: object) -> tuple[int, ...]:
    shape = tuple(window) if isinstance(window, tuple | list) else (window,)
    if not 1 <= len(shape) <= 3:
        raise ValueError(
            f"window must be 1 to 3 positive integers (the pixel extent per axis), got {window!r}"
        )
    return tuple(check_integer(n, "each window extent", 1) for n in shape)


def _check_offsets(offsets: npt.ArrayLike, dims: int) -> npt.NDArray[np.int64]:
    arr = np.asarray(offsets)
    if arr.dtype.kind not in "iu" and arr.size:
        raise TypeError(f"offsets must be integers, got dtype {arr.dtype}")
    if arr.ndim != 2 or arr.shape[1] != dims or arr.shape[0] == 0 or arr.dtype.kind not in "iu":
        raise ValueError(
            f"offsets must be a non-empty integer array of shape (K, {dims}), got shape "
            f"{arr.shape} and dtype {arr.dtype}"
        )
    if np.unique(arr, axis=0).shape[0] != arr.shape[0]:
        raise ValueError("offsets must be distinct; got a repeated offset")
    return arr.astype(np.int64)


class PaddedGMConv(nn.Module):
    """Group convolution on ``Z^d`` restricted to a window (eq. 23–25): zero-padded ``conv_nd``.

    ``y_o(p) = Σ_i Σ_k weight[o, i, k] f_i(p − offsets[k]) + b_o`` for ``p ∈ Ω``, ``f``
    zero outside ``Ω``. With the default ball this equals
    ``conv2d(x, flip(weight.view(out, in, 2r+1, 2r+1)), padding=r)``.

    Args:
        in_channels, out_channels, channel_mixing, bias: as :class:`~gmcnn.nn.GMConv`.
        window: ``(n₁, …, n_d)``, ``d <= 3``.
        radius: kernel on ``{−r … r}^d``; or give ``offsets`` ``(K, d)`` explicitly.

    Shape: ``(B, in, n₁, …, n_d)`` → ``(B, out, n₁, …, n_d)``.
    """

    offsets: Tensor
    taps: Tensor
    bias: nn.Parameter | None

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        window: tuple[int, ...] | int,
        radius: int | None = None,
        offsets: npt.ArrayLike | None = None,
        channel_mixing: ChannelMixing = "full",
        bias: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.in_channels = check_channels("in_channels", in_channels)
        self.out_channels = check_channels("out_channels", out_channels)
        check_choice("channel_mixing", channel_mixing, ("full", "shared"))
        self.channel_mixing = channel_mixing
        self.window = _check_window(window)
        dims = len(self.window)
        if (radius is None) == (offsets is None):
            raise ValueError(
                f"give exactly one of radius and offsets (got radius={radius!r}, "
                f"offsets={offsets!r})"
            )
        table = (
            chebyshev_ball(radius, dims)
            if radius is not None
            else _check_offsets(np.asarray(offsets), dims)
        )
        self.kernel_size = int(table.shape[0])
        self.register_buffer("offsets", torch.tensor(table, device=device))
        self._set_stencil(table, device)
        self.weight, self.bias = kernel_parameters(
            self.out_channels,
            self.in_channels,
            self.kernel_size,
            channel_mixing,
            bias,
            device,
            dtype,
        )
        self.reset_parameters()

    def _set_stencil(self, table: npt.NDArray[np.int64], device: torch.device | str | None) -> None:
        """The stencil's box, padding and ``taps`` for the offsets ``table``.

        ``taps`` is derived from the offsets, so it is not saved: loading other offsets
        rebuilds it (:meth:`_load_from_state_dict`).
        """
        lo = np.minimum(table.min(axis=0), 0)
        hi = np.maximum(table.max(axis=0), 0)
        self.box = tuple(int(b) for b in hi - lo + 1)
        self.padding = tuple((int(h), int(-low)) for low, h in zip(lo, hi, strict=True))
        taps = np.full(math.prod(self.box), self.kernel_size, dtype=np.int64)
        taps[np.ravel_multi_index(tuple((hi - table).T), self.box)] = np.arange(self.kernel_size)
        set_index(self, "taps", taps, device)

    def _set_offsets(self, labels: npt.NDArray[Any]) -> None:
        """Compute with the offsets ``labels`` (as many as now; checked)."""
        table = _check_offsets(labels, len(self.window))
        self._set_stencil(table, self.offsets.device)
        with torch.no_grad():
            self.offsets.copy_(torch.from_numpy(table))

    def _load_from_state_dict(
        self,
        state_dict: dict[str, Any],
        prefix: str,
        local_metadata: dict[str, Any],
        strict: bool,
        missing_keys: list[str],
        unexpected_keys: list[str],
        error_msgs: list[str],
    ) -> None:
        # The offsets are saved, the stencil derived from them is rebuilt (older checkpoints
        # that hold ``taps`` still load).
        drop_saved_index(state_dict, prefix, "taps")
        load_labels(self, "offsets", state_dict, prefix, error_msgs, self._set_offsets)
        super()._load_from_state_dict(
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
        )

    def reset_parameters(self) -> None:
        """``U(±1/√fan_in)``, ``fan_in = in_channels · K``."""
        init_kernel_parameters(self.weight, self.bias, self.in_channels * self.kernel_size)

    @traceable
    def forward(self, input: Tensor) -> Tensor:
        check_input(input, "PaddedGMConv", self.weight.dtype)
        if input.dim() != 2 + len(self.window) or tuple(input.shape[1:]) != (
            self.in_channels,
            *self.window,
        ):
            raise ValueError(
                f"PaddedGMConv got an input of shape {tuple(input.shape)}; expected "
                f"(batch, {self.in_channels}, {', '.join(map(str, self.window))})"
            )
        x = F.channel_sum(input) if self.channel_mixing == "shared" else input
        return F.window_conv(x, self.weight, self.taps, self.box, self.padding, self.bias)

    def _reads(self) -> npt.NDArray[np.bool_]:
        """``reads[k, q]`` on the padded window: whether ``q = p − δ_k`` for some ``p ∈ Ω``."""
        extent = tuple(n + sum(p) for n, p in zip(self.window, self.padding, strict=True))
        reads = np.zeros((self.kernel_size, *extent), dtype=bool)
        for k, delta in enumerate(self.offsets.cpu().numpy()):
            start = np.array([p[0] for p in self.padding]) - delta
            region = [slice(int(s), int(s) + n) for s, n in zip(start, self.window, strict=True)]
            reads[(slice(k, k + 1), *region)] = True
        return reads

    def _inner(self) -> tuple[slice, ...]:
        """``Ω`` inside the padded window."""
        return tuple(slice(p[0], p[0] + n) for p, n in zip(self.padding, self.window, strict=True))

    def padding_count(self) -> int:
        """``|(Ω − B) \\ Ω|``: the zero-padding elements the convolution reads (§D.3)."""
        reads = np.asarray(self._reads().any(axis=0))
        reads[self._inner()] = False
        return int(reads.sum())

    def displacement_dimension_bound(self) -> int:
        """Eq. 27: the number of offsets ``δ`` with ``Ω − δ ⊄ Ω`` (reaching into the padding).

        Only their columns of the group-diagonal basis carry a displacement, so this bounds
        the displacement dimension of ``{M_ψ}`` and every ``DR(M_ψ)``; it is at most
        :meth:`padding_count`.
        """
        reads = self._reads()
        inside = reads[(slice(None), *self._inner())].reshape(self.kernel_size, -1).sum(axis=1)
        return int(np.count_nonzero(inside < math.prod(self.window)))

    def dense_matrix(self) -> Tensor:
        """The ``(out·|Ω|) × (in·|Ω|)`` matrix of the layer (bias excluded; small windows).

        Rows ``o·|Ω| + p``, columns ``i·|Ω| + q`` with ``p, q`` row-major in ``Ω``.
        """
        size = math.prod(self.window)
        if size > 4096:
            raise ValueError(
                f"dense_matrix() is built for windows of at most 4096 cells, got {size}"
            )
        eye = torch.eye(size, dtype=self.weight.dtype, device=self.weight.device)
        basis = eye.reshape(size, 1, *self.window)
        weight = self.weight.expand(self.out_channels, self.in_channels, self.kernel_size)
        blocks = [
            F.window_conv(basis, weight[:, i : i + 1], self.taps, self.box, self.padding)
            for i in range(self.in_channels)
        ]  # blocks[i][q, o, p] = M[(o, p), (i, q)]
        stacked = torch.stack(blocks).reshape(self.in_channels, size, self.out_channels, size)
        return stacked.permute(2, 3, 0, 1).reshape(
            self.out_channels * size, self.in_channels * size
        )

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, window={self.window}, "
            f"kernel_size={self.kernel_size}, channel_mixing={self.channel_mixing!r}, "
            f"bias={self.bias is not None}"
        )
