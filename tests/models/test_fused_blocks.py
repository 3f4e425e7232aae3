"""The fused block tail ``PReLU(LayerNorm(z)) + residual(x)`` equals the plain modules (App. A.2).

:func:`gmcnn.models.layers.norm_prelu_residual` runs the eager :class:`NormPReLUResidual`
or, for large CPU activations, a ``torch.compile``-d tail; both must give the same values and
gradients as the modules applied one after the other.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import gmcnn.models.classifier as classifier_module
import gmcnn.models.pooled_block as pooled_block_module
from gmcnn.models import (
    ChannelProjection,
    GMCNNClassifier,
    SignalLayerNorm,
    image_group,
    tail_kernels,
)
from gmcnn.models import layers as layers_module
from gmcnn.models.layers import (
    GlobalMaxPool,
    NormPReLUResidual,
    norm_prelu_residual,
    norm_prelu_residual_max,
)


@pytest.fixture(autouse=True)
def _private_random_state() -> Iterator[None]:
    """Seed freely here without changing the random state that later test modules see."""
    with torch.random.fork_rng():
        yield


def plain_tail(
    z: torch.Tensor, x: torch.Tensor, norm: nn.Module, act: nn.Module, res: nn.Module
) -> torch.Tensor:
    """The straightforward block tail."""
    y: torch.Tensor = act(norm(z)) + res(x)
    return y


def plain_tail_max(
    z: torch.Tensor, x: torch.Tensor, norm: nn.Module, act: nn.Module, res: nn.Module
) -> torch.Tensor:
    """The straightforward block tail followed by the head's global max pooling."""
    pooled: torch.Tensor = GlobalMaxPool()(plain_tail(z, x, norm, act, res))
    return pooled


def tail_modules(
    in_channels: int, out_channels: int, dtype: torch.dtype
) -> tuple[nn.Module, nn.Module, nn.Module]:
    act = nn.PReLU().to(dtype)
    with torch.no_grad():
        act.weight.fill_(0.3)
    residual: nn.Module = (
        ChannelProjection(in_channels, out_channels).to(dtype)
        if in_channels != out_channels
        else nn.Identity()
    )
    return SignalLayerNorm(), act, residual


def values_and_gradients(
    fn: Callable[..., torch.Tensor],
    z: torch.Tensor,
    x: torch.Tensor,
    modules: tuple[nn.Module, nn.Module, nn.Module],
) -> list[torch.Tensor]:
    z = z.detach().clone().requires_grad_()
    x = x.detach().clone().requires_grad_()
    params = [p for m in modules for p in m.parameters()]
    y = fn(z, x, *modules)
    grad = torch.linspace(-1.0, 1.0, y.numel(), dtype=y.dtype).reshape(y.shape)
    grads = torch.autograd.grad(y, [z, x, *params], grad)
    return [y.detach(), *grads]


