"""PaddedGMConv on windows of Z^d (App. D.2–D.3, eq. 23–27)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

from gmcnn.nn import PaddedGMConv
from gmcnn.testing import shift, shift_equivariance_error

DOUBLE = {"rtol": 1e-10, "atol": 1e-12}


@pytest.mark.parametrize("mixing", ["full", "shared"])
def test_equals_zero_padded_conv2d(mixing: str) -> None:
    r = 2
    layer = PaddedGMConv(3, 4, window=(9, 7), radius=r, channel_mixing=mixing).double()  # type: ignore[arg-type]
    x = torch.randn(2, 3, 9, 7, dtype=torch.float64)
    stencil = layer.weight.view(4, -1, 2 * r + 1, 2 * r + 1).flip(-1, -2)
    source = x.sum(1, keepdim=True) if mixing == "shared" else x
    expected = TF.conv2d(source, stencil, layer.bias, padding=r)
    torch.testing.assert_close(layer(x), expected, **DOUBLE)


@pytest.mark.parametrize("window", [(11,), (4, 5, 6)])
def test_equals_zero_padded_conv1d_and_conv3d(window: tuple[int, ...]) -> None:
    layer = PaddedGMConv(2, 3, window=window, radius=1).double()
    x = torch.randn(2, 2, *window, dtype=torch.float64)
    stencil = layer.weight.view(3, 2, *(3,) * len(window)).flip(*range(2, 2 + len(window)))
    conv = {1: TF.conv1d, 3: TF.conv3d}[len(window)]
    torch.testing.assert_close(layer(x), conv(x, stencil, layer.bias, padding=1), **DOUBLE)


def test_explicit_offsets_follow_eq23() -> None:
    offsets = np.array([[0, 0], [1, 2], [-1, 0], [2, -3]])
    layer = PaddedGMConv(2, 2, window=(5, 6), offsets=offsets).double()
    x = torch.randn(1, 2, 5, 6, dtype=torch.float64)
    expected = torch.zeros(1, 2, 5, 6, dtype=torch.float64) + layer.bias[:, None, None]
    for (p, q), (k, (a, b)) in itertools.product(np.ndindex(5, 6), enumerate(offsets)):
        if 0 <= p - a < 5 and 0 <= q - b < 6:  # f extended by zero outside Ω
            expected[0, :, p, q] += layer.weight[:, :, k] @ x[0, :, p - a, q - b]
    torch.testing.assert_close(layer(x), expected, **DOUBLE)
    flat = x.flatten(1) @ layer.dense_matrix().T
    torch.testing.assert_close(flat.view(1, 2, 5, 6) + layer.bias[:, None, None], expected)


def test_translation_error_comes_only_from_the_boundary() -> None:
    torch.manual_seed(0)
    layer = PaddedGMConv(2, 2, window=(16, 16), radius=1, bias=False).double()
    shifts = [(1, 0), (0, -2), (2, 1)]
    x = torch.randn(2, 2, 16, 16, dtype=torch.float64)
    assert shift_equivariance_error(layer, x, shifts) > 1e-3
    interior = torch.zeros_like(x)
    interior[:, :, 4:12, 4:12] = x[:, :, 4:12, 4:12]  # margin 4 >= radius + |shift|
    assert shift_equivariance_error(layer, interior, shifts) < 1e-12
    assert torch.equal(shift(interior, (1, 0))[:, :, 5:13, 4:12], interior[:, :, 4:12, 4:12])


@pytest.mark.parametrize(
    ("window", "radius"), [((28, 28), 1), ((28, 28), 3), ((5, 9), 2), ((7,), 3)]
)
def test_padding_count(window: tuple[int, ...], radius: int) -> None:
    layer = PaddedGMConv(1, 1, window=window, radius=radius)
    padded = np.prod([n + 2 * radius for n in window]) - np.prod(window)
    assert layer.padding_count() == padded
    assert layer.displacement_dimension_bound() == (2 * radius + 1) ** len(window) - 1


def _displacement(layer: PaddedGMConv) -> np.ndarray:
    """``D(V)`` of every channel pair in the window's group-diagonal basis (eq. 26, 8)."""
    cells = int(np.prod(layer.window))
    M = (
        layer.dense_matrix()
        .detach()
        .numpy()
        .reshape(layer.out_channels, cells, layer.in_channels, cells)
    )
    coords = np.stack(np.unravel_index(np.arange(cells), layer.window), axis=1)  # p
    V = np.zeros((layer.out_channels, layer.in_channels, cells, layer.kernel_size))
    for k, delta in enumerate(layer.offsets.numpy()):
        source = coords - delta  # the input read through offset δ: p − δ
        inside = np.all((source >= 0) & (source < np.array(layer.window)), axis=1)
        cols = np.ravel_multi_index(tuple(source[inside].T), layer.window)
        V[:, :, inside, k] = M[:, np.flatnonzero(inside), :, cols].transpose(1, 2, 0)
    return V - np.roll(V, -1, axis=2)  # σ(p) = p + 1 mod |Ω|


@pytest.mark.parametrize(("window", "radius"), [((6, 5), 1), ((4, 4), 2), ((9,), 2)])
def test_eq27_bounds_the_displacement_dimension(window: tuple[int, ...], radius: int) -> None:
    layer = PaddedGMConv(1, 1, window=window, radius=radius, bias=False).double()
    family = []
    for k in range(layer.kernel_size):  # the basis ψ = e_k spans {M_ψ}
        with torch.no_grad():
            layer.weight.zero_()
            layer.weight[0, 0, k] = 1.0
        family.append(_displacement(layer).ravel())
    dimension = np.linalg.matrix_rank(np.stack(family))
    assert 0 < dimension <= layer.displacement_dimension_bound() <= layer.padding_count()
    layer.reset_parameters()
    assert np.linalg.matrix_rank(_displacement(layer)[0, 0]) <= layer.displacement_dimension_bound()


def test_bad_construction_and_input() -> None:
    with pytest.raises(ValueError, match="window must be 1 to 3 positive integers"):
        PaddedGMConv(1, 1, window=(2, 2, 2, 2), radius=1)
    with pytest.raises(ValueError, match="give exactly one of radius and offsets"):
        PaddedGMConv(1, 1, window=(4, 4))
    with pytest.raises(
        ValueError, match=r"offsets must be a non-empty integer array of shape \(K, 2\)"
    ):
        PaddedGMConv(1, 1, window=(4, 4), offsets=[[0, 0, 0]])
    with pytest.raises(ValueError, match="offsets must be distinct"):
        PaddedGMConv(1, 1, window=(4, 4), offsets=[[0, 1], [0, 1]])
    with pytest.raises(ValueError, match=r"expected \(batch, 2, 4, 4\)"):
        PaddedGMConv(2, 1, window=(4, 4), radius=1)(torch.randn(1, 2, 4, 5))
