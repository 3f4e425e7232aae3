"""The last block of a shared-mixing GM-CNN and the head's max pooling as one function (App. A.2).

``out[b, o] = max_g (PReLU_a(LN(z_b)) + x_b)[o, g]`` where ``z_b = W T_b + β 1ᵀ`` is the
shared-mixing GMConv of the block input ``x_b`` (eq. 2–3 with one kernel per output channel):
``T_b[k, g] = s_b[g·k⁻¹]`` gathers the channel sum ``s_b = Σ_c x_b[c]`` over the ``K`` kernel
elements, ``W`` is ``(O, K)``, ``β`` the bias, and the residual is the identity (``C = O``).

Its backward pass uses the max pooling's sparsity. The gradient reaches ``B·O`` positions,
so LayerNorm's backward makes ``∂z_b`` an affine function of ``z_b`` plus ``O`` spikes
(:class:`gmcnn.models.layers.CompiledTailMax`), ``∂z_b = Σ_o σ_{bo} e_o δ_{i_{bo}}ᵀ + α_b 1 1ᵀ
+ γ_b (z_b − μ_b)``, and ``z_b`` is itself a product. The gradients
``∂W = Σ_b ∂z_b T_bᵀ`` and ``∂s_b = tap-transpose(Wᵀ ∂z_b)`` then need ``Σ_b γ_b T_b T_bᵀ`` and
``(WᵀW) T_b``, products with ``K`` rows where the plain backward pass multiplies by the
``O``-row ``∂z_b``, and ``∂z_b`` is never written out. The spikes are ``B·O·K`` gathered and
scattered values. This is cheaper where ``K < O`` (Table 3's ``K = 49``, ``O = 120`` on
Rectangles), which :func:`pooled_head` requires.

The block input's gradient is ``∂s_b`` on every channel plus ``B·O`` spikes (the residual's
share of the pooling's gradient). :class:`TailSharedConvTailMax` also takes the previous
block's tail, so that this gradient reaches it in that form: its LayerNorm backward reads a
``(B, 1, N)`` gradient and adds the spikes at their positions, and its projection's
gradients are sums over ``(B, N)`` values, where a separate tail would read and write
activation-sized gradients.

Under bfloat16 autocast the products (``T_b T_bᵀ`` included) run in bfloat16 with float32
accumulation, as the plain backward pass's do. The parameter gradients are as close to
float64 as the plain path's, measured on an initialised and a trained Table 3 model and on
one whose channel sum has a mean 50 times its spread (``T_b T_bᵀ`` is then dominated by the
mean, which its rounding errors did not reach the gradient through).
"""

from __future__ import annotations

from typing import Any, NamedTuple, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

from gmcnn.models import layers, tail_kernels
from gmcnn.models.layers import (
    SignalLayerNorm,
    _fusable_tail,
    _run_kernel,
    arg_max_gradient,
    arg_max_positions,
    has_forward_hooks,
    norm_prelu_residual,
    norm_prelu_residual_max,
    tail_forward,
)
from gmcnn.nn import GMConv
from gmcnn.nn.functional import exporting
from gmcnn.nn.gather import gather_columns, tap_sum
from gmcnn.nn.signals import check_input


class Block(NamedTuple):
    """The modules of a residual block ``act(norm(conv(x))) + residual(x)``."""

    conv: nn.Module
    norm: nn.Module
    act: nn.Module
    residual: nn.Module