@pytest.mark.parametrize(("in_channels", "out_channels"), [(5, 5), (1, 5), (3, 4)])
def test_eager_fused_tail_equals_the_plain_modules(in_channels: int, out_channels: int) -> None:
    torch.manual_seed(0)
    z = 2.0 * torch.randn(3, out_channels, 4, 6, dtype=torch.float64) + 0.5
    x = torch.randn(3, in_channels, 4, 6, dtype=torch.float64)
    modules = tail_modules(in_channels, out_channels, torch.float64)
    fused = values_and_gradients(norm_prelu_residual, z, x, modules)
    plain = values_and_gradients(plain_tail, z, x, modules)
    for a, b in zip(fused, plain, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_eager_fused_tail_passes_gradcheck() -> None:
    torch.manual_seed(1)
    z = torch.randn(2, 3, 5, dtype=torch.float64, requires_grad=True)
    x = torch.randn(2, 2, 5, dtype=torch.float64, requires_grad=True)
    slope = torch.tensor([0.2], dtype=torch.float64, requires_grad=True)
    weight = torch.randn(3, 2, 1, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(3, dtype=torch.float64, requires_grad=True)
    x_same = torch.randn(2, 3, 5, dtype=torch.float64, requires_grad=True)

    def projected(*args: torch.Tensor) -> torch.Tensor:
        return NormPReLUResidual.apply(*args, 1e-5)  # type: ignore[no-any-return]

    def identity(z: torch.Tensor, s: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return NormPReLUResidual.apply(z, s, x, None, None, 1e-5)  # type: ignore[no-any-return]

    assert torch.autograd.gradcheck(projected, (z, slope, x, weight, bias))
    assert torch.autograd.gradcheck(identity, (z, slope, x_same))


@pytest.mark.slow  # compiling takes 5-25 s (cold cache)
@pytest.mark.skipif(
    not layers_module.compiled_tail_enabled(), reason="torch.compile disabled (GMCNN_COMPILE=0)"
)
@pytest.mark.parametrize(("in_channels", "out_channels"), [(6, 6), (1, 6)])
@pytest.mark.parametrize("max_first", [False, True])
def test_compiled_tail_equals_the_plain_modules(
    in_channels: int, out_channels: int, max_first: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ``torch.compile`` path (forced on small inputs) matches to float32 rounding,
    whichever of the two compiled tails a process uses first."""
    monkeypatch.setattr(layers_module, "COMPILE_MIN_ELEMENTS", 0)
    monkeypatch.setattr(layers_module, "_compiled", {})
    torch.manual_seed(2)
    modules = tail_modules(in_channels, out_channels, torch.float32)
    pairs = [(norm_prelu_residual, plain_tail), (norm_prelu_residual_max, plain_tail_max)]
    if max_first:
        pairs.reverse()
    for batch in (4, 3):  # one compilation serves every batch size
        z = 2.0 * torch.randn(batch, out_channels, 5, 7) + 0.5
        x = torch.randn(batch, in_channels, 5, 7)
        for fused_fn, plain_fn in pairs:
            compiled = values_and_gradients(fused_fn, z, x, modules)
            plain = values_and_gradients(plain_fn, z, x, modules)
            for a, b in zip(compiled, plain, strict=True):
                torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    assert layers_module.compiled_tail_enabled(), "the compilation fell back to eager"


@pytest.mark.slow  # compiling takes 5-25 s (cold cache)
@pytest.mark.skipif(
    not layers_module.compiled_tail_enabled(), reason="torch.compile disabled (GMCNN_COMPILE=0)"
)
@pytest.mark.parametrize(("in_channels", "out_channels"), [(6, 6), (1, 6)])
def test_compiled_mixed_precision_tail_is_within_bfloat16_rounding(
    in_channels: int, out_channels: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under CPU autocast, a bfloat16 ``z`` (a GMConv's output) takes the compiled tail, which
    returns bfloat16 within its rounding of the float32 tail, with float32 parameter
    gradients; the input keeps its dtype (float32 for the first block)."""
    monkeypatch.setattr(layers_module, "COMPILE_MIN_ELEMENTS", 0)
    monkeypatch.setattr(layers_module, "_compiled", {})
    torch.manual_seed(5)
    modules = tail_modules(in_channels, out_channels, torch.float32)
    z = 2.0 * torch.randn(4, out_channels, 5, 7) + 0.5
    x = torch.randn(4, in_channels, 5, 7)
    x_half = x if in_channels == 1 else x.bfloat16()
    for fused_fn, plain_fn in [
        (norm_prelu_residual, plain_tail),
        (norm_prelu_residual_max, plain_tail_max),
    ]:
        expected = values_and_gradients(plain_fn, z.bfloat16().float(), x_half.float(), modules)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            mixed = values_and_gradients(fused_fn, z.bfloat16(), x_half, modules)
        assert mixed[0].dtype == torch.bfloat16 and mixed[2].dtype == x_half.dtype
        for a, b in zip(mixed, expected, strict=True):
            torch.testing.assert_close(a.float(), b, rtol=3e-2, atol=3e-2)
    assert layers_module.compiled_tail_enabled(), "the compilation fell back to eager"


def test_mixed_precision_tails_take_the_compiled_or_the_plain_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Under autocast a bfloat16 ``z`` with float32 parameters is fusable, but only by the
    compiled tail (the eager function needs one dtype): with compiling off, the modules run.
    A float32 ``z`` under autocast (a GMConv that computed in float32) is not fusable."""
    torch.manual_seed(6)
    norm, act, res = tail_modules(1, 3, torch.float32)
    z, x = torch.randn(2, 3, 4), torch.randn(2, 1, 4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        args = layers_module._fusable_tail(z.bfloat16(), x, norm, act, res)
        assert args is not None and layers_module._mixed(args)
        assert layers_module._fusable_tail(z, x, norm, act, res) is None
        monkeypatch.setenv("GMCNN_COMPILE", "0")
        y = norm_prelu_residual(z.bfloat16(), x, norm, act, res)
    assert "NormPReLUResidual" not in type(y.grad_fn).__name__
    torch.testing.assert_close(
        y.float(), plain_tail(z.bfloat16().float(), x, norm, act, res), rtol=2e-2, atol=2e-2
    )
    args = layers_module._fusable_tail(z, x, norm, act, res)
    assert args is not None and not layers_module._mixed(args)


def test_classifier_with_fused_blocks_equals_the_plain_network(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A whole GM-CNN (projection, identity and pooling blocks, the last block fused with the
    global max pooling): same outputs and gradients as the modules one after the other."""
    torch.manual_seed(3)
    G = image_group(("C8", "C8"), (8, 8))
    model = GMCNNClassifier(G, 1, 3, channels=(4, 4, 5), radius=1, pool_after=(1,)).double()
    x = torch.randn(6, 1, 8, 8, dtype=torch.float64)
    labels = torch.tensor([0, 1, 2, 0, 1, 2])

    def run() -> list[torch.Tensor]:
        model.zero_grad()
        logits = model(x)
        torch.nn.functional.cross_entropy(logits, labels).backward()
        return [logits.detach()] + [p.grad.clone() for p in model.parameters()]  # type: ignore[union-attr]

    fused = run()
    monkeypatch.setattr(classifier_module, "norm_prelu_residual", plain_tail)
    monkeypatch.setattr(pooled_block_module, "norm_prelu_residual", plain_tail)
    monkeypatch.setattr(pooled_block_module, "norm_prelu_residual_max", plain_tail_max)
    plain = run()
    for a, b in zip(fused, plain, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_unfusable_tails_run_the_modules() -> None:
    """Per-channel PReLU, other norms and autocast take the plain path, with the same result."""
    torch.manual_seed(4)
    z = torch.randn(2, 3, 4)
    x = torch.randn(2, 3, 4)
    norm, act, res = tail_modules(3, 3, torch.float32)
    per_channel = nn.PReLU(3)
    for modules in ((norm, per_channel, res), (nn.Identity(), act, res)):
        expected = plain_tail(z, x, *modules)
        torch.testing.assert_close(norm_prelu_residual(z, x, *modules), expected)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = norm_prelu_residual(z, x, norm, act, res)
    assert y.grad_fn is None or "NormPReLUResidual" not in type(y.grad_fn).__name__
    torch.testing.assert_close(y.float(), plain_tail(z, x, norm, act, res), rtol=2e-2, atol=2e-2)


def test_a_bf16_mixed_classifier_step_is_within_bfloat16_rounding() -> None:
    """``trainer.precision=bf16-mixed``: the shared GMConvs compute in bfloat16, the loss and
    every float32 parameter gradient stay within bfloat16 rounding of the float32 step."""
    torch.manual_seed(7)
    G = image_group(("C8", "C8"), (8, 8))
    model = GMCNNClassifier(G, 1, 3, channels=(6, 6), radius=1)
    x = torch.rand(8, 1, 8, 8)
    labels = torch.randint(0, 3, (8,))

    def step(bf16: bool) -> list[torch.Tensor]:
        model.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = torch.nn.functional.cross_entropy(model(x), labels)
        loss.backward()
        grads = [p.grad.clone() for p in model.parameters()]  # type: ignore[union-attr]
        assert all(g.dtype == torch.float32 for g in grads)
        return [loss.detach().float(), *grads]

    exact, mixed = step(False), step(True)
    for a, b in zip(mixed, exact, strict=True):
        assert float((a - b).norm()) <= 3e-2 * float(b.norm()) + 1e-4


@pytest.fixture
def eager_kernels(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run the compiled tails' kernels eagerly (what a failed compilation falls back to)."""
    monkeypatch.setattr(layers_module, "_compile_failed", [True])


@pytest.mark.usefixtures("eager_kernels")
@pytest.mark.parametrize(("in_channels", "bias"), [(3, True), (1, True), (2, False), (0, False)])
def test_compiled_tail_passes_gradcheck(in_channels: int, bias: bool) -> None:
    """The hand-written backward of :class:`CompiledTail` (identity residual for 0 input
    channels, else a projection with or without bias), in float64."""
    torch.manual_seed(8)
    channels = 3
    z = (2.0 * torch.randn(2, channels, 5, dtype=torch.float64) + 0.7).requires_grad_()
    slope = torch.tensor([0.2], dtype=torch.float64, requires_grad=True)
    x = torch.randn(2, in_channels or channels, 5, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(channels, in_channels, 1, dtype=torch.float64, requires_grad=True)
    b = torch.randn(channels, dtype=torch.float64, requires_grad=True)

    def tail(*args: torch.Tensor) -> torch.Tensor:
        w = args[3] if in_channels else None
        return layers_module.CompiledTail.apply(  # type: ignore[no-any-return]
            args[0], args[1], args[2], w, args[4] if bias else None, 1e-5
        )

    assert torch.autograd.gradcheck(tail, (z, slope, x, weight, b))


@pytest.mark.usefixtures("eager_kernels")
def test_compiled_tail_max_passes_gradcheck() -> None:
    """:class:`CompiledTailMax`'s sparse backward (affine in ``z`` plus the arg-max spikes)."""
    torch.manual_seed(9)
    z = (2.0 * torch.randn(3, 4, 2, 3, dtype=torch.float64) - 0.4).requires_grad_()
    slope = torch.tensor([0.3], dtype=torch.float64, requires_grad=True)
    x = torch.randn(3, 4, 2, 3, dtype=torch.float64, requires_grad=True)

    def pooled(z: torch.Tensor, s: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return layers_module.CompiledTailMax.apply(z, s, x, 1e-5)  # type: ignore[no-any-return]

    assert torch.autograd.gradcheck(pooled, (z, slope, x))


@pytest.mark.usefixtures("eager_kernels")
@pytest.mark.parametrize(("in_channels", "out_channels"), [(5, 5), (1, 5), (3, 4)])
def test_compiled_tails_equal_the_plain_modules(in_channels: int, out_channels: int) -> None:
    """Values and gradients of both compiled tails (kernels run eagerly) in float64, as
    :func:`norm_prelu_residual` and :func:`norm_prelu_residual_max` dispatch them."""
    torch.manual_seed(10)
    modules = tail_modules(in_channels, out_channels, torch.float64)
    z = 2.0 * torch.randn(3, out_channels, 4, 6, dtype=torch.float64) + 0.5
    x = torch.randn(3, in_channels, 4, 6, dtype=torch.float64)
    for fused_fn, plain_fn in [
        (norm_prelu_residual, plain_tail),
        (norm_prelu_residual_max, plain_tail_max),
    ]:
        args = layers_module._fusable_tail(z, x, *modules)
        assert args is not None
        fused = values_and_gradients(fused_fn, z, x, modules)
        plain = values_and_gradients(plain_fn, z, x, modules)
        for a, b in zip(fused, plain, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


@pytest.fixture
def compiled_dispatch(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let small inputs take the compiled tails, with their kernels run eagerly."""
    monkeypatch.setattr(layers_module, "_compiles", lambda elements: True)
    monkeypatch.setattr(layers_module, "_compile_failed", [True])


@pytest.mark.usefixtures("compiled_dispatch")
def test_large_inputs_dispatch_to_the_compiled_tails() -> None:
    """Where the compiled path is chosen, every fusable tail takes :class:`CompiledTail`, and
    the last block with an identity residual :class:`CompiledTailMax` (a projection: tail,
    then max)."""
    norm, act, identity = tail_modules(3, 3, torch.float64)
    z = torch.randn(2, 3, 4, dtype=torch.float64, requires_grad=True)
    x = torch.randn(2, 3, 4, dtype=torch.float64)
    assert type(norm_prelu_residual(z, x, norm, act, identity).grad_fn).__name__.startswith(
        "CompiledTail"
    )
    pooled = norm_prelu_residual_max(z, x, norm, act, identity)
    assert type(pooled.grad_fn).__name__.startswith("CompiledTailMax")
    _, _, projection = tail_modules(2, 3, torch.float64)
    x2 = torch.randn(2, 2, 4, dtype=torch.float64)
    pooled = norm_prelu_residual_max(z, x2, norm, act, projection)
    torch.testing.assert_close(pooled, plain_tail_max(z, x2, norm, act, projection))


@given(
    offset=st.floats(-1e4, 1e4),
    scale=st.floats(1e-2, 1e2),
    seed=st.integers(0, 2**16),
)
@settings(max_examples=40, deadline=None)
def test_moments_match_layer_norm_statistics(offset: float, scale: float, seed: int) -> None:
    """The one-pass shifted moments give the mean and ``1/√(σ² + ε)`` of a float32 ``z`` to
    float32 precision (against exact statistics of the same values) even for a mean 10⁶
    times the spread: the shift avoids the cancellation of ``E[z²] − E[z]²``."""
    generator = torch.Generator().manual_seed(seed)
    z = offset + scale * torch.randn(3, 4, 50, generator=generator, dtype=torch.float64)
    values = z.float()
    mean, rstd = tail_kernels.moments(values, torch.ones(1), 1e-5)
    exact = torch.native_layer_norm(values.double(), z.shape[1:], None, None, 1e-5)
    torch.testing.assert_close(mean.double(), exact[1].view(-1), rtol=1e-6, atol=1e-6 * scale)
    torch.testing.assert_close(rstd.double(), exact[2].view(-1), rtol=1e-5, atol=0.0)


@pytest.mark.usefixtures("eager_kernels")
def test_compiled_tail_max_takes_a_broadcast_gradient() -> None:
    """The incoming gradient may be any strided tensor, e.g. the broadcast gradient of a
    sum over channels (the plain modules accept it too)."""
    torch.manual_seed(11)
    z = torch.randn(2, 3, 5, requires_grad=True)
    x = torch.randn(2, 3, 5, requires_grad=True)
    slope = torch.tensor([0.25], requires_grad=True)
    pooled = layers_module.CompiledTailMax.apply(z, slope, x, 1e-5)
    grads = torch.autograd.grad(pooled.sum(dim=1).square().sum(), (z, slope, x))
    norm, act, _ = tail_modules(3, 3, torch.float32)
    with torch.no_grad():
        act.weight.copy_(slope)
    expected = plain_tail_max(z, x, norm, act, nn.Identity())
    reference = torch.autograd.grad(expected.sum(dim=1).square().sum(), (z, act.weight, x))
    for a, b in zip(grads, reference, strict=True):
        torch.testing.assert_close(a, b)


def test_a_kernel_beyond_the_recompile_limit_runs_eagerly(monkeypatch: pytest.MonkeyPatch) -> None:
    """A call that would need one more compiled version runs the kernel eagerly, without the
    warning of a failed compilation and without turning the compiled tails off."""
    from torch._dynamo.exc import FailOnRecompileLimitHit

    def limit(*args: object) -> None:
        raise FailOnRecompileLimitHit("recompile limit")

    monkeypatch.setattr(layers_module, "_compile_failed", [])
    monkeypatch.setattr(layers_module, "compiled_function", lambda kernel, options=None: limit)
    monkeypatch.delenv("GMCNN_COMPILE", raising=False)
    z = torch.randn(2, 3, 4)
    mean, _ = layers_module._run_kernel(tail_kernels.moments, z, torch.ones(1), 1e-5)
    torch.testing.assert_close(mean, z.mean(dim=(1, 2)))
    assert layers_module.compiled_tail_enabled()
