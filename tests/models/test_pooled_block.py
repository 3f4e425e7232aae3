"""The fused last blocks of a GM-CNN (:mod:`gmcnn.models.pooled_block`) equal the modules.

:class:`SharedConvTailMax` and :class:`TailSharedConvTailMax` compute the last block's
gradients from Gram matrices of the gather and the max pooling's spikes, never writing
``∂z``: checked by ``gradcheck`` in float64 on abelian and non-abelian groups, against the
plain modules inside a classifier, and in bfloat16 against float64 where the channel sum
has a large mean (which dominates the Gram matrices).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import prune

import gmcnn.models.pooled_block as pooled_block_module
from gmcnn.groups import FiniteGroup, cyclic, dihedral, direct_product, symmetric
from gmcnn.models import GMCNNClassifier, image_group
from gmcnn.models import layers as layers_module
from gmcnn.models.pooled_block import SharedConvTailMax, TailSharedConvTailMax
from gmcnn.nn import GMConv


@pytest.fixture(autouse=True)
def _private_random_state() -> Iterator[None]:
    with torch.random.fork_rng():
        yield


@pytest.fixture
def fused_small(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let small inputs take the fused paths, with the kernels run eagerly (no compiler)."""
    monkeypatch.setattr(layers_module, "_compiles", lambda elements: True)
    monkeypatch.setattr(layers_module, "_compile_failed", [True])


GROUPS = {
    "C5xC4": lambda: image_group(("C5", "C4"), (5, 4)),
    "S4": lambda: symmetric(4),
    "D4xC3": lambda: direct_product(dihedral(4), cyclic(3)),
}


def conv_tables(group: FiniteGroup, channels: int) -> tuple[torch.Tensor, torch.Tensor, int]:
    conv = GMConv(group, channels, channels, radius=1, channel_mixing="shared")
    assert conv.source is not None and conv.target is not None
    return conv.source, conv.target, conv.kernel_size


def f64(*shape: int, scale: float = 1.0, shift: float = 0.0) -> torch.Tensor:
    return (scale * torch.randn(*shape, dtype=torch.float64) + shift).requires_grad_()


