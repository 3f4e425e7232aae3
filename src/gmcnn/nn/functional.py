"""Functional forms of the GM layers (MATH.md §2–§3, §7; paper eq. 2–5, 18–25).

Signals are tensors ``(batch, channels, N)``: channel ``i`` is a function ``f_i`` on a set of
``N`` labelled points (a group, a subgroup, a coset space or a window). Index arrays are
``int64`` tensors built once by the modules in :mod:`gmcnn.nn` and passed in here, so these
functions do no group theory and run unchanged on any device and under ``torch.compile``.

The fast paths use custom autograd functions (they save less for the backward pass). Those
are Python code that ``torch.jit.trace`` cannot save and ``torch.export`` cannot capture, so
under either (:func:`exporting`) the same computation runs as plain tensor operations, with
autograd's own backward pass. Half-precision inputs (``float16``, ``bfloat16``) run the
Fourier path in ``float32`` (no half-precision FFT on CPU) and return the input's dtype.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from gmcnn.nn.circulant import GridSpec
from gmcnn.nn.fourier import FourierConv, FourierSpec, fourier_conv, kernel_spectrum
from gmcnn.nn.gather import GatherGroupConv, GatherSingleChannelConv

PoolMode = Literal["max", "mean"]

_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}

# Dtypes that the Fourier path computes in float32.
_HALF = (torch.float16, torch.bfloat16)


def exporting() -> bool:
    """Whether the layers should run as plain tensor operations: under ``torch.jit.trace``
    or ``torch.export``, which cannot keep the custom autograd functions of the fast paths."""
    tracing: bool = torch.jit.is_tracing()  # type: ignore[attr-defined,no-untyped-call]
    return tracing or torch.compiler.is_exporting()


class _Relabel(torch.autograd.Function):
    """``x[:, :, index]`` for a permutation ``index`` with inverse ``inverse``; the backward
    pass is the inverse permutation (a gather, not a scatter-add). Indexing gathers several
    times faster than ``index_select`` along the last axis on CPU."""

    @staticmethod
    def forward(x: Tensor, index: Tensor, inverse: Tensor) -> Tensor:
        return x[:, :, index]

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Tensor) -> None:
        ctx.save_for_backward(inputs[2])

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        (inverse,) = ctx.saved_tensors
        return grad[:, :, inverse], None, None


class _ChannelSum(torch.autograd.Function):
    """``x.sum(dim=1, keepdim=True)`` for ``x (B, C, N)`` as one product with a row of ones:
    on CPU a reduction over the middle axis is several times slower than the product, and
    for a half-precision ``x`` the product accumulates in float32 without a float32 copy of
    ``x``. The backward pass is a broadcast view of the gradient (no copy)."""

    @staticmethod
    def forward(x: Tensor) -> Tensor:
        return torch.matmul(x.new_ones(1, x.shape[1]), x)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Tensor) -> None:
        ctx.shape = inputs[0].shape

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        return grad.expand(ctx.shape)


def channel_sum(input: Tensor) -> Tensor:
    """``Σ_i f_i``, ``(B, C, …) → (B, 1, …)``: the input of a shared-mixing layer (eq. 2 with
    one kernel per output channel), in the input's dtype."""
    if exporting():
        return input.sum(dim=1, keepdim=True)
    out: Tensor = _ChannelSum.apply(input.flatten(2))  # type: ignore[no-untyped-call]
    return out.view(input.shape[0], 1, *input.shape[2:])


def relabel(input: Tensor, index: Tensor, inverse: Tensor) -> Tensor:
    """``input[:, :, index]`` for a permutation ``index`` of the last axis (inverse given)."""
    if exporting():
        return input[:, :, index]
    out: Tensor = _Relabel.apply(input, index, inverse)  # type: ignore[no-untyped-call]
    return out


