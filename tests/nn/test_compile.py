"""The layers trace into one graph under torch.compile (every path, pooling), training included.

``fullgraph=True`` turns any graph break into an error. The default run compiles every layer
of :mod:`tests.nn.zoo` with the cheap ``aot_eager`` backend (dynamo's capture, where graph
breaks happen, and the autograd graph); the inductor runs are marked slow.
"""

from __future__ import annotations

import pytest
import torch
from tests.nn.zoo import LAYERS
from torch import nn

from gmcnn.groups import cyclic, dihedral, direct_product, symmetric
from gmcnn.nn import GMConv, GMPool


def _network() -> nn.Module:
    C = cyclic(8)
    G = direct_product(C, C)
    pool = GMPool(G, G.product_subgroup(C.subgroup([2]), C.subgroup([2])))
    return nn.Sequential(
        GMConv(G, 2, 4, radius=1, channel_mixing="shared"),
        pool,
        GMConv(pool.output_group, 4, 3, radius=1, rank=1),
    )


def _check(module: nn.Module, x: torch.Tensor, backend: str) -> None:
    """Forward and backward (input and parameter gradients) of the compiled module."""
    compiled = torch.compile(module, backend=backend, fullgraph=True)
    x1 = x.clone().requires_grad_()
    x2 = x.clone().requires_grad_()
    params = list(module.parameters())
    expected, actual = module(x1), compiled(x2)
    torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-6)
    probe = torch.randn_like(expected)
    eager_grads = torch.autograd.grad((expected * probe).sum(), [x1, *params])
    compiled_grads = torch.autograd.grad((actual * probe).sum(), [x2, *params])
    for a, b in zip(compiled_grads, eager_grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", list(LAYERS))
def test_every_layer_compiles_in_one_graph_for_training(name: str) -> None:
    torch._dynamo.reset()
    layer, x = LAYERS[name]()
    _check(layer, x, backend="aot_eager")


@pytest.mark.parametrize(
    "module",
    [
        GMConv(direct_product(dihedral(3), cyclic(4)), 2, 3, radius=1, implementation="conv"),
        GMConv(direct_product(dihedral(3), cyclic(4)), 2, 3, radius=1, implementation="fft"),
        GMConv(symmetric(4), 2, 3, radius=1, relaxation="error_addition"),
    ],
    ids=["conv-path", "fft-path", "gather-path"],
)
def test_layers_trace_without_graph_breaks(module: nn.Module) -> None:
    torch._dynamo.reset()
    order = module.group.order  # type: ignore[union-attr]
    _check(module, torch.randn(2, 2, order), backend="aot_eager")


def test_network_traces_without_graph_breaks() -> None:
    torch._dynamo.reset()
    _check(_network(), torch.randn(2, 2, 8, 8), backend="aot_eager")


@pytest.mark.slow
def test_network_compiles_with_inductor() -> None:
    torch._dynamo.reset()
    _check(_network(), torch.randn(2, 2, 8, 8), backend="inductor")


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:Torchinductor does not support code generation for complex")
def test_fourier_path_compiles_with_inductor() -> None:
    """Inductor leaves the complex products to eager kernels (with a warning), exactly."""
    torch._dynamo.reset()
    layer = GMConv(direct_product(dihedral(3), cyclic(4)), 2, 3, radius=1, implementation="fft")
    _check(layer, torch.randn(2, 2, 24), backend="inductor")
