"""The dynamics model's fused layer ``PReLU(GMConv(x)) + r`` equals the plain modules (issue 11).

:func:`gmcnn.models.regression_tail.conv_prelu_residual` runs :class:`RegressionLayer` with
eager kernels or, for large activations, its two ``torch.compile``-d passes; every variant
must give the values and all gradients of ``act(conv(x)) + residual`` in float64. The compiled
passes are plain functions (:func:`fused_forward`, :func:`fused_backward`); the default run
checks them uncompiled (the same operations), a slow test through ``torch.compile``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import torch
from torch import Tensor, nn

from gmcnn.groups import cyclic, dihedral, direct_product, symmetric
from gmcnn.models import GMCNNRegressor, layers
from gmcnn.models import regression_tail as rt
from gmcnn.nn import GMConv

GRID = direct_product(cyclic(5), cyclic(6))


@pytest.fixture(autouse=True)
def _private_random_state() -> Iterator[None]:
    with torch.random.fork_rng():
        torch.manual_seed(0)
        yield


def _layer(
    in_channels: int,
    out_channels: int,
    relaxation: str | None = "output_scaling",
    normalize: bool = False,
    bias: bool = True,
    group: object = GRID,
) -> tuple[GMConv, nn.PReLU]:
    conv = GMConv(
        group,  # type: ignore[arg-type]
        in_channels,
        out_channels,
        radius=1,
        channel_mixing="shared",
        relaxation=relaxation,  # type: ignore[arg-type]
        normalize=normalize,
        bias=bias,
    ).double()
    with torch.no_grad():
        if conv.position_scale is not None:
            conv.position_scale.uniform_(0.5, 1.5)
        if conv.bias is not None:
            conv.bias.uniform_(-0.3, 0.3)
    act = nn.PReLU().double()
    with torch.no_grad():
        act.weight.fill_(0.3)
    return conv, act


def _values_and_gradients(
    fn: Callable[..., Tensor], x: Tensor, residual: Tensor | None, conv: GMConv, act: nn.Module
) -> list[Tensor]:
    """The output and the gradients of every input and parameter for a fixed probe."""
    x = x.detach().clone().requires_grad_()
    leaves = [x]
    if residual is None:
        r = x
    else:
        r = residual.detach().clone().requires_grad_()
        leaves.append(r)
    params = [p for m in (conv, act) for p in m.parameters()]
    y = fn(x, r, conv, act)
    probe = torch.linspace(-1.0, 1.0, y.numel(), dtype=y.dtype).reshape(y.shape)
    return [y.detach(), *torch.autograd.grad(y, [*leaves, *params], probe)]


def _assert_same(actual: list[Tensor], expected: list[Tensor]) -> None:
    assert len(actual) == len(expected)
    for a, b in zip(actual, expected, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-11)


def _fused_eager(x: Tensor, r: Tensor, conv: nn.Module, act: nn.Module) -> Tensor:
    return rt.conv_prelu_residual(x, r, conv, act)


CASES = {
    "identity residual": (5, 5, "output_scaling", False, True),
    "projection residual": (3, 5, "output_scaling", False, True),
    "normalized": (5, 5, "output_scaling", True, True),
    "exact layer": (4, 4, None, False, True),
    "no bias": (3, 4, "output_scaling", True, False),
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("layout", ["grid", "flat"])
def test_fused_layer_equals_the_modules(case: str, layout: str) -> None:
    c_in, c_out, relaxation, normalize, bias = CASES[case]
    conv, act = _layer(c_in, c_out, relaxation, normalize, bias)
    shape = (5, 6) if layout == "grid" else (30,)
    x = torch.randn(3, c_in, *shape, dtype=torch.float64)
    residual = None if c_in == c_out else torch.randn(3, c_out, *shape, dtype=torch.float64)
    assert rt.fusable(x, x if residual is None else residual, conv, act)
    expected = _values_and_gradients(rt.reference_layer, x, residual, conv, act)
    _assert_same(_values_and_gradients(_fused_eager, x, residual, conv, act), expected)


@pytest.mark.parametrize("case", ["identity residual", "projection residual", "no bias"])
def test_the_compiled_passes_compute_the_same_function(
    case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The compiled route (``fused_forward`` / ``fused_backward``), run as plain operations."""
    c_in, c_out, relaxation, normalize, bias = CASES[case]
    conv, act = _layer(c_in, c_out, relaxation, normalize, bias)
    x = torch.randn(2, c_in, 5, 6, dtype=torch.float64)
    residual = None if c_in == c_out else torch.randn(2, c_out, 5, 6, dtype=torch.float64)
    calls: list[str] = []

    def uncompiled(function: Callable[..., object], *args: object, **_: object) -> object:
        calls.append(function.__name__)
        return function(*args)

    monkeypatch.setattr(rt, "compiled_call", uncompiled)
    monkeypatch.setattr(rt, "COMPILE_MIN_ELEMENTS", 0)
    expected = _values_and_gradients(rt.reference_layer, x, residual, conv, act)
    _assert_same(_values_and_gradients(_fused_eager, x, residual, conv, act), expected)
    assert calls == ["fused_forward", "fused_backward"]


