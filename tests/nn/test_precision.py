"""Half precision: every layer and path runs in float16 and bfloat16, within 2e-2 (relative)
of float32, and returns the input's dtype (the Fourier path computes in float32 inside)."""

from __future__ import annotations

import copy

import pytest
import torch
from tests.nn.zoo import LAYERS
from torch import Tensor, nn
from torch.autograd import forward_ad

from gmcnn.groups import cyclic, direct_product
from gmcnn.nn import GMConv
from gmcnn.nn.gather import gather_columns

HALF = [torch.float16, torch.bfloat16]


def relative_error(actual: Tensor, expected: Tensor) -> float:
    actual, expected = actual.detach().double(), expected.detach().double()
    return float((actual - expected).norm() / expected.norm())


def check_half(module: nn.Module, x: Tensor, dtype: torch.dtype) -> None:
    """Forward within 2e-2 of float32 in the input's dtype; backward in the parameters'."""
    expected = module(x)
    half = copy.deepcopy(module).to(dtype)
    x_half = x.to(dtype).requires_grad_()
    y = half(x_half)
    assert y.dtype == dtype
    assert relative_error(y, expected) < 2e-2
    y.float().square().sum().backward()
    assert x_half.grad is not None and x_half.grad.dtype == dtype
    assert all(p.grad is None or p.grad.dtype == dtype for p in half.parameters())


@pytest.mark.parametrize("dtype", HALF, ids=str)
@pytest.mark.parametrize("name", list(LAYERS))
def test_every_layer_runs_in_half_precision(name: str, dtype: torch.dtype) -> None:
    torch.manual_seed(0)
    layer, x = LAYERS[name]()
    check_half(layer, x, dtype)


@pytest.mark.parametrize("dtype", HALF, ids=str)
def test_the_issue_layer_runs_in_half_precision(dtype: torch.dtype) -> None:
    """``GMConv(C₂₈×C₂₈, 16, 16, radius=3)`` picks the Fourier path: no complex half on CPU."""
    torch.manual_seed(0)
    C28 = cyclic(28)
    layer = GMConv(direct_product(C28, C28), 16, 16, radius=3)
    assert layer.implementation == "fft"
    check_half(layer, torch.randn(2, 16, 28, 28), dtype)


@pytest.mark.parametrize("dtype", [*HALF, torch.float32, torch.int16], ids=str)
def test_gather_columns_is_exact_in_every_dtype(dtype: torch.dtype) -> None:
    """The 16-bit gather through the values' bits returns exactly ``x[:, index]``, and a
    16-bit ``x`` that autodiff follows (reverse or forward mode) keeps its gradient or
    tangent (the plain gather runs)."""
    torch.manual_seed(1)
    x = (100 * torch.randn(3, 11)).to(dtype)
    index = torch.randint(0, 11, (4, 5))
    assert torch.equal(gather_columns(x, index), x[:, index])
    if dtype.is_floating_point:
        tracked = x.clone().requires_grad_()
        gather_columns(tracked, index).float().sum().backward()
        expected = torch.bincount(index.reshape(-1), minlength=11).to(dtype).expand(3, -1)
        assert tracked.grad is not None and torch.equal(tracked.grad, expected)
        with forward_ad.dual_level():  # a forward-mode tangent is gathered too
            dual = forward_ad.make_dual(x, torch.ones_like(x))
            tangent = forward_ad.unpack_dual(gather_columns(dual, index)).tangent
        assert tangent is not None and torch.equal(tangent, torch.ones(3, 4, 5, dtype=dtype))