def _conv_max_forward(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    slope: Tensor,
    source: Tensor,
    eps: float,
) -> tuple[Tensor, list[Tensor]]:
    """The pooled values ``(B, O)`` (in the parameters' dtype) and what the backward pass needs:
    the channel sum, the ``(B, K + 1, N)`` gather (a row of ones for the bias column), the
    weight and bias column, the statistics, and the arg-max positions with ``z`` there."""
    batch, channels, size = x.shape
    w = weight.reshape(weight.shape[0], -1)
    s = torch.matmul(x.new_ones(1, channels), x).view(batch, size)
    rows = torch.cat([source, source.new_full((1, size), size)])
    gathered = gather_columns(torch.cat([s, s.new_ones(batch, 1)], dim=1), rows)
    column = bias if bias is not None else w.new_zeros(w.shape[0])  # z_b = W T_b + column 1ᵀ
    w_full = torch.cat([w, column[:, None]], dim=1).to(x.dtype)
    z = torch.bmm(w_full.expand(batch, -1, -1), gathered)
    mean, rstd = _run_kernel(tail_kernels.moments, z, slope, eps)
    values, indices = _run_kernel(tail_kernels.forward_max, z, slope, x, mean, rstd)
    z_at = z.gather(2, indices[:, :, None]).squeeze(2)
    return values, [w, column, s, gathered, slope, mean, rstd, indices, z_at]


class _ConvMaxGrads(NamedTuple):
    """What :func:`_conv_max_backward` computes, in the parameters' dtype (``None``: not
    asked for)."""

    grad_s: Tensor | None  # (B, N), the channel sum's gradient
    spikes: Tensor  # (B, O), the pooling's gradient at the arg-max positions
    indices: Tensor  # (B, O)
    weight: Tensor | None
    bias: Tensor | None
    slope: Tensor | None


def _conv_max_backward(
    saved: tuple[Tensor, ...],
    grad: Tensor,
    source: Tensor,
    target: Tensor,
    needs: tuple[bool, bool, bool, bool],
) -> _ConvMaxGrads:
    """The gradients of :func:`_conv_max_forward` for the pooled ``grad`` (module doc), in the
    parameters' dtype; ``needs`` says which of ``(∂s, ∂weight, ∂bias, ∂slope)`` to compute."""
    w, column, s, gathered, slope, mean, rstd, indices, z_at = saved
    needs_s, needs_w, needs_b, needs_slope = needs
    batch, out_channels = indices.shape
    kernel_size, size = w.shape[1], gathered.shape[2]
    compute = slope.dtype
    g = grad.to(compute)
    u, grad_u = arg_max_gradient(z_at, g, slope, mean, rstd)
    grad_slope = (g * u.clamp(max=0)).sum().reshape(slope.shape) if needs_slope else None
    # ∂z_b = spikes + alpha_b + gamma_b (z_b − μ_b), and z_b − μ_b = W T_b + offset_b 1ᵀ.
    count = out_channels * size
    spike = rstd[:, None] * grad_u
    alpha = -rstd * grad_u.sum(dim=1) / count
    gamma = -rstd * rstd * (grad_u * u).sum(dim=1) / count
    offset = column - mean[:, None]  # (B, O)
    w_sum = w.sum(dim=1)
    linear = alpha[:, None] + gamma[:, None] * offset  # ∂z_b = spikes + linear_b 1ᵀ + γ W T_b
    # Where the spikes sit in s: h = i_{bo}·k⁻¹ for each kernel element k, (B, O·K).
    where = source.t()[indices].flatten(1) if needs_w or needs_s else None
    grad_s = grad_w = grad_b = None
    if needs_w or needs_b:
        # The products of the whole gather (its row of ones included) need no copy; the last
        # row of T̃_b T̃_bᵀ holds the row sums of T_b.
        grams = torch.bmm(gathered, gathered.transpose(1, 2)).to(compute)
        row_sum = grams[:, kernel_size, :kernel_size]
        if needs_w:
            assert where is not None
            picked = torch.gather(s, 1, where).view(batch, out_channels, kernel_size)
            grad_w = (
                w @ (gamma[:, None, None] * grams[:, :kernel_size, :kernel_size]).sum(dim=0)
                + (linear[:, :, None] * row_sum[:, None, :]).sum(dim=0)
                + (spike[:, :, None] * picked.to(compute)).sum(dim=0)
            ).view(w.shape[0], 1, kernel_size)
        if needs_b:  # Σ_{b, n} ∂z_b[:, n]
            summed = spike + size * linear + gamma[:, None] * (row_sum @ w.t())
            grad_b = summed.sum(dim=0)
    if needs_s:
        # ∂s_b[h] = Σ_k (Wᵀ ∂z_b)[k, h·k]: the affine part through (WᵀW) T_b (a zero last
        # column skips the row of ones), a constant, and each spike's K values at `where`.
        square = F.pad(w.t() @ w, (0, 1)).to(gathered.dtype)
        per_tap = torch.bmm(square.expand(batch, -1, -1), gathered)
        constant = alpha * w.sum() + gamma * (offset * w_sum).sum(dim=1)
        grad_s = gamma[:, None] * tap_sum(per_tap, target).view(batch, size).to(compute)
        grad_s += constant[:, None]
        assert where is not None
        grad_s.scatter_add_(1, where, (spike[:, :, None] * w).flatten(1))
    return _ConvMaxGrads(grad_s, g, indices, grad_w, grad_b, grad_slope)