@pytest.mark.parametrize("identity", [True, False])
@pytest.mark.parametrize("compiled_route", [False, True])
def test_regression_layer_passes_gradcheck(
    identity: bool, compiled_route: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if compiled_route:
        monkeypatch.setattr(rt, "compiled_call", lambda function, *args, **_: function(*args))
    conv, _ = _layer(3, 3 if identity else 4)
    assert conv.source is not None and conv.target is not None
    kernel = conv.kernel_size
    d = {"dtype": torch.float64, "requires_grad": True}
    x = torch.randn(2, 3, 30, **d)
    r = None if identity else torch.randn(2, 4, 30, **d)
    out_channels = 3 if identity else 4
    weight = torch.randn(out_channels, kernel, **d)
    bias = torch.randn(out_channels, **d)
    scale = torch.rand(30, dtype=torch.float64).add(0.5).requires_grad_()
    slope = torch.tensor([0.3], **d)

    def layer(x: Tensor, r: Tensor | None, *params: Tensor) -> Tensor:
        out: Tensor = rt.RegressionLayer.apply(  # type: ignore[no-untyped-call]
            x, r, *params, conv.source, conv.target, compiled_route
        )
        return out

    assert torch.autograd.gradcheck(layer, (x, r, weight, bias, scale, slope))


def test_the_regressor_uses_the_fused_layer_and_equals_the_modules() -> None:
    """A two-step rollout (the second input is a prediction, so it needs gradients) of the
    whole model, fused against its layers applied one by one, in float64."""
    model = GMCNNRegressor(GRID, 4, 2, hidden_channels=5, layers=3, normalize=True).double()
    with torch.no_grad():
        for conv in model.convs:
            conv.position_scale.uniform_(0.5, 1.5)
    x = torch.randn(3, 4, 5, 6, dtype=torch.float64)

    def rollout(fused: bool) -> list[Tensor]:
        params = list(model.parameters())
        window = x
        outputs = []
        for _ in range(2):
            h, residual = window, model.lift(window)
            for conv, act in zip(model.convs, model.acts, strict=True):
                layer = rt.conv_prelu_residual if fused else rt.reference_layer
                h = layer(h, residual, conv, act)
                residual = h
            frame = model.head(h)
            outputs.append(frame)
            window = torch.cat([window[:, 2:], frame], dim=1)
        y = torch.stack(outputs)
        probe = torch.linspace(-1.0, 1.0, y.numel(), dtype=y.dtype).reshape(y.shape)
        return [y.detach(), *torch.autograd.grad(y, params, probe)]

    first = model(x)
    assert any(type(f).__name__ == "RegressionLayerBackward" for f in _graph_functions(first))
    torch.testing.assert_close(first, rollout(False)[0][0], rtol=1e-10, atol=1e-11)
    _assert_same(rollout(True), rollout(False))


def _graph_functions(y: Tensor) -> list[object]:
    seen, stack = [], [y.grad_fn]
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.append(node)
        stack.extend(n for n, _ in node.next_functions)
    return seen


@pytest.mark.parametrize(
    "make",
    [
        lambda: GMConv(GRID, 3, 3, radius=1, channel_mixing="shared", relaxation="error_addition"),
        lambda: GMConv(GRID, 3, 3, radius=1, channel_mixing="full", relaxation="output_scaling"),
        lambda: GMConv(GRID, 3, 3, radius=1, channel_mixing="shared", rank=1),
    ],
    ids=["error addition", "full mixing", "low rank"],
)
def test_other_layers_run_the_modules(make: Callable[[], GMConv]) -> None:
    conv, act = make(), nn.PReLU()
    x = torch.randn(2, 3, 5, 6)
    assert not rt.fusable(x, x, conv, act)
    torch.testing.assert_close(rt.conv_prelu_residual(x, x, conv, act), act(conv(x)) + x)


def test_unfusable_inputs_run_the_modules() -> None:
    conv, act = _layer(3, 3)
    x = torch.randn(2, 3, 5, 6, dtype=torch.float64)
    assert not rt.fusable(x.float(), x.float(), conv, act)  # another dtype: the layer's error
    assert not rt.fusable(x, x[:, :2], conv, act)  # a residual of another shape
    assert not rt.fusable(x, x, conv, nn.PReLU(3).double())  # one slope per channel
    with pytest.raises(TypeError, match=r"GMConv got an input of dtype torch\.float32"):
        rt.conv_prelu_residual(x.float(), x.float(), conv, act)
    with pytest.raises(ValueError, match="GMConv got an input of shape"):
        rt.conv_prelu_residual(x[..., :5], x[..., :5], conv, act)


def test_other_groups_take_the_fused_gather_path() -> None:
    """Any group on the gather path: a dihedral grid and a permutation group."""
    for group, shape in ((direct_product(dihedral(3), cyclic(4)), (6, 4)), (symmetric(4), (24,))):
        conv, act = _layer(3, 3, group=group)
        x = torch.randn(2, 3, *shape, dtype=torch.float64)
        expected = _values_and_gradients(rt.reference_layer, x, None, conv, act)
        _assert_same(_values_and_gradients(_fused_eager, x, None, conv, act), expected)


@pytest.mark.slow  # torch.compile of two functions: 10-60 s on a busy 2-core machine
@pytest.mark.parametrize("case", ["identity residual", "projection residual", "normalized"])
def test_compiled_layer_equals_the_modules(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    c_in, c_out, relaxation, normalize, bias = CASES[case]
    conv, act = _layer(c_in, c_out, relaxation, normalize, bias)
    x = torch.randn(3, c_in, 5, 6, dtype=torch.float64)
    residual = None if c_in == c_out else torch.randn(3, c_out, 5, 6, dtype=torch.float64)
    monkeypatch.setattr(rt, "COMPILE_MIN_ELEMENTS", 0)
    failures = len(layers._compile_failed)
    expected = _values_and_gradients(rt.reference_layer, x, residual, conv, act)
    _assert_same(_values_and_gradients(_fused_eager, x, residual, conv, act), expected)
    assert len(layers._compile_failed) == failures, "torch.compile failed: the eager path ran"
