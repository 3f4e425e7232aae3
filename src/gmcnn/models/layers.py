"""Small building blocks of the paper's networks (App. A): equivariant by construction.

Each acts on signals ``(B, C, *positions)`` and commutes with any permutation of the
positions, so it keeps a GM-CNN equivariant. :func:`norm_prelu_residual` is the tail of every
residual block of App. A.2, ``PReLU(LayerNorm(z)) + residual(x)``, fused into one autograd
function on CPU (:class:`NormPReLUResidual`): the same function with fewer passes over the
activations and fewer fresh activation-sized buffers, which dominate a CPU step.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable
from typing import Any, TypeVar, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.autograd.function import once_differentiable
from torch.nn.modules import module as torch_module

from gmcnn.groups import check_integer
from gmcnn.models import tail_kernels
from gmcnn.nn.functional import exporting
from gmcnn.nn.signals import check_input, traceable


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


def channel_projection(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    """``y_o(g) = Σ_i W[o, i] x_i(g) + b_o`` for ``x (B, I, …)``, ``weight (O, I, 1)``.

    One batched matrix product (faster on CPU than ``conv1d`` with a 1-wide kernel).
    """
    flat = x.flatten(2)
    w = weight.reshape(weight.shape[0], -1).expand(x.shape[0], -1, -1)
    y = torch.bmm(w, flat) if bias is None else torch.baddbmm(bias[None, :, None], w, flat)
    return y.reshape(x.shape[0], weight.shape[0], *x.shape[2:])


class ChannelProjection(nn.Module):
    """A 1×1 convolution: ``y_o(g) = Σ_i W[o, i] x_i(g) + b_o`` at every position ``g``.

    The residual projection where channel counts differ (App. A.2) and the final convolution
    of the dynamics model (App. A.1). ``in·out + out`` parameters.
    """

    def __init__(self, in_channels: int, out_channels: int, bias: bool = True) -> None:
        super().__init__()
        self.in_channels = check_integer(in_channels, "in_channels", 1)
        self.out_channels = check_integer(out_channels, "out_channels", 1)
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, 1))
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """``U(±1/√in_channels)``, as ``torch.nn.Conv1d``."""
        bound = 1.0 / math.sqrt(self.in_channels)
        nn.init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            nn.init.uniform_(self.bias, -bound, bound)

    @traceable
    def forward(self, x: Tensor) -> Tensor:
        check_input(x, "ChannelProjection", self.weight.dtype)
        if x.dim() < 3 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"ChannelProjection got shape {tuple(x.shape)}; expected (batch, "
                f"{self.in_channels}, positions…)"
            )
        return channel_projection(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, bias={self.bias is not None}"


class GlobalMaxPool(nn.Module):
    """Adaptive max pooling over all positions (App. A.2): ``(B, C, …) → (B, C)``, invariant.

    ``max`` rather than ``amax``: its backward scatters to the arg-max only, several times
    faster on CPU.
    """

    def forward(self, x: Tensor) -> Tensor:
        return x.flatten(2).max(dim=2).values


class NormPReLUResidual(torch.autograd.Function):
    """``y = PReLU_a(LN(z)) + r`` with ``r = x`` or ``r = W x + b`` (App. A.2), fused.

    ``LN`` normalises each example over channels and positions without affine parameters,
    ``u = (z − μ)·ρ`` with ``ρ = 1/√(σ² + ε)``; ``PReLU_a`` has one slope ``a``. The forward
    pass creates two activation-sized tensors, ``u`` and ``y``, and adds the residual (or its
    1×1 projection, one batched ``y += [W | b]·[x ; 1]``) into ``y`` in place; the unfused
    modules create four. The backward pass runs the same kernels as autograd would for
    LayerNorm, ``∂z = LN'(z)ᵀ ∂u``, with ``∂u = ∂y·(1 if u > 0 else a)`` from the
    leaky-ReLU kernel; the slope's gradient ``∂a = Σ ∂y·min(u, 0)`` is one dot product
    (``min(u, 0)`` written into the spent ``∂u`` buffer) instead of PReLU's per-element
    weight gradient; ``∂x = ∂y`` or ``Wᵀ ∂y`` and ``∂[W | b] = Σ_batch ∂y·[x | 1]ᵀ``.
    Call it through :func:`norm_prelu_residual`.
    """

    @staticmethod
    def forward(
        ctx: Any,
        z: Tensor,
        slope: Tensor,
        x: Tensor,
        proj_weight: Tensor | None,
        proj_bias: Tensor | None,
        eps: float,
    ) -> Tensor:
        a = float(slope.reshape(()))
        z = z.contiguous()
        u, mean, rstd = torch.native_layer_norm(z, z.shape[1:], None, None, eps)
        y = F.leaky_relu(u, a)
        batch, positions = z.shape[0], math.prod(z.shape[2:])  # sizes spelled out: B may be 0
        augmented = None
        if proj_weight is None:
            y.add_(x)
        else:  # y += [W | b] @ [x ; 1]: the bias is one more input channel that is 1
            flat = x.reshape(batch, x.shape[1], positions)
            weight = proj_weight.reshape(proj_weight.shape[0], -1)
            if proj_bias is not None:
                flat = torch.cat([flat, flat.new_ones(batch, 1, flat.shape[2])], dim=1)
                weight = torch.cat([weight, proj_bias[:, None]], dim=1)
            augmented = flat
            y.view(batch, y.shape[1], positions).baddbmm_(weight.expand(batch, -1, -1), flat)
        ctx.a = a
        ctx.has_projection = proj_weight is not None
        ctx.x_shape = x.shape
        ctx.save_for_backward(z, u, mean, rstd, slope, proj_weight, augmented)
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_y: Tensor) -> tuple[Tensor | None, ...]:
        z, u, mean, rstd, slope, proj_weight, augmented = ctx.saved_tensors
        grad_y = grad_y.contiguous()
        batch, channels = grad_y.shape[:2]
        grad_z = grad_slope = grad_x = grad_w = grad_b = None
        needs_z, needs_slope, needs_x, needs_w, needs_b, _ = ctx.needs_input_grad
        if needs_z or needs_slope:
            grad_u = torch.ops.aten.leaky_relu_backward(grad_y, u, ctx.a, False)
            if needs_z:
                grad_z = torch.ops.aten.native_layer_norm_backward(
                    grad_u, z, z.shape[1:], mean, rstd, None, None, [True, False, False]
                )[0]
            if needs_slope:  # Σ ∂y·min(u, 0), reusing the ∂u buffer
                negative = torch.clamp(u, max=0, out=grad_u)
                grad_slope = torch.dot(grad_y.view(-1), negative.view(-1)).reshape(slope.shape)
        if not ctx.has_projection:
            grad_x = grad_y if needs_x else None
        else:
            gy = grad_y.view(batch, channels, math.prod(grad_y.shape[2:]))
            if needs_x:
                w_t = proj_weight.reshape(proj_weight.shape[0], -1).t().expand(batch, -1, -1)
                grad_x = torch.bmm(w_t, gy).view(ctx.x_shape)
            if needs_w or needs_b:
                grad_all = torch.bmm(gy, augmented.transpose(1, 2)).sum(dim=0)
                in_channels = ctx.x_shape[1]
                grad_w = grad_all[:, :in_channels].reshape(proj_weight.shape) if needs_w else None
                grad_b = grad_all[:, in_channels] if needs_b else None
        return grad_z, grad_slope, grad_x, grad_w, grad_b, None


def reference_tail(
    z: Tensor,
    slope: Tensor,
    x: Tensor,
    proj_weight: Tensor | None,
    proj_bias: Tensor | None,
    eps: float,
) -> Tensor:
    """``PReLU_a(LN(z)) + r`` with ``r = x`` or ``W x + b``, as plain tensor operations.

    The function that :class:`NormPReLUResidual` and the compiled tail compute (App. A.2).
    The sum is computed in the parameters' dtype and returned in ``z``'s (they differ under
    mixed precision: a ``bfloat16`` ``z`` and ``float32`` parameters).
    """
    compute = slope.dtype
    residual = (
        x.to(compute)
        if proj_weight is None
        else channel_projection(x.to(compute), proj_weight, proj_bias)
    )
    return (_norm_act(z, slope, eps) + residual).to(z.dtype)


def _norm_act(z: Tensor, slope: Tensor, eps: float) -> Tensor:
    """``PReLU(LN(z))`` in the slope's dtype (LayerNorm statistics in float32 or better)."""
    return F.prelu(F.layer_norm(z.to(slope.dtype), z.shape[1:], eps=eps), slope)