class SharedConvTailMax(torch.autograd.Function):
    """``max_g (PReLU_a(LN(GMConv(x))) + x)``, ``(B, O)``, for a shared-mixing gather GMConv.

    Arguments: ``x (B, C, N)`` with ``C = O`` in the computing dtype (bfloat16 under mixed
    precision); ``weight (O, 1, K)``, ``bias (O,)`` or ``None`` and ``slope (1,)`` in the
    parameters' dtype; the layer's ``source`` and ``target`` ``(K, N)`` index tables; ``eps``.
    The products run in ``x``'s dtype, the statistics and small sums in the parameters'.
    Forward: the channel sum, its gather, one batched product for ``z``, and the
    compiled statistics and arg-max loops of :mod:`gmcnn.models.tail_kernels`. Backward:
    see the module doc; ``∂x`` is ``∂s`` on every channel plus the residual's spikes.
    """

    @staticmethod
    def forward(
        ctx: Any,
        x: Tensor,
        weight: Tensor,
        bias: Tensor | None,
        slope: Tensor,
        source: Tensor,
        target: Tensor,
        eps: float,
    ) -> Tensor:
        values, saved = _conv_max_forward(x, weight, bias, slope, source, eps)
        ctx.x_dtype = x.dtype
        ctx.save_for_backward(*saved, source, target)
        return values.to(x.dtype)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        *saved, source, target = ctx.saved_tensors
        needs_x, needs_w, needs_b, needs_slope = ctx.needs_input_grad[:4]
        grads = _conv_max_backward(
            tuple(saved), grad, source, target, (needs_x, needs_w, needs_b, needs_slope)
        )
        grad_x = None
        if grads.grad_s is not None:
            grad_x = _run_kernel(
                tail_kernels.spread, grads.grad_s, grads.indices, grads.spikes, ctx.x_dtype
            )
        return grad_x, grads.weight, grads.bias, grads.slope, None, None, None