def group_conv(
    input: Tensor, weight: Tensor, source: Tensor, target: Tensor, bias: Tensor | None = None
) -> Tensor:
    """Group convolution for any finite group, ``y_o = Σ_i f_i ∗ ψ_{o,i} + b_o`` (eq. 2–3).

    ``(f ∗ ψ)(g) = Σ_h f(h) ψ(h⁻¹g) = Σ_k ψ(k) f(g·k⁻¹)`` with ``ψ_{o,i}(k_j) = weight[o, i, j]``.

    Args:
        input: ``(B, C, N)``.
        weight: ``(O, C, K)``, the kernels' values on the ``K`` kernel elements.
        source: ``(K, N)`` int64, ``source[j, g] = g·k_j⁻¹``.
        target: ``(K, N)`` int64, ``target[j, h] = h·k_j`` (used by the backward pass).
        bias: ``(O,)`` or ``None``.

    Returns ``(B, O, N)``. Memory: a few activations, never ``K`` copies (see
    :mod:`gmcnn.nn.gather`; one input channel takes the single-channel function).
    """
    plain = exporting()  # the functions' forward passes as plain operations (autograd's backward)
    if input.shape[1] == 1:
        if plain:
            return GatherSingleChannelConv.forward(input, weight, bias, source, target)[0]
        single, _ = GatherSingleChannelConv.apply(  # type: ignore[no-untyped-call]
            input, weight, bias, source, target
        )
        return single  # type: ignore[no-any-return]
    if plain:
        y = GatherGroupConv.forward(input, weight, source, target)
    else:
        y = GatherGroupConv.apply(input, weight, source, target)  # type: ignore[no-untyped-call]
    return y if bias is None else y + bias[:, None]


def circulant_group_conv(
    input: Tensor,
    weight: Tensor,
    taps: Tensor,
    spec: GridSpec,
    layout: Tensor | None = None,
    position: Tensor | None = None,
    bias: Tensor | None = None,
) -> Tensor:
    """The same convolution as :func:`group_conv`, as one circular ``conv1d/2d/3d``.

    For groups with a block-and-grid form (:mod:`gmcnn.nn.circulant`): the input is laid out
    as ``|T|·C`` channels on the cyclic grid (``input[..., layout]``), the kernel is scattered
    into a dense ``(|T|·O) × (|T|·C) × box`` stencil through ``taps`` (value ``K`` = zero), and
    the output is read back with ``position`` (the inverse of ``layout``).

    Args:
        input: ``(B, C, N)``; weight: ``(O, C, K)``; bias: ``(O,)`` or ``None``.
        taps: ``(|T|, |T|, prod(box))`` int64 kernel-element indices.
        spec: the static sizes (blocks, grid shape, stencil box, circular padding).
        layout, position: ``(N,)`` int64 permutations, or ``None`` for the identity.
    """
    batch, channels, size = input.shape
    out_channels = weight.shape[0]
    blocks = spec.blocks
    x = input if layout is None or position is None else relabel(input, layout, position)
    x = x.reshape(batch, channels * blocks, *spec.shape)
    pad = [p for pair in reversed(spec.padding) for p in pair]
    if any(pad):
        x = F.pad(x, pad, mode="circular")
    padded = torch.cat([weight, weight.new_zeros(out_channels, channels, 1)], dim=2)
    stencil = padded[:, :, taps.reshape(-1)].reshape(out_channels, channels, blocks, blocks, -1)
    stencil = stencil.transpose(1, 2).reshape(out_channels * blocks, channels * blocks, *spec.box)
    conv_bias = None if bias is None else bias.repeat_interleave(blocks)
    y = _CONV[len(spec.shape)](x, stencil, conv_bias).reshape(batch, out_channels, size)
    return y if layout is None or position is None else relabel(y, position, layout)


