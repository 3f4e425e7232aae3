"""Group convolution by the discrete Fourier transform of the cyclic grid (MATH.md §2).

The group convolution ``(f ∗ ψ)(g) = Σ_k ψ(k) f(g·k⁻¹)`` (eq. 2–3) on a group with a
block-and-grid form (:mod:`gmcnn.nn.circulant`; products by eq. 6) is

    y_{h,o}(p) = Σ_k Σ_c w[o, c, k] · x_{t(h,k), c}(p − δ(h, k)),

a circular convolution on the grid ``Z_{n₁} × … × Z_{n_d}`` from ``|T|`` input blocks to
``|T|`` output blocks. The DFT ``x̂(f) = Σ_p x(p) e^{−2πi⟨f, p⟩}``, with
``⟨f, p⟩ = Σ_a f_a p_a / n_a``, turns each shift into a phase,
``x(· − δ) ↦ e^{−2πi⟨f, δ⟩} x̂(f)``, so at every frequency ``f`` the layer is one matrix
product over the ``|T|·C`` input and ``|T|·O`` output channels (the convolution theorem):

    ŷ_{h,o}(f) = Σ_{t,c} x̂_{t,c}(f) · ŵ(f)[(t, c), (h, o)],
    ŵ(f)[(t, c), (h, o)] = Σ_{k : t(h,k) = t} w[o, c, k] · e^{−2πi⟨f, δ(h,k)⟩}.

Real signals need only the half spectrum (``rfftn``: the last axis to ``n_d//2 + 1``), so a
layer costs ``F = n₁⋯n_{d−1}·(n_d//2 + 1) ≈ |grid|/2`` complex ``(|T|·C) × (|T|·O)`` products
per batch element — independent of the kernel's size — plus the transforms, instead of the
direct convolution's ``|grid| · |stencil|`` real ones. The result is exact (to rounding): no
kernel is truncated or padded. This module builds the integer phases ``⟨f, δ⟩``, the autograd
function, and the cost estimates by which :class:`~gmcnn.nn.GMConv` chooses a path.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from gmcnn.groups import FiniteGroup, Labels
from gmcnn.nn.circulant import GridForm, kernel_shifts

# Relative costs per output value and batch element, in multiply-adds of a direct
# convolution (measured on the CPU of docs/performance.md, forward + backward, batch 64):
# a complex multiply-add in a batched product over frequencies costs this many real ones,
FOURIER_PRODUCT_COST = 6.0
# each input or output channel costs this much times log₂|grid| for the transforms and the
# transposes between the batch-major and frequency-major layouts,
FOURIER_TRANSFORM_COST = 22.5
# and a gathered kernel element costs this much more than a stencil tap of the direct
# convolution (index gathers and scatter-adds; docs/performance.md).
GATHER_COST = 8.0


@dataclass(frozen=True)
class FourierSpec:
    """Static sizes of a block-circular convolution by DFT (hashable: a torch.compile constant).

    ``blocks``: ``|T|``; ``shape``: the cyclic grid; ``period``: ``L = lcm(shape)``, the
    denominator of the phases ``⟨f, δ⟩ = m / L``; ``routes[g][h]``: the input block
    ``t(h, k)`` that the kernel elements of class ``g`` read for output block ``h``.
    """

    blocks: int
    shape: tuple[int, ...]
    period: int
    routes: tuple[tuple[int, ...], ...]

    @property
    def spectrum(self) -> tuple[int, ...]:
        """The half spectrum's shape, ``(n₁, …, n_{d−1}, n_d//2 + 1)`` (``rfftn``)."""
        return (*self.shape[:-1], self.shape[-1] // 2 + 1)

    @property
    def frequencies(self) -> int:
        """``F``, the number of frequencies in the half spectrum."""
        return math.prod(self.spectrum)


@dataclass(frozen=True)
class FourierPlan:
    """Everything the Fourier path needs, built once per layer.

    The kernel elements fall into *classes* ``g`` of equal routing ``h ↦ t(h, k)``
    (``spec.routes``; one class for a cyclic product, one per coset type for dihedral and
    semidirect ones). ``members[g]`` lists a class's kernel elements, padded with ``K`` (a
    zero weight) to the largest class; ``turns[g, h, f, j] = m`` with
    ``⟨f, δ(h, members[g, j])⟩ = m / L``, ``-1`` at the padding. ``layout`` and ``position``
    as in :class:`~gmcnn.nn.circulant.CirculantPlan`.
    """

    spec: FourierSpec
    members: Labels  # (classes, width)
    turns: Labels  # (classes, blocks, F, width)
    layout: Labels | None  # (N,): flat grid index -> label
    position: Labels | None  # (N,): label -> flat grid index


def plan_fourier(group: FiniteGroup, form: GridForm, kernel_elements: Labels) -> FourierPlan:
    """The classes of kernel elements and their phases ``⟨f, δ(h, k)⟩``, as integers."""
    block, offset = kernel_shifts(group, form, kernel_elements)  # (T, K), (axes, T, K)
    shape = form.shape
    period = math.lcm(*shape)
    grids = np.meshgrid(*(np.arange(n) for n in (*shape[:-1], shape[-1] // 2 + 1)), indexing="ij")
    scale = np.array([period // n for n in shape])
    frequency = np.stack([g.ravel() for g in grids], axis=1) * scale  # (F, axes), times L/n_a
    routes, label = np.unique(block.T, axis=0, return_inverse=True)  # (classes, T), (K,)
    label = label.ravel()
    K = kernel_elements.size
    width = int(np.bincount(label).max())
    members = np.full((len(routes), width), K, dtype=np.int64)
    padded = np.full((len(routes), form.blocks, frequency.shape[0], width), -1, dtype=np.int64)
    for g in range(len(routes)):  # one class at a time: no (F, T, K) temporary
        ks = np.flatnonzero(label == g)
        members[g, : ks.size] = ks
        turns = np.remainder(np.tensordot(frequency, offset[:, :, ks], axes=1), period)
        padded[g, :, :, : ks.size] = turns.transpose(1, 0, 2)  # (T, F, |class|)
    spec = FourierSpec(
        blocks=form.blocks,
        shape=shape,
        period=period,
        routes=tuple(tuple(int(t) for t in r) for r in routes),
    )
    return FourierPlan(
        spec=spec,
        members=members,
        turns=padded,
        layout=None if form.identity else form.layout.ravel(),
        position=None if form.identity else form.position,
    )


def fourier_cost(spec: FourierSpec, in_channels: int, out_channels: int) -> float:
    """Estimated cost of the Fourier path per output value (see the constants above)."""
    cells = math.prod(spec.shape)
    product = FOURIER_PRODUCT_COST * spec.blocks * spec.frequencies / cells
    transforms = FOURIER_TRANSFORM_COST * (in_channels + out_channels) * math.log2(max(cells, 2))
    return product * in_channels * out_channels + transforms


def stencil_cost(taps: int, in_channels: int, out_channels: int) -> float:
    """Cost of the direct convolution per output value: ``taps`` = ``|T|·prod(box)``."""
    return float(taps * in_channels * out_channels)


def gather_cost(kernel_size: int, in_channels: int, out_channels: int) -> float:
    """Cost of the gather path per output value (``GATHER_COST`` per kernel element)."""
    return GATHER_COST * kernel_size * in_channels * out_channels


def kernel_spectrum(weight: Tensor, members: Tensor, turns: Tensor, spec: FourierSpec) -> Tensor:
    """The kernel's spectrum by class, ``(classes, |T|, F, C, O)`` complex.

    ``û[g, h, f, c, o] = Σ_{k ∈ g} w[o, c, k] · e^{−2πi⟨f, δ(h, k)⟩}``, so that
    ``ŵ(f)[(t, c), (h, o)] = Σ_{g : routes[g][h] = t} û[g, h, f, c, o]`` (module doc): one
    batched complex product ``(classes, |T|·F, width) @ (classes, width, C·O)``, each
    kernel element used once. The phases are computed here, in the weight's precision, from
    the exact integers ``turns``.
    """
    out_channels, channels, _ = weight.shape
    classes, blocks, frequencies, width = turns.shape
    angle = turns.to(weight.dtype) * (2 * math.pi / spec.period)
    phase = torch.polar(turns.ge(0).to(weight.dtype), -angle)
    padded = torch.cat([weight, weight.new_zeros(out_channels, channels, 1)], dim=2)
    mixed = padded[:, :, members].permute(2, 3, 1, 0).reshape(classes, width, -1)
    spectrum = torch.bmm(phase.view(classes, -1, width), mixed.to(phase.dtype))
    return spectrum.view(classes, blocks, frequencies, channels, out_channels)


def _mix(X: Tensor, spectrum: Tensor, routes: tuple[tuple[int, ...], ...]) -> Tensor:
    """``Y[f, b, h] = Σ_g X[f, b, routes[g][h]] @ spectrum[g, h, f]``, ``(F, B, |T|, O)``.

    ``X``: ``(F, B, |T|·C)`` (blocks outer); ``spectrum``: ``(classes, |T|, F, C, O)``. One
    batched matrix product per class and output block, over all frequencies at once.
    """
    classes, blocks, _, channels, _ = spectrum.shape
    out = []
    for h in range(blocks):
        acc: Tensor | None = None
        for g in range(classes):
            t = routes[g][h]
            x = X[:, :, t * channels : (t + 1) * channels]
            acc = torch.bmm(x, spectrum[g, h]) if acc is None else acc.baddbmm_(x, spectrum[g, h])
        assert acc is not None
        out.append(acc)
    return out[0].unsqueeze(2) if blocks == 1 else torch.stack(out, dim=2)


def _mix_adjoint(G: Tensor, spectrum: Tensor, routes: tuple[tuple[int, ...], ...]) -> Tensor:
    """``Σ_{(g, h) : routes[g][h] = t} G[f, b, h] @ spectrum[g, h, f]ᴴ``, ``(F, B, |T|·C)``.

    ``G``: ``(F, B, |T|·O)``. Computed as ``conj(Σ conj(G) @ spectrumᵀ)`` when the
    activations are smaller than the spectrum, so that only the smaller side is conjugated.
    """
    frequencies, batch, _ = G.shape
    classes, blocks, _, channels, out_channels = spectrum.shape
    flip = G.numel() < spectrum.numel()
    left = G.conj().resolve_conj() if flip else G
    right = spectrum if flip else spectrum.conj().resolve_conj()
    acc: list[Tensor | None] = [None] * blocks
    for g in range(classes):
        for h in range(blocks):
            t = routes[g][h]
            y = left[:, :, h * out_channels : (h + 1) * out_channels]
            w = right[g, h].transpose(1, 2)
            prev = acc[t]
            acc[t] = torch.bmm(y, w) if prev is None else prev.baddbmm_(y, w)
    parts = [a if a is not None else G.new_zeros(frequencies, batch, channels) for a in acc]
    out = parts[0] if blocks == 1 else torch.cat(parts, dim=2)
    return out.conj() if flip else out


def _frequency_major(spectra: Tensor, frequencies: int) -> Tensor:
    """``(B, M, *spectrum)`` → ``(F, B, M)``: one 2-D transpose (a blocked copy)."""
    batch, channels = spectra.shape[:2]
    flat = spectra.reshape(batch * channels, frequencies)
    return flat.t().contiguous().view(frequencies, batch, channels)


def _batch_major(products: Tensor, spectrum: tuple[int, ...]) -> Tensor:
    """``(F, B, M)`` → ``(B, M, *spectrum)``, the inverse of :func:`_frequency_major`."""
    frequencies, batch, channels = products.shape
    flat = products.view(frequencies, batch * channels)
    return flat.t().contiguous().view(batch, channels, *spectrum)


def _half_spectrum_weights(spec: FourierSpec, device: torch.device, dtype: torch.dtype) -> Tensor:
    """``c(f) / |grid|`` for ``f`` in the half spectrum, flat ``(F,)``: ``c = 2`` where the
    last axis's frequency stands for itself and its negative, ``1`` at ``0`` and ``n_d/2``."""
    last = spec.shape[-1]
    c = torch.full((last // 2 + 1,), 2.0, device=device, dtype=dtype)
    c[0] = 1.0
    if last % 2 == 0:
        c[-1] = 1.0
    rows = spec.frequencies // c.numel()
    return (c / math.prod(spec.shape)).repeat(rows)


def fourier_conv(
    x: Tensor, spectrum: Tensor, bias: Tensor | None, spec: FourierSpec
) -> tuple[Tensor, Tensor]:
    """``irfftn(x̂ ŵ + b·|grid|·δ_{f=0})`` as plain tensor operations, and ``x̂`` (``(F, B, |T|·C)``).

    The forward pass of :class:`FourierConv`; called directly (autograd through it) where a
    custom autograd function cannot go (``torch.jit.trace``, ``torch.export``). An empty
    batch gives an empty output (the FFT libraries refuse empty transforms).
    """
    batch = x.shape[0]
    out_channels = spectrum.shape[1] * spectrum.shape[4]  # |T|·O
    if batch == 0:
        empty = x.new_zeros(spec.frequencies, 0, x.shape[1], dtype=spectrum.dtype)
        return x.new_zeros(0, out_channels, *spec.shape), empty
    dims = tuple(range(2, x.dim()))
    X = _frequency_major(torch.fft.rfftn(x, dim=dims), spec.frequencies)  # (F, B, T·C)
    Y = _mix(X, spectrum, spec.routes)  # (F, B, T, O)
    if bias is not None:
        Y[0].add_(bias * math.prod(spec.shape))
    Y = Y.view(spec.frequencies, batch, -1)
    y: Tensor = torch.fft.irfftn(_batch_major(Y, spec.spectrum), s=spec.shape, dim=dims)
    return y, X


class FourierConv(torch.autograd.Function):
    """``y = irfftn(x̂ ŵ + b·|grid|·δ_{f=0})`` with ``x̂ = rfftn(x)`` (module doc), exact.

    ``x``: ``(B, |T|·C, *grid)`` (blocks outer); ``spectrum``: :func:`kernel_spectrum`;
    returns ``(B, |T|·O, *grid)``. Forward: ``rfftn`` over the grid, a transpose to
    frequencies first, the per-frequency products :func:`_mix`, the bias on the zero
    frequency, a transpose back and ``irfftn``. Backward, with ``ĝ = rfftn(g)`` and ``c(f)``
    of :func:`_half_spectrum_weights` (the adjoint of ``irfftn`` on the half spectrum):

    - input: ``irfftn(ĝ ŵᴴ)`` (the ``c(f)`` of ``irfftn``'s adjoint and of ``rfftn``'s cancel),
    - spectrum: ``x̂ᴴ (ĝ · c(f) / |grid|)`` per class and block (the conjugate-Wirtinger
      gradient),
    - bias: ``Σ_{b, n} g``.

    It saves ``x̂`` (one activation's worth) and computes no full-spectrum transform, which
    autograd through ``rfftn`` would.
    """

    @staticmethod
    def forward(
        ctx: Any, x: Tensor, spectrum: Tensor, bias: Tensor | None, spec: FourierSpec
    ) -> Tensor:
        y, X = fourier_conv(x, spectrum, bias, spec)
        ctx.save_for_backward(X, spectrum)
        ctx.spec = spec
        ctx.has_bias = bias is not None
        return y

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        X, spectrum = ctx.saved_tensors
        spec: FourierSpec = ctx.spec
        if grad.shape[0] == 0:  # an empty batch: no FFT (the libraries refuse empty ones)
            empty_x = grad.new_zeros(0, X.shape[2], *spec.shape)
            zero_bias = grad.new_zeros(spectrum.shape[4]) if ctx.has_bias else None
            return empty_x, torch.zeros_like(spectrum), zero_bias, None
        dims = tuple(range(2, grad.dim()))
        G = _frequency_major(torch.fft.rfftn(grad, dim=dims), spec.frequencies)  # (F, B, T·O)
        grad_x = grad_spectrum = grad_bias = None
        if ctx.needs_input_grad[0]:
            spectra = _batch_major(_mix_adjoint(G, spectrum, spec.routes), spec.spectrum)
            grad_x = torch.fft.irfftn(spectra, s=spec.shape, dim=dims)
        if ctx.needs_input_grad[1]:
            channels, out_channels = spectrum.shape[3:]
            weights = _half_spectrum_weights(spec, grad.device, grad.dtype)
            Xc = X.conj() * weights[:, None, None]
            grad_spectrum = torch.empty_like(spectrum)  # (classes, T, F, C, O)
            for g, route in enumerate(spec.routes):
                for h, t in enumerate(route):
                    left = Xc[:, :, t * channels : (t + 1) * channels].transpose(1, 2)
                    right = G[:, :, h * out_channels : (h + 1) * out_channels]
                    torch.bmm(left, right, out=grad_spectrum[g, h])
        if ctx.has_bias and ctx.needs_input_grad[2]:
            batch, channels = grad.shape[:2]
            grad_bias = grad.reshape(batch, spec.blocks, channels // spec.blocks, -1).sum(
                dim=(0, 1, 3)
            )
        return grad_x, grad_spectrum, grad_bias, None