#: Activations with at least this many elements take the compiled tail (when enabled).
COMPILE_MIN_ELEMENTS = 1 << 22

#: Set when a first compilation failed; the eager fused tail is used from then on.
_compile_failed: list[bool] = []
_compiled: dict[Callable[..., Any], Callable[..., Any]] = {}
Kernel = TypeVar("Kernel", bound=Callable[..., Any])
Result = TypeVar("Result")


def compiled_tail_enabled() -> bool:
    """Whether :func:`norm_prelu_residual` may use ``torch.compile`` (CPU, large inputs).

    On unless the environment sets ``GMCNN_COMPILE=0`` or a first compilation failed (for
    example without a C++ compiler); then the eager :class:`NormPReLUResidual` is used.
    """
    return os.environ.get("GMCNN_COMPILE", "1") != "0" and not _compile_failed


def compiled_function(function: Kernel, options: dict[str, Any] | None = None) -> Kernel:
    """``torch.compile(function)``, compiled on first use, once per process (any batch size);
    the one cache of the models' compiled kernels (block tails, regression layers)."""
    if function not in _compiled:
        _compiled[function] = torch.compile(function, dynamic=True, fullgraph=True, options=options)
    return cast(Kernel, _compiled[function])


def tail_forward(
    z: Tensor, slope: Tensor, x: Tensor, weight: Tensor | None, bias: Tensor | None, eps: float
) -> tuple[Tensor, Tensor, Tensor]:
    """``(y, μ, ρ)`` of the block tail ``y = PReLU_a(LN(z)) + r`` (``r = x``, or ``W x + b``
    for a ``(O, I)`` ``weight``) on ``(B, C, N)`` signals: the compiled statistics and output
    loops of :mod:`gmcnn.models.tail_kernels`, ``y`` in ``z``'s dtype."""
    mean, rstd = _run_kernel(tail_kernels.moments, z, slope, eps)
    if weight is None:
        y = _run_kernel(tail_kernels.forward, z, slope, x, mean, rstd)
    else:
        y = _run_kernel(tail_kernels.forward_projection, z, slope, x, weight, bias, mean, rstd)
    return y, mean, rstd