def fourier_group_conv(
    input: Tensor,
    weight: Tensor,
    members: Tensor,
    turns: Tensor,
    spec: FourierSpec,
    layout: Tensor | None = None,
    position: Tensor | None = None,
    bias: Tensor | None = None,
) -> Tensor:
    """The same convolution as :func:`group_conv`, exactly, by the DFT of the cyclic grid.

    For groups with a block-and-grid form: ``(f ∗ ψ)(h, n) = Σ_k ψ(k) f(t(h, k), n − δ(h, k))``
    (eq. 3 in the form of :mod:`gmcnn.nn.circulant`) becomes, at every frequency ``f`` of the
    half spectrum, ``ŷ(f) = x̂(f) ŵ(f)`` with ``ŵ(f)[(t, c), (h, o)] =
    Σ_{k: t(h,k)=t} w[o, c, k] e^{−2πi⟨f, δ(h,k)⟩}`` (:mod:`gmcnn.nn.fourier`): one ``rfftn``,
    complex matrix products over ``|T|·C → |T|·O`` channels, one ``irfftn``.

    Args:
        input: ``(B, C, N)``; weight: ``(O, C, K)``; bias: ``(O,)`` or ``None``.
        members, turns: the kernel elements' classes and their integer phases, see
            :class:`~gmcnn.nn.fourier.FourierPlan`.
        spec: the static sizes (blocks, grid shape, phase period, routes).
        layout, position: ``(N,)`` int64 permutations, or ``None`` for the identity.
    """
    if input.dtype in _HALF:  # no half-precision FFT on CPU: compute in float32
        wide = fourier_group_conv(
            input.float(),
            weight.float(),
            members,
            turns,
            spec,
            layout,
            position,
            None if bias is None else bias.float(),
        )
        return wide.to(input.dtype)
    batch, channels, size = input.shape
    out_channels, blocks = weight.shape[0], spec.blocks
    x = input if layout is None or position is None else relabel(input, layout, position)
    if blocks > 1:  # channels (c, t) -> (t, c): blocks outer
        x = x.view(batch, channels, blocks, size // blocks).transpose(1, 2)
    x = x.reshape(batch, blocks * channels, *spec.shape)
    spectrum = kernel_spectrum(weight, members, turns, spec)
    if exporting():
        y = fourier_conv(x, spectrum, bias, spec)[0]
    else:
        y = FourierConv.apply(x, spectrum, bias, spec)  # type: ignore[no-untyped-call]
    if blocks > 1:  # (h, o) -> (o, h)
        y = y.view(batch, blocks, out_channels, size // blocks).transpose(1, 2)
    y = y.reshape(batch, out_channels, size)
    return y if layout is None or position is None else relabel(y, position, layout)


def group_pool(
    input: Tensor, windows: Tensor, mode: PoolMode = "max", return_indices: bool = False
) -> Tensor | tuple[Tensor, Tensor]:
    """Pooling over a subgroup ``K`` (eq. 5): ``(P_K f)(k) = max_{c ∈ R} f(k·c)`` (or the mean).

    Args:
        input: ``(B, C, N)``, a signal on ``G``.
        windows: ``(|K|, |R|)`` int64, ``windows[k, c]`` = the label of ``k·c`` in ``G``.
        mode: ``"max"`` or ``"mean"``.
        return_indices: also return, for ``"max"``, the ``G``-labels of the maxima
            ``(B, C, |K|)`` (for :func:`group_unpool`).

    Returns ``(B, C, |K|)``, a signal on ``K`` (in ``K``'s own labels).
    """
    gathered = input[:, :, windows]  # (B, C, |K|, |R|)
    if mode == "mean":
        if return_indices:
            raise ValueError("return_indices is only defined for mode='max'")
        return gathered.mean(dim=3)
    values, arg = gathered.max(dim=3)
    if not return_indices:
        return values
    rows = torch.arange(windows.shape[0], device=windows.device)
    return values, windows[rows, arg]


def group_stride(input: Tensor, rows: Tensor) -> Tensor:
    """Stride by a subgroup ``K``: ``y = f|_K`` (MATH.md §3); ``rows`` = ``K``'s ``G``-labels."""
    return input.index_select(2, rows)


def group_unpool(
    input: Tensor, windows: Tensor, mode: PoolMode, indices: Tensor | None = None
) -> Tensor:
    """The transpose of :func:`group_pool`: a signal on ``K`` back to one on ``G``.

    - ``"mean"``: the adjoint of mean pooling, ``y(k·c) = x(k) / |R|``;
    - ``"max"``: ``x(k)`` placed at ``indices`` (the ``G``-labels of the maxima returned by
      ``group_pool(..., return_indices=True)``), zero elsewhere.

    ``input``: ``(B, C, |K|)``; ``windows``: ``(|K|, |R|)`` as in :func:`group_pool`.
    Returns ``(B, C, N)``.
    """
    batch, channels, _ = input.shape
    size = windows.numel()
    out = input.new_zeros(batch, channels, size)
    if mode == "max":
        if indices is None:
            raise ValueError("mode='max' needs the indices returned by group_pool")
        return out.scatter(2, indices, input)
    spread = (input / windows.shape[1]).unsqueeze(3).expand(-1, -1, -1, windows.shape[1])
    return out.index_copy(2, windows.reshape(-1), spread.reshape(batch, channels, size))


def group_stride_transpose(input: Tensor, rows: Tensor, size: int) -> Tensor:
    """The transpose of :func:`group_stride`: ``y = x`` on ``K`` (``rows``), zero elsewhere."""
    batch, channels, _ = input.shape
    return input.new_zeros(batch, channels, size).index_copy(2, rows, input)


def coset_conv(input: Tensor, weight: Tensor, index: Tensor, bias: Tensor | None = None) -> Tensor:
    """Convolution on a homogeneous space ``X = G/K`` (App. D.1, eq. 18–20; MATH.md §7).

    ``y(x_j) = Σ_c Σ_i w[o, i, c] Σ_{k ∈ K} f_i(index[j, c, k])`` with
    ``index[j, c, k]`` = the coset of ``rep_j · k⁻¹ · z_c⁻¹`` (``z_c`` in kernel coset ``c``):
    the lifted signal convolved with the right-``K``-invariant kernel ``ψ̄``, read at one
    representative per coset.

    Args:
        input: ``(B, C, |X|)``; weight: ``(O, C, J)`` (one value per kernel coset);
        index: ``(|X|, J, |K|)`` int64; bias: ``(O,)`` or ``None``.
    """
    batch, channels, points = input.shape
    _, cosets, stabiliser = index.shape
    summed = input[:, :, index.reshape(-1)].reshape(batch, channels, points, cosets, stabiliser)
    y = torch.einsum("bixc,oic->box", summed.sum(dim=4), weight)
    return y if bias is None else y + bias[:, None]


def window_conv(
    input: Tensor,
    weight: Tensor,
    taps: Tensor,
    box: tuple[int, ...],
    padding: tuple[tuple[int, int], ...],
    bias: Tensor | None = None,
) -> Tensor:
    """Convolution on ``Z^d`` of a signal supported on a window ``Ω`` (App. D.2, eq. 23–25).

    ``y(p) = Σ_δ ψ(δ) f(p − δ)`` for ``p ∈ Ω``, with ``f`` extended by zero outside ``Ω``:
    a zero-padded ``conv_nd`` whose stencil is the kernel scattered through ``taps``
    (``(prod(box),)`` int64; value ``K`` = zero).

    Args:
        input: ``(B, C, *window)``; weight: ``(O, C, K)``; bias: ``(O,)`` or ``None``.
        box: the stencil's extent per axis; padding: ``(left, right)`` zeros per axis.
    """
    out_channels, channels, _ = weight.shape
    padded = torch.cat([weight, weight.new_zeros(out_channels, channels, 1)], dim=2)
    stencil = padded[:, :, taps].reshape(out_channels, channels, *box)
    pad = [p for pair in reversed(padding) for p in pair]
    x = F.pad(input, pad) if any(pad) else input
    return _CONV[len(box)](x, stencil, bias)
