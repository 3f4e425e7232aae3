"""Structured layers against their dense matrices, displacement equations and costs."""

from __future__ import annotations

import pytest
import scipy.linalg
import torch
from torch.utils.flop_counter import FlopCounterMode

from gmcnn.baselines.structured import (
    CirculantLinear,
    FastfoodLinear,
    LDRTridiagonalLinear,
    LowRankLinear,
    ToeplitzLikeLinear,
    hadamard_transform,
    sylvester_hadamard,
    tridiagonal_matrix,
)

FEATURES = [2, 7, 12, 16]


def _layers(n: int) -> list[torch.nn.Module]:
    rank = min(2, n)
    ldr = LDRTridiagonalLinear(n, rank)
    with torch.no_grad():
        ldr.operator_a.normal_(std=0.4)
        ldr.operator_b.normal_(std=0.4)
    return [
        CirculantLinear(n),
        LowRankLinear(n, rank),
        ToeplitzLikeLinear(n, rank),
        FastfoodLinear(n, seed=3),
        ldr,
    ]


@pytest.mark.parametrize("n", FEATURES)
def test_fast_path_equals_dense_matrix(n: int) -> None:
    torch.manual_seed(n)
    x = torch.randn(5, 3, n, dtype=torch.float64)
    for layer in _layers(n):
        layer = layer.double()
        torch.testing.assert_close(layer(x), x @ layer.matrix().T, msg=type(layer).__name__)


@pytest.mark.parametrize("n", FEATURES)
def test_gradients_of_fast_and_dense_paths_agree(n: int) -> None:
    torch.manual_seed(0)
    x = torch.randn(4, n, dtype=torch.float64)
    for layer in _layers(n):
        layer = layer.double()
        fast = torch.autograd.grad(layer(x).square().sum(), list(layer.parameters()))
        dense = torch.autograd.grad((x @ layer.matrix().T).square().sum(), list(layer.parameters()))
        for a, b in zip(fast, dense, strict=True):
            torch.testing.assert_close(a, b, msg=type(layer).__name__)


def test_circulant_matrix_is_circulant() -> None:
    layer = CirculantLinear(6)
    m = layer.matrix()
    torch.testing.assert_close(m, torch.roll(torch.roll(m, 1, 0), 1, 1))
    torch.testing.assert_close(m[:, 0], layer.weight.detach())


def test_hadamard_transform_matches_scipy() -> None:
    for m in (1, 2, 8, 64):
        x = torch.randn(3, m, dtype=torch.float64)
        h = torch.as_tensor(scipy.linalg.hadamard(m), dtype=torch.float64)
        torch.testing.assert_close(hadamard_transform(x), x @ h.T)
        torch.testing.assert_close(sylvester_hadamard(m).double(), h)


def test_fastfood_power_of_two_is_orthogonal_when_diagonals_are_signs() -> None:
    layer = FastfoodLinear(16).double()
    with torch.no_grad():
        layer.scale.fill_(1.0)
        layer.gaussian.fill_(1.0)
    m = layer.matrix()
    torch.testing.assert_close(m @ m.T, torch.eye(16, dtype=torch.float64))


def test_toeplitz_like_displacement_is_g_h_transposed() -> None:
    layer = ToeplitzLikeLinear(9, 3).double()
    g, h = layer.left.T, layer.right.T
    torch.testing.assert_close(layer.displacement(), g @ h.T)


def test_toeplitz_like_rank_one_reproduces_a_skew_circulant() -> None:
    n = 8
    layer = ToeplitzLikeLinear(n, 1).double()
    c = torch.randn(n, dtype=torch.float64)
    with torch.no_grad():
        layer.left.zero_()
        layer.left[0, 0] = 2.0
        layer.right[0] = c.flip(0)
    m = layer.matrix()
    rows, cols = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
    sign = torch.where(rows >= cols, 1.0, -1.0).double()
    torch.testing.assert_close(m, c[(rows - cols) % n] * sign)


def test_ldr_td_stein_displacement() -> None:
    torch.manual_seed(1)
    n, r = 10, 2
    layer = LDRTridiagonalLinear(n, r).double()
    with torch.no_grad():
        layer.operator_a.normal_(std=0.4)
        layer.operator_b.normal_(std=0.4)
    a, b = tridiagonal_matrix(layer.operator_a), tridiagonal_matrix(layer.operator_b)
    m = layer.matrix()
    ghT = layer.left.T @ layer.right
    an = torch.linalg.matrix_power(a, n)
    bn = torch.linalg.matrix_power(b, n)
    torch.testing.assert_close(m - a @ m @ b, ghT - an @ ghT @ bn)
    # nilpotent A (a pure subdiagonal): displacement rank exactly r
    with torch.no_grad():
        layer.operator_a[1:] = 0.0
        layer.operator_a[0, 0] = 0.0
    a = tridiagonal_matrix(layer.operator_a)
    m = layer.matrix()
    torch.testing.assert_close(m - a @ m @ b, ghT)
    assert torch.linalg.matrix_rank(m - a @ m @ b) == r


def test_ldr_td_starts_from_shift_operators() -> None:
    layer = LDRTridiagonalLinear(6, 1)
    shift = torch.diag(torch.ones(5), -1)
    torch.testing.assert_close(tridiagonal_matrix(layer.operator_a.detach()), shift)
    torch.testing.assert_close(tridiagonal_matrix(layer.operator_b.detach()), shift)


@pytest.mark.parametrize(
    ("layer", "count"),
    [
        (CirculantLinear(784), 784),
        (LowRankLinear(784, 4), 8 * 784),
        (ToeplitzLikeLinear(784, 4), 8 * 784),
        (FastfoodLinear(784), 3 * 784),
        (LDRTridiagonalLinear(784, 1), 8 * 784),
    ],
)
def test_parameter_counts(layer: torch.nn.Module, count: int) -> None:
    assert sum(p.numel() for p in layer.parameters()) == count


@pytest.mark.parametrize(
    "layer",
    [
        CirculantLinear(1024),
        ToeplitzLikeLinear(1024, 4),
        FastfoodLinear(1000),
        LowRankLinear(1024, 4),
    ],
)
def test_fast_layers_do_no_dense_matmul(layer: torch.nn.Module) -> None:
    """FFT / Hadamard / low-rank paths: matmul FLOPs far below the dense ``2·B·N²``."""
    batch, n = 32, layer.features
    with FlopCounterMode(display=False) as counter:
        layer(torch.randn(batch, n))
    assert counter.get_total_flops() <= 4 * batch * n * 4


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: CirculantLinear(1), "features"),
        (lambda: LowRankLinear(8, 9), "rank"),
        (lambda: ToeplitzLikeLinear(8, 0), "rank"),
        (lambda: LDRTridiagonalLinear(8, 9), "rank"),
        (lambda: hadamard_transform(torch.ones(6)), "power-of-two"),
        (lambda: sylvester_hadamard(12), "power-of-two"),
    ],
)
def test_bad_sizes_raise(make: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()  # type: ignore[operator]