class TailSharedConvTailMax(torch.autograd.Function):
    """The previous block's tail, then :class:`SharedConvTailMax`: ``max_g (PReLU_b(LN(GMConv(y)))
    + y)`` with ``y = PReLU_a(LN(z)) + r`` and ``r = x`` or ``W_r x + b_r`` (App. A.2).

    Arguments: the previous block's conv output ``z (B, C, N)``, slope, input ``x (B, I, N)``,
    projection ``(C, I, 1)`` and bias (or ``None``) and ``eps``; then the last block's
    as for :class:`SharedConvTailMax`. ``y`` is written by the compiled tail loops of
    :class:`gmcnn.models.layers.CompiledTail`; ``y``'s gradient is never written out (module
    doc): ``∂z`` is one loop over ``z`` with a ``(B, 1, N)`` gradient plus the spikes, and
    the projection's gradients are sums over ``(B, N)`` values and the spikes.
    """

    @staticmethod
    def forward(
        ctx: Any,
        z: Tensor,
        tail_slope: Tensor,
        x: Tensor,
        proj_weight: Tensor | None,
        proj_bias: Tensor | None,
        tail_eps: float,
        weight: Tensor,
        bias: Tensor | None,
        slope: Tensor,
        source: Tensor,
        target: Tensor,
        eps: float,
    ) -> Tensor:
        z = z.contiguous()
        flat_z = z.flatten(2)
        flat_x = x.reshape(x.shape[0], x.shape[1], flat_z.shape[2])
        proj = None if proj_weight is None else proj_weight.reshape(proj_weight.shape[0], -1)
        y, mean, rstd = tail_forward(flat_z, tail_slope, flat_x, proj, proj_bias, tail_eps)
        values, saved = _conv_max_forward(y, weight, bias, slope, source, eps)
        ctx.z_shape, ctx.x_shape, ctx.x_dtype = z.shape, x.shape, x.dtype
        ctx.save_for_backward(
            flat_z,
            None if proj_weight is None else flat_x,  # an identity residual needs no input
            proj_weight,
            mean,
            rstd,
            tail_slope,
            *saved,
            source,
            target,
        )
        return values.to(z.dtype)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        z, x, proj_weight, mean, rstd, tail_slope, *saved, source, target = ctx.saved_tensors
        needs = ctx.needs_input_grad
        needs_z, needs_tail_slope, needs_x, needs_pw, needs_pb = needs[:5]
        needs_w, needs_b, needs_slope = needs[6:9]
        needs_y = needs_z or needs_x or needs_pw or needs_pb or needs_tail_slope
        grads = _conv_max_backward(
            tuple(saved), grad, source, target, (needs_y, needs_w, needs_b, needs_slope)
        )
        grad_z = grad_x = grad_pw = grad_pb = grad_tail_slope = None
        if grads.grad_s is not None:
            grad_s, spikes, indices = grads.grad_s, grads.spikes, grads.indices
            channels = z.shape[1]
            compute = tail_slope.dtype
            at = arg_max_positions(indices, z.shape[2])  # the spikes' offsets in z and y
            z_at = z.reshape(-1)[at].view(indices.shape)
            u, grad_u = arg_max_gradient(z_at, spikes, tail_slope, mean, rstd)
            if needs_z or needs_tail_slope:
                flat, per_example = _run_kernel(
                    tail_kernels.backward,
                    grad_s[:, None, :],
                    z,
                    tail_slope,
                    mean,
                    rstd,
                    grad_u.sum(dim=1),
                    (grad_u * u).sum(dim=1),
                )
                spike_z = (rstd[:, None] * grad_u).view(-1)
                flat.view(-1)[at] = (flat.view(-1)[at].to(compute) + spike_z).to(flat.dtype)
                grad_z = flat.view(ctx.z_shape)
                grad_tail_slope = (per_example.sum() + (spikes * u.clamp(max=0)).sum()).reshape(
                    tail_slope.shape
                )
            if proj_weight is None:
                if needs_x:
                    grad_x = _run_kernel(tail_kernels.spread, grad_s, indices, spikes, ctx.x_dtype)
                    grad_x = grad_x.view(ctx.x_shape)
            else:
                if needs_x:  # Wᵀ ∂y from ∂y written out: only where the input needs it
                    grad_y = _run_kernel(tail_kernels.spread, grad_s, indices, spikes, compute)
                    grad_x = torch.matmul(proj_weight.reshape(channels, -1).t(), grad_y)
                    grad_x = grad_x.to(ctx.x_dtype).view(ctx.x_shape)
                if needs_pw:  # Σ_{b,n} ∂y[b, c, n] x[b, i, n]
                    xc = x.to(compute)
                    common = torch.einsum("bn,bin->i", grad_s, xc)
                    picked = xc.gather(2, indices[:, None, :].expand(-1, xc.shape[1], -1))
                    grad_pw = (common + torch.einsum("bc,bic->ci", spikes, picked)).view(
                        proj_weight.shape
                    )
                if needs_pb:
                    grad_pb = grad_s.sum() + spikes.sum(dim=0)
        return (
            grad_z,
            grad_tail_slope,
            grad_x,
            grad_pw,
            grad_pb,
            None,
            grads.weight,
            grads.bias,
            grads.slope,
            None,
            None,
            None,
        )


