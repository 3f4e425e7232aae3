"""The dynamics model's layer as one fused step: ``PReLU(GMConv(x)) + r`` (App. A.1; issue 11).

A layer of :class:`~gmcnn.models.GMCNNRegressor` with shared channel mixing on the gather path
computes, for output channel ``o`` at position ``n`` (eq. 2–3 with the channel sum of shared
mixing, and the output scaling ``u`` of MATH.md §6):

    s(n)      = Σ_i x_i(n)                                    (channel sum, one channel)
    G[k, n]   = u(n) · s(n·k⁻¹)                               (gather of the one channel)
    y_o(n)    = Σ_k ψ_o(k) G[k, n] + b_o                      (the single-channel stencil)
    out_o(n)  = PReLU_a(y_o(n)) + r_o(n)                       (activation, residual)

Only ``x``, ``r`` and ``out`` have ``O`` channels; ``s`` has one and ``G`` has ``K``
(``K/O`` of an activation: 9/128 in the paper's model). :class:`RegressionLayer` computes
the layer with one pass over the activations each way:

- forward: the channel sum reads ``x``; one loop reads ``r`` and writes ``out``, with ``y``
  computed in registers from ``G``. Nothing activation-sized is saved (``G`` and the gather
  are), so ``y`` is recomputed where it is needed.
- backward: one loop reads ``∂out`` and writes ``∂y = ∂out·PReLU'(y)``, with partial sums
  for the slope's gradient ``Σ ∂out·min(y, 0)``; two matrix products read ``∂y`` for
  ``[∂ψ | ∂b] = Σ_b ∂y [G ; 1]ᵀ`` and ``∂G = ψᵀ ∂y``; then small tensors give
  ``∂u`` and ``∂s(h) = Σ_k u(h·k)·∂G[k, h·k]`` (the transpose of the gather, through
  ``target``), and ``∂x = ∂out + ∂s`` (identity residual ``r = x``) is written into ``∂y``'s
  spent buffer; otherwise ``∂x = ∂s`` and ``∂r = ∂out`` is passed on as it is.

Each direction is one ``torch.compile``-d function (one C++ loop over the activations plus
the matrix products and small loops; compiled once per process for any batch size) for
activations of at least :data:`~gmcnn.models.layers.COMPILE_MIN_ELEMENTS` elements, like the
classifier's block tail; otherwise, or with ``GMCNN_COMPILE=0``, eager kernels compute the
same function with a few more passes (``y`` is one batched product and is kept for the
backward pass). Under ``torch.compile``, ``torch.jit.trace`` and ``torch.export`` the layer
runs as the plain modules, which those tools trace and fuse themselves.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

from gmcnn.models.layers import (
    COMPILE_MIN_ELEMENTS,
    compiled_call,
    compiled_tail_enabled,
)
from gmcnn.nn import GMConv
from gmcnn.nn.functional import exporting
from gmcnn.nn.gather import gather_columns, tap_sum


def _gather(x: Tensor, source: Tensor, scale: Tensor | None) -> tuple[Tensor, Tensor]:
    """``(gathered, G)``: ``gathered[b, k, n] = Σ_i x[b, i, source[k, n]]`` and ``G`` the same
    times ``scale[n]`` (``G = gathered`` without a scale); both ``(B, K, N)``."""
    gathered = gather_columns(x.sum(dim=1), source)
    return gathered, gathered if scale is None else gathered * scale


def _stencil(g: Tensor, w: Tensor, bias: Tensor | None) -> Tensor:
    """``y[b, o, n] = Σ_k w[o, k] g[b, k, n] + bias[o]`` as ``K`` broadcast products summed in
    order: one pointwise expression, which ``torch.compile`` evaluates in registers inside the
    loop that uses it (a ``sum`` over ``k`` would be a reduction, stored and read back)."""
    y = w[None, :, 0, None] * g[:, None, 0, :]
    for k in range(1, g.shape[1]):
        y = y + w[None, :, k, None] * g[:, None, k, :]
    return y if bias is None else y + bias[None, :, None]


def fused_forward(
    x: Tensor,
    r: Tensor | None,
    w: Tensor,
    bias: Tensor | None,
    scale: Tensor | None,
    slope: Tensor,
    source: Tensor,
) -> tuple[Tensor, Tensor, Tensor]:
    """The forward pass as plain tensor operations (what ``torch.compile`` fuses):
    ``(out, gathered, G)`` for ``x (B, C, N)``, ``r (B, O, N)`` or ``None`` (``r = x``),
    ``w (O, K)``, ``bias (O,)``, ``scale (N,)`` (or ``None``), ``slope (1,)``, ``source (K, N)``.
    """
    gathered, g = _gather(x, source, scale)
    y = _stencil(g, w, bias)
    out = torch.where(y > 0, y, slope * y) + (x if r is None else r)
    return out, gathered, g


def fused_backward(
    grad_out: Tensor,
    gathered: Tensor,
    g: Tensor,
    w: Tensor,
    bias: Tensor | None,
    scale: Tensor | None,
    slope: Tensor,
    target: Tensor,
    identity_residual: bool,
    in_channels: int,
) -> tuple[Tensor, Tensor, Tensor, Tensor | None, Tensor | None, Tensor]:
    """The backward pass as plain tensor operations (what ``torch.compile`` fuses).

    Returns ``(∂x, ∂w, ∂slope, ∂bias, ∂scale, ∂r)``; ``∂r`` is ``grad_out`` itself (ignored
    for an identity residual, whose gradient is in ``∂x``). ``y`` is recomputed from ``G``.
    The slope's gradient is first summed over the positions of each ``(b, o)``: a reduction
    over the innermost axis shares the loop that writes ``∂y``.
    """
    y = _stencil(g, w, bias)
    positive = y > 0
    grad_y = torch.where(positive, grad_out, slope * grad_out)
    grad_slope = torch.where(positive, torch.zeros_like(y), grad_out * y).sum(dim=2).sum()
    grad_w, grad_bias, grad_scale, grad_s = _small_backward(
        grad_y, gathered, g, w, bias is not None, scale, target
    )
    if identity_residual:
        grad_x = grad_out + grad_s
    else:
        grad_x = grad_s.expand(grad_s.shape[0], in_channels, grad_s.shape[2])
    return grad_x, grad_w, grad_slope.reshape(1), grad_bias, grad_scale, grad_out


def _small_backward(
    grad_y: Tensor,
    gathered: Tensor,
    g: Tensor,
    w: Tensor,
    bias: bool,
    scale: Tensor | None,
    target: Tensor,
) -> tuple[Tensor, Tensor | None, Tensor | None, Tensor]:
    """``(∂w, ∂bias, ∂scale, ∂s)`` from ``∂y``: ``[∂w | ∂bias] = Σ_b ∂y [G ; 1]ᵀ`` (the bias
    as the weight of a row of ones), ``∂G = wᵀ ∂y`` (two batched products over ``∂y``),
    ``∂scale(n) = Σ_{b,k} ∂G·gathered``, and the transpose of the gather
    ``∂s(h) = Σ_k (scale·∂G)[k, h·k]`` as ``(B, 1, N)``."""
    batch, kernel_size = g.shape[:2]
    rows = torch.cat([g, g.new_ones(batch, 1, g.shape[2])], dim=1) if bias else g
    grad_wb = torch.bmm(grad_y, rows.transpose(1, 2)).sum(dim=0)
    grad_w, grad_bias = grad_wb[:, :kernel_size], grad_wb[:, kernel_size] if bias else None
    grad_g = torch.bmm(w.t().expand(batch, -1, -1), grad_y)
    grad_scale = None
    if scale is not None:
        grad_scale = (grad_g * gathered).sum(dim=(0, 1))
        grad_g = grad_g * scale
    grad_s = tap_sum(grad_g, target)
    return grad_w, grad_bias, grad_scale, grad_s


#: Inductor options of the fused passes: ``y`` is read by several expressions of the
#: backward pass (the mask, ``∂y``, the slope's partial sums); inductor would store it as
#: an activation-sized buffer after 4 reads and read it back, instead of recomputing it in
#: registers from the small ``G`` (one loop, one pass over ``∂out``).
INDUCTOR_OPTIONS: dict[str, str | int | bool | Callable[..., Any]] = {"realize_reads_threshold": 64}
_COMPILE: dict[str, Any] = {"options": INDUCTOR_OPTIONS, "what": "regression layer"}


class RegressionLayer(torch.autograd.Function):
    """One dynamics-model layer, ``out = PReLU_a(ψ G + b) + r`` (module doc), fused.

    Inputs: ``x (B, C, N)``; ``r (B, O, N)``, or ``None`` for ``r = x``; ``weight (O, K)``;
    ``bias (O,)`` or ``None``; ``scale (N,)`` or ``None``; ``slope (1,)``; ``source`` and
    ``target`` ``(K, N)``, the gather indices of :class:`~gmcnn.nn.GMConv`; ``compiled``: run
    :func:`fused_forward` and :func:`fused_backward` through ``torch.compile``, else eager
    kernels (one batched product for ``y``, kept for the backward pass; PReLU's own backward
    kernel and the slope's gradient as one dot product over ``min(y, 0)``, whose buffer then
    takes ``∂y``). Call it through :func:`conv_prelu_residual`.
    """

    @staticmethod
    def forward(
        ctx: Any,
        x: Tensor,
        r: Tensor | None,
        weight: Tensor,
        bias: Tensor | None,
        scale: Tensor | None,
        slope: Tensor,
        source: Tensor,
        target: Tensor,
        compiled: bool,
    ) -> Tensor:
        y = None
        results = None
        if compiled:
            results = compiled_call(
                fused_forward, x, r, weight, bias, scale, slope, source, **_COMPILE
            )
        if results is not None:
            out, gathered, g = results
        else:
            compiled = False
            gathered, g = _gather(x, source, scale)
            w = weight.expand(x.shape[0], -1, -1)
            y = torch.bmm(w, g) if bias is None else torch.baddbmm(bias[None, :, None], w, g)
            out = F.leaky_relu(y, float(slope.reshape(()))).add_(x if r is None else r)
        ctx.compiled = compiled
        ctx.identity_residual = r is None
        ctx.in_channels = x.shape[1]
        ctx.save_for_backward(gathered, g, weight, bias, scale, slope, target, y)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_out: Tensor) -> tuple[Tensor | None, ...]:
        gathered, g, weight, bias, scale, slope, target, y = ctx.saved_tensors
        grad_out = grad_out.contiguous()
        identity = ctx.identity_residual
        grads = None
        if ctx.compiled:
            grads = compiled_call(
                fused_backward,
                grad_out,
                gathered,
                g,
                weight,
                bias,
                scale,
                slope,
                target,
                identity,
                ctx.in_channels,
                **_COMPILE,
            )
        if grads is None:
            grads = _eager_backward(
                ctx, grad_out, gathered, g, weight, bias, scale, slope, target, y
            )
        grad_x, grad_w, grad_slope, grad_bias, grad_scale, grad_r = grads
        needs = ctx.needs_input_grad
        return (
            grad_x if needs[0] else None,
            grad_r if needs[1] and not identity else None,
            grad_w if needs[2] else None,
            grad_bias if needs[3] else None,
            grad_scale if needs[4] else None,
            grad_slope.reshape(slope.shape) if needs[5] else None,
            None,
            None,
            None,
        )


def _eager_backward(
    ctx: Any,
    grad_out: Tensor,
    gathered: Tensor,
    g: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    scale: Tensor | None,
    slope: Tensor,
    target: Tensor,
    y: Tensor | None,
) -> tuple[Tensor, Tensor, Tensor, Tensor | None, Tensor | None, Tensor]:
    """:func:`fused_backward` with eager kernels (see :class:`RegressionLayer`)."""
    batch = grad_out.shape[0]
    if y is None:  # a compiled forward pass saved no y
        w = weight.expand(batch, -1, -1)
        y = torch.bmm(w, g) if bias is None else torch.baddbmm(bias[None, :, None], w, g)
    negative = torch.clamp(y, max=0)  # the buffer of ∂y once the slope's gradient is taken
    grad_slope = torch.dot(grad_out.view(-1), negative.view(-1)).reshape(1)
    grad_y = torch.ops.aten.leaky_relu_backward.grad_input(
        grad_out, y, float(slope.reshape(())), False, grad_input=negative
    )
    grad_w, grad_bias, grad_scale, grad_s = _small_backward(
        grad_y, gathered, g, weight, bias is not None, scale, target
    )
    if ctx.identity_residual:  # ∂x = ∂out + ∂s, into ∂y's spent buffer
        grad_x = torch.add(grad_out, grad_s, out=grad_y)
    else:
        grad_x = grad_s.expand(batch, ctx.in_channels, grad_s.shape[2])
    return grad_x, grad_w, grad_slope, grad_bias, grad_scale, grad_out


def reference_layer(x: Tensor, residual: Tensor, conv: nn.Module, act: nn.Module) -> Tensor:
    """``act(conv(x)) + residual``: the layer as the modules compute it one after the other."""
    return act(conv(x)) + residual  # type: ignore[no-any-return]


def fusable(x: Tensor, residual: Tensor, conv: nn.Module, act: nn.Module) -> bool:
    """Whether :func:`conv_prelu_residual` computes the layer fused.

    Needs a :class:`GMConv` with shared mixing on the gather path, exact or with output
    scaling, a one-slope ``nn.PReLU``, CPU tensors of one floating dtype (float32 or
    float64) without autocast, an input the layer accepts and a residual of the output's
    shape; and neither ``torch.compile`` nor tracing or export, which get the plain modules.
    """
    if torch.compiler.is_compiling() or exporting():
        return False
    if not (
        type(conv) is GMConv
        and type(act) is nn.PReLU
        and act.weight.numel() == 1
        and conv.channel_mixing == "shared"
        and conv.source is not None
        and conv.target is not None
        and conv.error_weight is None
        and conv.relaxed_weight is None
    ):
        return False
    if not (isinstance(x, Tensor) and isinstance(residual, Tensor)):
        return False
    dtype = conv.weight.dtype
    if (
        dtype not in (torch.float32, torch.float64)
        or x.dtype != dtype
        or residual.dtype != dtype
        or act.weight.dtype != dtype
        or x.device.type != "cpu"
        or residual.device != x.device
        or conv.weight.device != x.device
        or torch.is_autocast_enabled("cpu")
    ):
        return False
    layout = conv.signal
    trailing = tuple(x.shape[2:])
    if (
        x.dim() < 3
        or x.shape[1] != conv.in_channels
        or trailing not in ((layout.order,), layout.shape)
    ):
        return False
    return tuple(residual.shape) == (x.shape[0], conv.out_channels, *trailing)


def conv_prelu_residual(x: Tensor, residual: Tensor, conv: nn.Module, act: nn.Module) -> Tensor:
    """``act(conv(x)) + residual``, one layer of the dynamics model (App. A.1), fused.

    Where :func:`fusable` holds, the layer runs as :class:`RegressionLayer` (compiled for
    activations of at least :data:`~gmcnn.models.layers.COMPILE_MIN_ELEMENTS` elements unless
    ``GMCNN_COMPILE=0``; ``residual is x`` is the identity residual); otherwise as
    :func:`reference_layer`. Both compute the same function and gradients up to rounding.

    Shapes: ``x (B, C, n₁, …)`` or ``(B, C, N)``; ``residual`` and the result ``(B, O, …)``
    in ``x``'s layout.
    """
    if not fusable(x, residual, conv, act):
        return reference_layer(x, residual, conv, act)
    assert isinstance(conv, GMConv) and conv.source is not None and conv.target is not None
    batch, size = x.shape[0], conv.group.order
    weight, scale = (
        conv.scaling_parameters() if conv.position_scale is not None else (conv.weight, None)
    )
    r = None if residual is x else residual.reshape(batch, conv.out_channels, size)
    elements = batch * conv.out_channels * size
    out: Tensor = RegressionLayer.apply(  # type: ignore[no-untyped-call]
        x.reshape(batch, conv.in_channels, size),
        r,
        weight.reshape(conv.out_channels, conv.kernel_size),
        conv.bias,
        scale,
        act.weight,
        conv.source,
        conv.target,
        elements >= COMPILE_MIN_ELEMENTS and compiled_tail_enabled(),
    )
    return out.view(residual.shape)