@pytest.mark.usefixtures("fused_small")
@pytest.mark.parametrize("name", sorted(GROUPS))
@pytest.mark.parametrize("bias", [True, False])
def test_shared_conv_tail_max_passes_gradcheck(name: str, bias: bool) -> None:
    """Input, kernel, bias and slope gradients, on abelian and non-abelian groups."""
    torch.manual_seed(1)
    group = GROUPS[name]()
    channels = 3
    source, target, kernel_size = conv_tables(group, channels)
    x = f64(2, channels, group.order, shift=1.5)
    weight = f64(channels, 1, kernel_size, scale=0.5)
    b = f64(channels)
    slope = torch.tensor([0.3], dtype=torch.float64, requires_grad=True)

    def block(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return SharedConvTailMax.apply(  # type: ignore[no-any-return]
            x, w, b if bias else None, a, source, target, 1e-5
        )

    assert torch.autograd.gradcheck(block, (x, weight, b, slope))


@pytest.mark.usefixtures("fused_small")
@pytest.mark.parametrize(("name", "in_channels"), [("C5xC4", 2), ("S4", 0), ("D4xC3", 1)])
def test_tail_shared_conv_tail_max_passes_gradcheck(name: str, in_channels: int) -> None:
    """The previous block's tail (identity residual for 0 input channels, else a projection)
    with the last block: every argument's gradient, the input's included."""
    torch.manual_seed(2)
    group = GROUPS[name]()
    channels = 3
    source, target, kernel_size = conv_tables(group, channels)
    z = f64(2, channels, group.order, scale=2.0, shift=0.4)
    x = f64(2, in_channels or channels, group.order)
    proj, proj_bias = f64(channels, in_channels, 1), f64(channels)
    tail_slope = torch.tensor([0.2], dtype=torch.float64, requires_grad=True)
    weight, b = f64(channels, 1, kernel_size, scale=0.5), f64(channels)
    slope = torch.tensor([0.3], dtype=torch.float64, requires_grad=True)

    def blocks(*args: torch.Tensor) -> torch.Tensor:
        z, a1, x, pw, pb, w, b, a2 = args
        projection = (pw, pb) if in_channels else (None, None)
        return TailSharedConvTailMax.apply(  # type: ignore[no-any-return]
            z, a1, x, *projection, 1e-5, w, b, a2, source, target, 1e-5
        )

    inputs = (z, tail_slope, x, proj, proj_bias, weight, b, slope)
    assert torch.autograd.gradcheck(blocks, inputs)


def classifier(pool_after: tuple[int, ...] = (), **options: object) -> GMCNNClassifier:
    """A GM-CNN whose last block has K = 9 < O = 12 kernel elements."""
    group = image_group(("C6", "C6"), (6, 6))
    return GMCNNClassifier(
        group, 1, 3, channels=(12, 12, 12), radius=1, pool_after=pool_after, **options
    )  # type: ignore[arg-type]


def autograd_nodes(output: torch.Tensor) -> set[str]:
    """The type names of the autograd graph's nodes behind ``output``."""
    names, stack = set(), [output.grad_fn]
    while stack:
        node = stack.pop()
        if node is not None:
            names.add(type(node).__name__)
            stack.extend(next_node for next_node, _ in node.next_functions)
    return names


def values_and_grads(model: nn.Module, x: torch.Tensor, labels: torch.Tensor) -> list[torch.Tensor]:
    model.zero_grad()
    logits = model(x)
    F.cross_entropy(logits, labels).backward()
    return [logits.detach()] + [p.grad.clone() for p in model.parameters()]  # type: ignore[union-attr]


@pytest.mark.usefixtures("fused_small")
@pytest.mark.parametrize(
    ("pool_after", "fused"),
    [((), "TailSharedConvTailMax"), ((0,), "TailSharedConvTailMax"), ((1,), "SharedConvTailMax")],
)
def test_classifier_takes_the_fused_last_blocks(
    monkeypatch: pytest.MonkeyPatch, pool_after: tuple[int, ...], fused: str
) -> None:
    """With the previous block's tail where no pooling follows it, else the last block alone:
    the same logits and gradients as the modules, in float64."""
    torch.manual_seed(3)
    model = classifier(pool_after).double()
    x = torch.randn(4, 1, 6, 6, dtype=torch.float64) + 2.0
    labels = torch.tensor([0, 1, 2, 0])
    assert f"{fused}Backward" in autograd_nodes(model(x))
    fast = values_and_grads(model, x, labels)
    monkeypatch.setattr(pooled_block_module, "_last_block_dtype", lambda block, x: None)
    plain = values_and_grads(model, x, labels)
    for a, b in zip(fast, plain, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-11)


@pytest.mark.usefixtures("fused_small")
@pytest.mark.parametrize(
    "options",
    [
        {"channel_mixing": "full"},
        {"relaxation": "error_addition"},
        {"radius": 2},  # K = 25 >= O = 12: the plain products are cheaper
    ],
)
def test_other_last_blocks_run_as_modules(options: dict[str, object]) -> None:
    """Full mixing, a relaxed layer or at least as many kernel elements as output channels:
    no fused last block."""
    group = image_group(("C6", "C6"), (6, 6))
    radius = options.pop("radius", 1)
    model = GMCNNClassifier(group, 1, 3, channels=(12, 12), radius=radius, **options)  # type: ignore[arg-type]
    names = autograd_nodes(model(torch.randn(2, 1, 6, 6)))
    assert not any("SharedConvTailMax" in name for name in names)


@pytest.mark.usefixtures("fused_small")
def test_bf16_fused_gradients_are_as_accurate_as_the_modules() -> None:
    """Under bfloat16 autocast, with a channel sum whose mean is many times its spread (a
    large residual bias), the fused blocks' gradients are as close to float64 as the
    modules'."""
    torch.manual_seed(4)
    model = classifier()
    nn.init.constant_(model.blocks[0].residual.bias, 3.0)  # type: ignore[arg-type]
    x = torch.rand(16, 1, 6, 6)
    labels = torch.randint(0, 3, (16,))
    exact = values_and_grads(model.double(), x.double(), labels)
    model.float()

    def mixed() -> list[torch.Tensor]:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return values_and_grads(model, x, labels)

    fast = mixed()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pooled_block_module, "_last_block_dtype", lambda block, x: None)
        plain = mixed()
    for f, p, e in zip(fast, plain, exact, strict=True):
        fast_error = float((f.double() - e).norm() / e.norm())
        plain_error = float((p.double() - e).norm() / e.norm())
        assert fast_error <= 2 * plain_error + 1e-3, (fast_error, plain_error)