def arg_max_positions(indices: Tensor, size: int) -> Tensor:
    """Flat offsets in a ``(B, C, size)`` signal of each channel's arg-max ``indices (B, C)``,
    ``(B·C,)``: where a max pooling's gradient reaches a block tail."""
    batch, channels = indices.shape
    rows = torch.arange(batch * channels, device=indices.device).view(batch, channels)
    return (rows * size + indices).view(-1)


def arg_max_gradient(
    z_at: Tensor, grad: Tensor, slope: Tensor, mean: Tensor, rstd: Tensor
) -> tuple[Tensor, Tensor]:
    """``(u, ∂u)`` of a block tail at the positions a max pooling's gradient ``grad`` reaches,
    from ``z`` there (``z_at``, ``(B, C)``): ``u = (z − μ)·ρ`` and ``∂u = grad · (1 if u > 0
    else a)``, in the slope's dtype."""
    u = (z_at.to(slope.dtype) - mean[:, None]) * rstd[:, None]
    grad = grad.to(slope.dtype)
    return u, torch.where(u > 0, grad, slope * grad)


class CompiledTail(torch.autograd.Function):
    """:class:`NormPReLUResidual` with compiled loops (:mod:`gmcnn.models.tail_kernels`).

    Forward: one loop for the statistics ``(μ, ρ)``, one that writes ``y``. Backward (by
    hand, so that nothing else is saved): one loop that reduces ``E[∂u]``, ``E[∂u·u]`` and
    the slope's gradient and writes ``∂z``; ``∂x = ∂y`` itself for an identity residual, else
    ``Wᵀ ∂y`` (a matrix product in ``∂y``'s dtype, as autocast would) and ``∂[W | b] =
    Σ_{batch, positions} ∂y·[x | 1]ᵀ`` in the parameters' dtype: one compiled reduction for
    one input channel (the first block's outer product), else a batched product for ``W``
    and the reduction for ``b``. Takes mixed arguments: a bfloat16 ``z`` and ``x`` with
    float32 parameters compute in float32 and return bfloat16.
    """

    @staticmethod
    def forward(
        ctx: Any,
        z: Tensor,
        slope: Tensor,
        x: Tensor,
        proj_weight: Tensor | None,
        proj_bias: Tensor | None,
        eps: float,
    ) -> Tensor:
        z = z.contiguous()
        flat_z = z.flatten(2)
        flat_x = x.reshape(x.shape[0], x.shape[1], flat_z.shape[2])
        weight = None if proj_weight is None else proj_weight.reshape(proj_weight.shape[0], -1)
        y, mean, rstd = tail_forward(flat_z, slope, flat_x, weight, proj_bias, eps)
        ctx.x_shape, ctx.x_dtype = x.shape, x.dtype
        ctx.has_bias = proj_bias is not None
        ctx.save_for_backward(z, slope, mean, rstd, None if weight is None else flat_x, weight)
        return y.view(z.shape)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_y: Tensor) -> tuple[Tensor | None, ...]:
        z, slope, mean, rstd, flat_x, weight = ctx.saved_tensors
        needs_z, needs_slope, needs_x, needs_w, needs_b, _ = ctx.needs_input_grad
        flat_grad = grad_y.contiguous().flatten(2)
        grad_z = grad_slope = grad_x = grad_w = grad_b = None
        if needs_z or needs_slope:
            grad_flat_z, per_example = _run_kernel(
                tail_kernels.backward, flat_grad, z.view(flat_grad.shape), slope, mean, rstd
            )
            grad_z = grad_flat_z.view(z.shape)
            grad_slope = per_example.sum().reshape(slope.shape)
        if weight is None:
            grad_x = grad_y.to(ctx.x_dtype) if needs_x else None
            return grad_z, grad_slope, grad_x, None, None, None
        if needs_x:
            w_t = weight.t().to(flat_grad.dtype)
            grad_x = torch.matmul(w_t, flat_grad).to(ctx.x_dtype).view(ctx.x_shape)
        if needs_w or needs_b:  # one input channel: the weight's sum in the same kernel
            one = flat_x if needs_w and flat_x.shape[1] == 1 else None
            outer, grad_b = _run_kernel(tail_kernels.projection_sums, flat_grad, one, weight)
            if needs_w:
                products = (
                    outer[:, None]
                    if outer is not None
                    else torch.bmm(
                        flat_grad.to(weight.dtype), flat_x.to(weight.dtype).transpose(1, 2)
                    ).sum(0)
                )
                grad_w = products.to(weight.dtype).view(weight.shape[0], -1, 1)
            grad_b = grad_b if needs_b else None
        return grad_z, grad_slope, grad_x, grad_w, grad_b, None


