"""The loops of the compiled block tail ``PReLU_a(LN(z)) + r`` (App. A.2), for ``torch.compile``.

Plain tensor functions without autograd: :class:`gmcnn.models.layers.CompiledTail`,
:class:`gmcnn.models.layers.CompiledTailMax` and the fused last blocks of
:mod:`gmcnn.models.pooled_block` call them (each compiled once per process for
every dtype and batch size) in their forward and hand-written backward passes, so each pass
over the activations is one vectorised loop and the backward pass needs only ``z``, two
numbers per example and, with a projection, its input (and, after the max pooling, each
channel's arg-max).

``z`` is ``(B, C, N)``; the computing dtype is the slope's (float32 under mixed precision,
where ``z`` is bfloat16); results that are activations are returned in ``z``'s dtype.
``u = (z − μ)·ρ`` with the per-example mean ``μ`` and ``ρ = 1/√(σ² + ε)`` over ``C·N``.
"""

from __future__ import annotations

import torch
from torch import Tensor


def moments(z: Tensor, slope: Tensor, eps: float) -> tuple[Tensor, Tensor]:
    """``(μ, ρ)`` per example, ``(B,)`` each, in one pass over ``z``.

    Sums of ``d = z − z[b, 0, 0]`` and ``d²``: shifting by one of the example's own values
    keeps ``E[d²] − E[d]²`` free of the cancellation that a large mean would cause, and two
    plain sums vectorise where Welford's update does not (LayerNorm's statistics otherwise).
    """
    values = z.to(slope.dtype)
    first = values[:, :1, :1]
    d = values - first
    mean_d = d.mean(dim=(1, 2))
    var = (d.square().mean(dim=(1, 2)) - mean_d * mean_d).clamp_min(0)
    return mean_d + first.reshape(-1), torch.rsqrt(var + eps)


def _normalised(z: Tensor, slope: Tensor, mean: Tensor, rstd: Tensor) -> Tensor:
    return (z.to(slope.dtype) - mean[:, None, None]) * rstd[:, None, None]


def _prelu(u: Tensor, slope: Tensor) -> Tensor:
    return torch.where(u > 0, u, slope * u)


def forward(z: Tensor, slope: Tensor, x: Tensor, mean: Tensor, rstd: Tensor) -> Tensor:
    """``y = PReLU_a(u) + x`` (identity residual), in ``z``'s dtype."""
    return (_prelu(_normalised(z, slope, mean, rstd), slope) + x.to(slope.dtype)).to(z.dtype)


def forward_projection(
    z: Tensor,
    slope: Tensor,
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    mean: Tensor,
    rstd: Tensor,
) -> Tensor:
    """``y = PReLU_a(u) + W x + b`` with ``weight (O, I)``, in ``z``'s dtype."""
    a = _prelu(_normalised(z, slope, mean, rstd), slope)
    if x.shape[1] == 1:  # an outer product: elementwise, in the same loop
        residual = weight.reshape(1, -1, 1) * x.to(weight.dtype)
    else:
        residual = torch.matmul(weight, x.to(weight.dtype))
    if bias is not None:
        residual = residual + bias[:, None]
    return (a + residual).to(z.dtype)


def forward_max(
    z: Tensor, slope: Tensor, x: Tensor, mean: Tensor, rstd: Tensor
) -> tuple[Tensor, Tensor]:
    """``max_g (PReLU_a(u) + x)`` and its arg-max, ``(B, C)`` each; the block output is never
    written out."""
    y = _prelu(_normalised(z, slope, mean, rstd), slope) + x.to(slope.dtype)
    values, indices = y.max(dim=2)
    return values, indices


def backward(
    grad_y: Tensor,
    z: Tensor,
    slope: Tensor,
    mean: Tensor,
    rstd: Tensor,
    spike_grad: Tensor | None = None,
    spike_grad_u: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """``(∂z, ∂a per example)`` for ``∂y``: LayerNorm's backward ``ρ (∂u − E[∂u] − u E[∂u·u])``
    with ``∂u = ∂y · (1 if u > 0 else a)``, and ``Σ ∂y · min(u, 0)`` over each example.

    ``∂y`` may broadcast over channels, ``(B, 1, N)``. ``spike_grad`` and ``spike_grad_u``,
    ``(B,)``, are the sums ``Σ ∂u`` and ``Σ ∂u·u`` of a sparse part of ``∂u`` that the caller
    adds to ``∂z`` itself (``ρ ∂u`` at its positions): they enter the two means.
    """
    u = _normalised(z, slope, mean, rstd)
    g = grad_y.to(slope.dtype)
    factor = torch.where(u > 0, 1.0, slope)  # ∂u = factor·∂y (one select, shared by the sums)
    sum_grad = (factor * g).sum(dim=(1, 2))
    sum_grad_u = (factor * g * u).sum(dim=(1, 2))
    if spike_grad is not None and spike_grad_u is not None:
        sum_grad, sum_grad_u = sum_grad + spike_grad, sum_grad_u + spike_grad_u
    count = z.shape[1] * z.shape[2]
    mean_grad = (sum_grad / count)[:, None, None]
    mean_grad_u = (sum_grad_u / count)[:, None, None]
    grad_slope = (g * u.clamp(max=0)).sum(dim=(1, 2))
    grad_z = rstd[:, None, None] * (factor * g - mean_grad - u * mean_grad_u)
    return grad_z.to(z.dtype), grad_slope


def affine(z: Tensor, offset: Tensor, scale: Tensor) -> Tensor:
    """``offset[b] + scale[b]·z[b]`` in ``z``'s dtype (computed in ``offset``'s)."""
    return (offset[:, None, None] + scale[:, None, None] * z.to(offset.dtype)).to(z.dtype)


def projection_sums(
    grad_y: Tensor, x: Tensor | None, weight: Tensor
) -> tuple[Tensor | None, Tensor]:
    """``(Σ_{b,n} ∂y[b, o, n]·x[b, 0, n], Σ_{b,n} ∂y[b, o, n])``, ``(O,)`` each, in the weight's
    dtype: the gradients of a one-input-channel projection's weight and of its bias (the
    first is ``None`` without ``x``). A reduction over the outer and inner axes that eager
    PyTorch runs on a float32 copy of a bfloat16 ``∂y``."""
    g = grad_y.to(weight.dtype)
    weighted = None if x is None else (g * x.to(weight.dtype)).sum(dim=(0, 2))
    return weighted, g.sum(dim=(0, 2))


def spread(grad_s: Tensor, indices: Tensor, grad: Tensor, dtype: torch.dtype) -> Tensor:
    """``∂x[b, c, n] = ∂s[b, n] + (∂out[b, c] if n = indices[b, c] else 0)``, ``(B, C, N)`` in
    ``dtype``: the gradient of a block input ``x`` that feeds a channel sum ``s`` and, as the
    residual, a max pooling ``out`` with arg-max ``indices`` (one loop, one write)."""
    positions = torch.arange(grad_s.shape[1], device=grad_s.device)
    hit = positions == indices[:, :, None]
    return (grad_s[:, None, :] + torch.where(hit, grad[:, :, None], 0)).to(dtype)
