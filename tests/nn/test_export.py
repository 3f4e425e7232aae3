"""Every layer and path exports: ``torch.jit.trace`` + ``jit.save``/``jit.load`` and
``torch.export.export`` give the eager output back, for other batch sizes too.

The fast paths' custom autograd functions are Python code that neither route can keep;
under them the layers run the same computation as plain tensor operations
(:func:`gmcnn.nn.functional.exporting`).
"""

from __future__ import annotations

import inspect
import io
import warnings

import pytest
import torch
from tests.nn.zoo import LAYERS
from torch import Tensor, nn
from torch.export import Dim

from gmcnn.groups import cyclic, direct_product
from gmcnn.nn import GMPool, GMUnpool

# torch 2.13 deprecates torch.jit in favour of torch.export; both routes are still tested.
pytestmark = pytest.mark.filterwarnings(r"ignore:`torch\.jit\.\w+` is deprecated")


def jit_round_trip(module: nn.Module, *inputs: Tensor) -> torch.jit.ScriptModule:
    """``torch.jit.trace``, then ``jit.save`` and ``jit.load`` through memory."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", torch.jit.TracerWarning)  # none of ours
        traced = torch.jit.trace(module, inputs)
    buffer = io.BytesIO()
    torch.jit.save(traced, buffer)
    buffer.seek(0)
    return torch.jit.load(buffer)


def batch_of(x: Tensor, size: int) -> Tensor:
    return torch.randn(size, *x.shape[1:], dtype=x.dtype)


@pytest.mark.parametrize("name", list(LAYERS))
def test_jit_trace_save_and_load_give_the_eager_output(name: str) -> None:
    layer, x = LAYERS[name]()
    layer.eval()
    loaded = jit_round_trip(layer, x)
    other = batch_of(x, 5)  # the batch size is not fixed by the trace
    with torch.no_grad():
        for inputs in (x, other):
            torch.testing.assert_close(loaded(inputs), layer(inputs), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", list(LAYERS))
def test_torch_export_gives_the_eager_output(name: str) -> None:
    layer, x = LAYERS[name]()
    layer.eval()
    argument = next(iter(inspect.signature(layer.forward).parameters))
    program = torch.export.export(layer, (x,), dynamic_shapes={argument: {0: Dim("batch")}})
    exported = program.module()
    with torch.no_grad():
        for inputs in (x, batch_of(x, 5)):
            torch.testing.assert_close(exported(inputs), layer(inputs), rtol=1e-5, atol=1e-6)


def test_pooling_with_indices_and_unpooling_export() -> None:
    C8 = cyclic(8)
    G = direct_product(C8, C8)
    K = G.product_subgroup(C8.subgroup([2]), C8.subgroup([2]))
    pool, unpool = GMPool(G, K, return_indices=True), GMUnpool(G, K, mode="max")
    x = torch.randn(2, 3, 8, 8)
    values, indices = pool(x)
    for exported_pool in (jit_round_trip(pool, x), torch.export.export(pool, (x,)).module()):
        got_values, got_indices = exported_pool(x)
        torch.testing.assert_close(got_values, values)
        assert torch.equal(got_indices, indices)
    expected = unpool(values, indices)
    torch.testing.assert_close(jit_round_trip(unpool, values, indices)(values, indices), expected)
    program = torch.export.export(unpool, (values, indices))
    torch.testing.assert_close(program.module()(values, indices), expected)


def test_exported_layer_trains_like_the_eager_one() -> None:
    """The plain operations differentiate like the custom functions (autograd's backward)."""
    layer, x = LAYERS["fft-full"]()
    exported = torch.export.export(layer, (x,)).module()
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    layer(x1).square().sum().backward()
    exported(x2).square().sum().backward()
    torch.testing.assert_close(x2.grad, x1.grad, rtol=1e-5, atol=1e-6)