@pytest.mark.usefixtures("fused_small")
def test_gradients_of_some_arguments_only() -> None:
    """Frozen arguments (no gradient asked for) leave the others' gradients exact."""
    torch.manual_seed(5)
    group = GROUPS["D4xC3"]()
    source, target, kernel_size = conv_tables(group, 3)
    z = f64(2, 3, group.order, scale=2.0)
    x = torch.randn(2, 1, group.order, dtype=torch.float64)  # an image: no gradient
    proj, proj_bias = torch.randn(3, 1, 1, dtype=torch.float64), f64(3)
    tail_slope = torch.tensor([0.2], dtype=torch.float64)
    weight, slope = f64(3, 1, kernel_size), torch.tensor([0.3], dtype=torch.float64)

    def blocks(z: torch.Tensor, pb: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return TailSharedConvTailMax.apply(  # type: ignore[no-any-return]
            z, tail_slope, x, proj, pb, 1e-5, w, None, slope, source, target, 1e-5
        )

    assert torch.autograd.gradcheck(blocks, (z, proj_bias, weight))


@pytest.mark.usefixtures("fused_small")
def test_float16_autocast_runs_the_modules() -> None:
    """float16 would overflow in the Gram matrices: under float16 autocast the last blocks
    run as modules, and every gradient is finite."""
    model = classifier()
    x = torch.rand(2, 1, 6, 6)
    with torch.autocast("cpu", dtype=torch.float16):
        logits = model(x)
        assert not any("SharedConvTailMax" in name for name in autograd_nodes(logits))
        logits.sum().backward()
    assert all(bool(p.grad.isfinite().all()) for p in model.parameters())  # type: ignore[union-attr]


@pytest.mark.usefixtures("fused_small")
def test_hooked_modules_are_called() -> None:
    """A forward hook on the last blocks, their norm or activation or the head's pooling, or
    a pre-hook on the last GMConv (as pruning registers), runs: hooked modules are called,
    not fused."""
    model = classifier()
    x = torch.rand(2, 1, 6, 6)
    calls: list[str] = []
    handle = model.blocks[1].register_forward_hook(lambda *args: calls.append("block"))
    model(x)
    assert calls == ["block"]
    handle.remove()
    for module in (model.blocks[2], model.head_pool, model.blocks[1].norm, model.act):
        calls.clear()
        handle = module.register_forward_hook(lambda *args: calls.append("hook"))
        model(x)
        handle.remove()
        assert calls, module  # the shared PReLU runs once per block
    prune.l1_unstructured(model.blocks[2].conv, "weight", 0.5)
    for _ in range(2):  # a stale pruned weight would fail the second backward pass
        model(x).sum().backward()
    assert not any("SharedConvTailMax" in name for name in autograd_nodes(model(x)))


@pytest.mark.usefixtures("fused_small")
def test_inconsistent_blocks_raise_the_layers_error() -> None:
    """Blocks whose channel counts do not chain raise GMConv's ``ValueError``, not a
    broadcast result."""
    group = image_group(("C6", "C6"), (6, 6))
    first = GMCNNClassifier(group, 1, 3, channels=(1,), radius=1).blocks[0]
    last = classifier().blocks[2]
    with pytest.raises(ValueError, match="GMConv got an input of shape"):
        pooled_block_module.pooled_head(first.parts, last.parts, torch.rand(2, 1, 6, 6))


@pytest.mark.slow  # compiling takes 10-40 s (cold cache)
@pytest.mark.skipif(
    not layers_module.compiled_tail_enabled(), reason="torch.compile disabled (GMCNN_COMPILE=0)"
)
@pytest.mark.parametrize("bf16", [False, True])
def test_compiled_fused_blocks_equal_the_modules(
    monkeypatch: pytest.MonkeyPatch, bf16: bool
) -> None:
    """With the kernels compiled by ``torch.compile`` (forced on small inputs), in float32 and
    under bfloat16 autocast: the classifier's logits and gradients match the modules' to
    the precision's rounding."""
    monkeypatch.setattr(layers_module, "COMPILE_MIN_ELEMENTS", 0)
    monkeypatch.setattr(layers_module, "_compiled", {})
    torch.manual_seed(6)
    model = classifier()
    x = torch.rand(8, 1, 6, 6)
    labels = torch.randint(0, 3, (8,))

    def run() -> list[torch.Tensor]:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            return values_and_grads(model, x, labels)

    assert "TailSharedConvTailMaxBackward" in autograd_nodes(model(x))
    fused = run()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pooled_block_module, "_last_block_dtype", lambda block, x: None)
        plain = run()
    tolerance = 3e-2 if bf16 else 1e-4
    for a, b in zip(fused, plain, strict=True):
        assert float((a - b).norm()) <= tolerance * float(b.norm()) + 1e-5
    assert layers_module.compiled_tail_enabled(), "the compilation fell back to eager"


@pytest.mark.usefixtures("fused_small")
def test_an_empty_batch_gives_empty_logits() -> None:
    """Batch 0 runs (as the modules do), with and without gradients."""
    model = classifier()
    logits = model(torch.rand(0, 1, 6, 6))
    assert logits.shape == (0, 3)
    logits.sum().backward()