class CompiledTailMax(torch.autograd.Function):
    """``GlobalMaxPool(PReLU_a(LN(z)) + x)``, ``(B, C)``: the last block's tail with an identity
    residual and the head's pooling, with compiled loops.

    Forward: the statistics, then one loop that keeps each channel's maximum and its position
    (the block output is never written). Backward: ``∂y`` is non-zero only at the ``B·C``
    arg-max positions, so ``∂z = ρ (∂u − E[∂u] − u E[∂u·u])`` is an affine function of ``z``
    per example, ``ρ(−E[∂u] + E[∂u·u] ρ μ) − E[∂u·u] ρ² z``, written in one loop, plus ``ρ ∂u``
    at those positions; the means and the slope's gradient are sums over ``B·C`` values.
    ``∂x`` is ``∂y`` at the same positions.
    """

    @staticmethod
    def forward(ctx: Any, z: Tensor, slope: Tensor, x: Tensor, eps: float) -> Tensor:
        z = z.contiguous()
        flat_z = z.flatten(2)
        flat_x = x.reshape(flat_z.shape)
        mean, rstd = _run_kernel(tail_kernels.moments, flat_z, slope, eps)
        values, indices = _run_kernel(tail_kernels.forward_max, flat_z, slope, flat_x, mean, rstd)
        ctx.x_shape, ctx.x_dtype = x.shape, x.dtype
        ctx.save_for_backward(z, slope, mean, rstd, indices)
        return values.to(z.dtype)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        z, slope, mean, rstd, indices = ctx.saved_tensors
        needs_z, needs_slope, needs_x, _ = ctx.needs_input_grad
        flat_z = z.flatten(2)
        size = flat_z.shape[1] * flat_z.shape[2]
        grad = grad.to(slope.dtype).contiguous()  # e.g. a broadcast gradient of a sum
        at = arg_max_positions(indices, flat_z.shape[2])  # flat offsets in z (and x)
        u, grad_u = arg_max_gradient(z.reshape(-1)[at].view(indices.shape), grad, slope, mean, rstd)
        grad_z = grad_slope = grad_x = None
        if needs_z or needs_slope:
            grad_slope = (grad * u.clamp(max=0)).sum().reshape(slope.shape)
            mean_grad = grad_u.sum(dim=1) / size
            mean_grad_u = (grad_u * u).sum(dim=1) / size
            scale = -mean_grad_u * rstd * rstd
            offset = -rstd * mean_grad - scale * mean
            flat = _run_kernel(tail_kernels.affine, flat_z, offset, scale)
            spikes = (rstd[:, None] * grad_u).view(-1)
            flat.view(-1)[at] = (flat.view(-1)[at].to(slope.dtype) + spikes).to(flat.dtype)
            grad_z = flat.view(z.shape)
        if needs_x:
            grad_x = torch.zeros(ctx.x_shape, dtype=ctx.x_dtype, device=z.device)
            grad_x.view(-1)[at] = grad.view(-1).to(ctx.x_dtype)
        return grad_z, grad_slope, grad_x, None