def _last_block_dtype(block: Block, x: Tensor) -> torch.dtype | None:
    """The computing dtype of :class:`SharedConvTailMax` for ``block`` on the signal ``x``
    ``(B, C, N)``, or ``None`` where the block does not have its form (:func:`pooled_head`)."""
    conv, norm, act, residual = block
    if not (
        type(conv) is GMConv
        and not has_forward_hooks(conv)
        and x.shape[1] == conv.in_channels
        and x.shape[2] == conv.group.order
        and conv.channel_mixing == "shared"
        and conv.source is not None
        and conv.relaxation is None
        and conv.kernel_size < conv.out_channels
        and type(norm) is SignalLayerNorm
        and type(act) is nn.PReLU
        and act.weight.numel() == 1
        and type(residual) is nn.Identity
        and conv.in_channels == conv.out_channels
        and x.device.type == "cpu"
        and layers._compiles(x.shape[0] * conv.out_channels * x.shape[2])
        and not (torch.compiler.is_compiling() or exporting())
    ):
        return None
    parameters = conv.weight.dtype
    if act.weight.dtype != parameters or parameters not in (torch.float32, torch.float64):
        return None
    if torch.is_autocast_enabled("cpu"):  # float16 would overflow in T_b T_bᵀ
        autocast = torch.get_autocast_dtype("cpu")
        return autocast if autocast == torch.bfloat16 and parameters == torch.float32 else None
    return parameters if x.dtype == parameters else None


def _last_block_args(block: Block) -> tuple[Any, ...]:
    """The last block's arguments of :class:`SharedConvTailMax` after ``x``."""
    conv, norm, act, _ = block
    eps = float(cast(SignalLayerNorm, norm).eps)
    return (conv.weight, conv.bias, act.weight, conv.source, conv.target, eps)


def pooled_head(previous: Block | None, last: Block, x: Tensor) -> Tensor:
    """``GlobalMaxPool(last(previous(x)))`` (``previous`` may be ``None``), ``(B, O)``: the last
    blocks of a GM-CNN and the head's max pooling (App. A.2).

    The last block runs as one function (:class:`SharedConvTailMax`, or
    :class:`TailSharedConvTailMax` with the previous block's tail where that tail is compiled
    by :func:`gmcnn.models.layers.norm_prelu_residual`) where it has the form of the module
    doc: an exactly equivariant :class:`GMConv` with shared mixing on the gather path and
    fewer kernel elements than output channels, :class:`SignalLayerNorm`, a one-slope
    ``nn.PReLU`` and an identity residual; a CPU signal large enough for the compiled block
    tails; parameters in float32 or float64 (float32 under bfloat16 CPU autocast, which
    computes in bfloat16); no forward hooks on the last GMConv; and neither
    ``torch.compile`` nor export tracing the call. Otherwise the blocks run as modules, with
    the last block's tail and the pooling fused
    (:func:`gmcnn.models.layers.norm_prelu_residual_max`). All compute the same function
    and gradients up to rounding. ``previous`` is the modules of a block without forward
    hooks (the caller calls a hooked block itself).
    """
    conv = last.conv
    if previous is not None:
        z = previous.conv(x)
        args = _fusable_tail(z, x, previous.norm, previous.act, previous.residual)
        if args is not None:
            flat_z = z.flatten(2)
            compute = _last_block_dtype(last, flat_z)
            if compute is not None and flat_z.dtype == compute:
                with torch.autocast("cpu", enabled=False):
                    pooled: Tensor = TailSharedConvTailMax.apply(  # type: ignore[no-untyped-call]
                        *args, *_last_block_args(last)
                    )
                return pooled
        x = norm_prelu_residual(z, x, previous.norm, previous.act, previous.residual)
    if type(conv) is GMConv:
        check_input(x, "GMConv", conv.weight.dtype)
        flat = conv.signal.flatten(x, conv.in_channels, "GMConv")
        compute = _last_block_dtype(last, flat)
        if compute is not None:
            with torch.autocast("cpu", enabled=False):
                pooled = SharedConvTailMax.apply(  # type: ignore[no-untyped-call]
                    flat.to(compute), *_last_block_args(last)
                )
            return pooled
    return norm_prelu_residual_max(conv(x), x, last.norm, last.act, last.residual)
