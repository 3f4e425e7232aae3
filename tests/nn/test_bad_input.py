"""Bad input to every layer and path: one-line errors naming the value, never a raw torch error.

Dtype mismatches and non-tensors are a ``TypeError`` naming the dtype or type and what was
expected; wrong shapes a ``ValueError`` naming the shape; an empty batch is no error but an
empty output. Constructor counts (radius, channels, rank, window) refuse ``bool`` and
non-integers.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from tests.nn.zoo import LAYERS, PARAMETRIC

from gmcnn.groups import cyclic, direct_product
from gmcnn.nn import GMConv, GMPool, GMUnpool, HomogeneousGMConv, PaddedGMConv


@pytest.mark.parametrize("name", PARAMETRIC)
def test_a_float64_input_to_a_float32_layer_is_a_type_error(name: str) -> None:
    layer, x = LAYERS[name]()
    layer_name = type(layer).__name__
    message = (
        rf"{layer_name} got an input of dtype torch\.float64; expected torch\.float32, the "
        r"dtype of its parameters \(convert the input with \.to\(torch\.float32\) or the "
        r"layer with \.to\(torch\.float64\)\)"
    )
    with pytest.raises(TypeError, match=message):
        layer(x.double())


@pytest.mark.parametrize("dtype", [torch.int64, torch.uint8, torch.bool, torch.complex64])
@pytest.mark.parametrize("name", list(LAYERS))
def test_integer_boolean_and_complex_signals_are_a_type_error(
    name: str, dtype: torch.dtype
) -> None:
    layer, x = LAYERS[name]()
    with pytest.raises(TypeError, match=rf"got an input of dtype {dtype}; expected "):
        layer(x.to(dtype))


@pytest.mark.parametrize("name", list(LAYERS))
def test_non_tensor_inputs_are_a_type_error(name: str) -> None:
    layer, x = LAYERS[name]()
    layer_name = type(layer).__name__
    with pytest.raises(
        TypeError,
        match=rf"{layer_name} takes a torch\.Tensor, got numpy\.ndarray \(convert it with "
        r"torch\.from_numpy\)",
    ):
        layer(x.numpy())
    with pytest.raises(TypeError, match=rf"{layer_name} takes a torch\.Tensor, got builtins\.list"):
        layer(x.tolist())


@pytest.mark.parametrize("name", list(LAYERS))
def test_a_wrong_shape_is_a_value_error_naming_it(name: str) -> None:
    layer, x = LAYERS[name]()
    wrong = x[:, :, :-1]
    with pytest.raises(ValueError, match=re.escape(f"got an input of shape {tuple(wrong.shape)}")):
        layer(wrong)


@pytest.mark.parametrize("name", list(LAYERS))
def test_an_empty_batch_gives_an_empty_output(name: str) -> None:
    layer, x = LAYERS[name]()
    full = layer(x)
    empty = x[:0].clone().requires_grad_()
    y = layer(empty)
    assert y.shape == (0, *full.shape[1:]) and y.dtype == full.dtype
    y.sum().backward()  # gradients flow, and are zero
    assert empty.grad is not None and empty.grad.shape == empty.shape
    for p in layer.parameters():
        assert p.grad is None or not p.grad.any()


def test_pooling_takes_any_floating_dtype() -> None:
    _, x = LAYERS["pool-max"]()
    pool = LAYERS["pool-max"]()[0]
    assert pool(x.double()).dtype == torch.float64
    assert pool(x.half()).dtype == torch.float16


def test_unpooling_indices_must_be_int64_of_the_right_shape() -> None:
    C8 = cyclic(8)
    G = direct_product(C8, C8)
    K = G.product_subgroup(C8.subgroup([2]), C8.subgroup([2]))
    values, indices = GMPool(G, K, return_indices=True)(torch.randn(2, 3, 8, 8))
    unpool = GMUnpool(G, K, mode="max")
    assert unpool(values, indices).shape == (2, 3, 8, 8)
    with pytest.raises(TypeError, match=r"got indices of dtype torch\.int32; expected the int64"):
        unpool(values, indices.int())
    with pytest.raises(ValueError, match=r"of shape \(2, 3, 16\); got \(2, 3, 15\)"):
        unpool(values, indices[:, :, :15])


def test_autocast_accepts_any_floating_input() -> None:
    layer, x = LAYERS["fft-full"]()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert layer(x.double()).dtype == torch.float32
        with pytest.raises(TypeError, match=r"dtype torch\.int64; expected a floating-point"):
            layer(x.long())


@pytest.mark.parametrize("value", [True, 1.0, "1", [1], None], ids=repr)
def test_counts_refuse_bools_and_non_integers(value: object) -> None:
    G = direct_product(cyclic(6), cyclic(6))
    kind = r"must be a (non-negative|positive) integer, got .* of type"
    if value is not None:  # radius=None means "give kernel_elements"
        with pytest.raises(TypeError, match=f"radius {kind}"):
            GMConv(G, 2, 2, radius=value)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match=f"radius {kind}"):
            PaddedGMConv(1, 1, (4, 4), radius=value)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match=f"radius {kind}"):
            HomogeneousGMConv(G, G.subgroup([1]), 1, 1, radius=value)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=f"in_channels {kind}"):
        GMConv(G, value, 2, radius=1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=f"out_channels {kind}"):
        HomogeneousGMConv(G, G.subgroup([1]), 1, value, radius=1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=f"rank {kind}"):
        GMConv(G, 2, 2, radius=1, rank=value)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=f"window extent {kind}"):
        PaddedGMConv(1, 1, (4, value), radius=1)  # type: ignore[arg-type]


def test_labels_must_be_integers() -> None:
    G = cyclic(6)
    with pytest.raises(TypeError, match="kernel element labels must be integers, got dtype"):
        GMConv(G, 1, 1, kernel_elements=[0.0, 1.0])
    with pytest.raises(TypeError, match="offsets must be integers, got dtype float64"):
        PaddedGMConv(1, 1, (4, 4), offsets=np.zeros((1, 2)))
    with pytest.raises(TypeError, match=r"group must be a gmcnn\.groups\.FiniteGroup, got 6"):
        GMPool(6, [0])  # type: ignore[arg-type]


def test_a_gmconv_of_another_dtype_under_autocast_is_a_type_error() -> None:
    """GMConv computes in float32 under autocast; a half or double layer says so."""
    layer, x = LAYERS["gather-full"]()
    with (
        torch.autocast("cpu", dtype=torch.bfloat16),
        pytest.raises(
            TypeError, match=r"runs in float32 under autocast; its parameters are torch\.float16"
        ),
    ):
        layer.half()(x)