def has_forward_hooks(module: nn.Module) -> bool:
    """Whether calling ``module`` would run forward hooks (its own or global ones; pruning
    registers one): such a module is called, not bypassed by a fused function."""
    return bool(
        module._forward_hooks
        or module._forward_pre_hooks
        or torch_module._global_forward_hooks
        or torch_module._global_forward_pre_hooks
    )


TailArgs = tuple[Tensor, Tensor, Tensor, Tensor | None, Tensor | None, float]


def _fusable_tail(
    z: Tensor, x: Tensor, norm: nn.Module, act: nn.Module, residual: nn.Module
) -> TailArgs | None:
    """The arguments of the fused tail, or ``None`` when the modules must run one by one.

    They run one by one (plain tensor operations) under ``torch.compile``, which fuses them
    itself and cannot trace the eager function's ``float`` of the slope in a training graph,
    and under ``torch.jit.trace`` and ``torch.export``, which cannot keep a custom autograd
    function. Under CPU autocast (mixed precision) the tail is fusable when ``z`` has the
    autocast dtype (a GMConv that computes in it) and the parameters are float32; only the
    compiled tail takes such mixed arguments (:func:`_mixed`).
    """
    if torch.compiler.is_compiling() or exporting():
        return None
    projection = residual if isinstance(residual, ChannelProjection) else None
    if torch.is_autocast_enabled("cpu"):
        dtypes = (
            z.dtype == torch.get_autocast_dtype("cpu")
            and x.is_floating_point()
            and act.weight.dtype == torch.float32
        )
        parameter_dtype = torch.float32
    else:
        dtypes = z.dtype == x.dtype == act.weight.dtype in (torch.float32, torch.float64)
        parameter_dtype = z.dtype
    fusable = (
        not any(has_forward_hooks(m) for m in (norm, act, residual))
        and type(norm) is SignalLayerNorm
        and type(act) is nn.PReLU
        and act.weight.numel() == 1
        and (projection is not None or type(residual) is nn.Identity)
        and z.device.type == "cpu"
        and dtypes
        and (
            z.shape == x.shape
            if projection is None
            else x.shape[1] == projection.in_channels
            and x.shape[0] == z.shape[0]
            and x.shape[2:] == z.shape[2:]
            and projection.weight.dtype == parameter_dtype
        )
    )
    if not fusable:
        return None
    return (
        z,
        cast(Tensor, act.weight),
        x,
        None if projection is None else projection.weight,
        None if projection is None else projection.bias,
        float(cast(SignalLayerNorm, norm).eps),
    )


def _mixed(args: TailArgs) -> bool:
    """Whether ``z`` and the parameters differ in dtype (mixed precision; compiled only)."""
    return args[0].dtype != args[1].dtype


def _compiles(elements: int) -> bool:
    """Whether activations of ``elements`` values take the compiled kernels: compiling
    enabled and at least :data:`COMPILE_MIN_ELEMENTS` of them."""
    return elements >= COMPILE_MIN_ELEMENTS and compiled_tail_enabled()


def _use_compiled(args: TailArgs) -> bool:
    """Whether the tail takes the compiled path: compiling enabled and ``z`` large enough."""
    return _compiles(args[0].numel())


def compiled_call(
    function: Callable[..., Result],
    *args: Any,
    options: dict[str, Any] | None = None,
    what: str = "block tail",
) -> Result | None:
    """``torch.compile(function)(*args)`` (compiled once per process, for any batch size), or
    ``None`` for the caller to run its eager code: where compiling is off
    (:func:`compiled_tail_enabled`), for a call past dynamo's limit of compiled versions (that
    call only), and after a failed compilation (for example without a C++ compiler: one
    warning naming ``what``, and compiling stays off for the process). The one place the
    models' compiled kernels are called (block tails, regression layers).

    The tensors are passed detached (the kernels run inside autograd functions), so that
    ``requires_grad`` flags do not multiply the compiled versions.
    """
    if not compiled_tail_enabled():
        return None
    from torch._dynamo.exc import FailOnRecompileLimitHit  # loaded by torch.compile anyway

    detached = tuple(a.detach() if isinstance(a, Tensor) else a for a in args)
    try:
        return compiled_function(function, options)(*detached)
    except FailOnRecompileLimitHit:
        return None
    except Exception as error:  # no compiler, unsupported platform: stay eager
        _compile_failed.append(True)
        warnings.warn(
            f"torch.compile of the {what} failed ({type(error).__name__}: {error}); "
            f"using the eager fused {what}",
            RuntimeWarning,
            stacklevel=3,
        )
        return None


def _run_kernel(kernel: Callable[..., Result], *args: Any) -> Result:
    """``kernel(*args)``, compiled by :func:`compiled_call` where it can be, else eagerly."""
    result = compiled_call(kernel, *args)
    return kernel(*args) if result is None else result


def norm_prelu_residual(
    z: Tensor, x: Tensor, norm: nn.Module, act: nn.Module, residual: nn.Module
) -> Tensor:
    """``act(norm(z)) + residual(x)``, the tail of a residual block (App. A.2).

    With a :class:`SignalLayerNorm`, a one-slope ``nn.PReLU`` and an identity or
    :class:`ChannelProjection` residual on CPU, the tail is fused: for activations of at
    least :data:`COMPILE_MIN_ELEMENTS` elements by :class:`CompiledTail` (a statistics loop
    and one elementwise loop forward, one loop backward, compiled by ``torch.compile`` once
    per process), otherwise by the eager :class:`NormPReLUResidual`. Under CPU autocast with
    a ``z`` in the autocast dtype, the compiled tail reads ``z`` in that dtype, computes in
    float32 and returns the autocast dtype (half the memory traffic of float32 activations).
    Elsewhere (other modules; accelerators, whose allocators cache buffers; small inputs
    under autocast) the modules run one after the other. All compute the same function and
    gradients up to rounding.
    """
    args = _fusable_tail(z, x, norm, act, residual)
    if args is None:
        return act(norm(z)) + residual(x)  # type: ignore[no-any-return]
    if _use_compiled(args):
        with torch.autocast("cpu", enabled=False):  # the kernels cast mixed arguments
            compiled: Tensor = CompiledTail.apply(*args)  # type: ignore[no-untyped-call]
        return compiled
    if _mixed(args):
        return act(norm(z)) + residual(x)  # type: ignore[no-any-return]
    y: Tensor = NormPReLUResidual.apply(*args)  # type: ignore[no-untyped-call]
    return y


def norm_prelu_residual_max(
    z: Tensor, x: Tensor, norm: nn.Module, act: nn.Module, residual: nn.Module
) -> Tensor:
    """``GlobalMaxPool(act(norm(z)) + residual(x))``: the last block and the head's pooling.

    With an identity residual, where :func:`norm_prelu_residual` would take the compiled
    tail, :class:`CompiledTailMax`: the block's output is never written out and the pooling's
    gradient needs one loop over ``z``; otherwise the fused or plain tail and
    :class:`GlobalMaxPool`.
    """
    args = _fusable_tail(z, x, norm, act, residual)
    if args is not None and args[3] is None and _use_compiled(args):
        with torch.autocast("cpu", enabled=False):
            pooled: Tensor = CompiledTailMax.apply(z, args[1], x, args[5])  # type: ignore[no-untyped-call]
        return pooled
    return GlobalMaxPool()(norm_prelu_residual(z, x, norm, act, residual))  # type: ignore[no-any-return]
