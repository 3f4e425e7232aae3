"""Steerable, relaxed steerable and relaxed group convolutions: exact equivariance when tied."""

from __future__ import annotations

import itertools

import pytest
import torch

from gmcnn.baselines.planar import planar_group, transform_fields
from gmcnn.baselines.steerable import (
    FieldBatchNorm,
    RelaxedGroupConv2d,
    RelaxedSteerableConv2d,
    SteerableConv2d,
)

PAIRS = [
    ("vector", "regular"),
    ("regular", "regular"),
    ("regular", "vector"),
    ("trivial", "regular"),
]


def equivariance_error(layer: torch.nn.Module, rep_in: str, rep_out: str, size: int = 7) -> float:
    group = layer.group  # type: ignore[attr-defined]
    torch.manual_seed(0)
    x = torch.randn(2, layer.in_channels, size, size)  # type: ignore[attr-defined]
    worst = 0.0
    with torch.no_grad():
        y = layer(x)
        for g in range(group.order):
            moved = layer(transform_fields(x, group, g, rep_in))  # type: ignore[arg-type]
            expected = transform_fields(y, group, g, rep_out)  # type: ignore[arg-type]
            worst = max(worst, (moved - expected).abs().max().item())
    return worst


@pytest.mark.parametrize(("group", "pair"), list(itertools.product(["C4", "D4"], PAIRS)))
def test_steerable_conv_is_equivariant(group: str, pair: tuple[str, str]) -> None:
    layer = SteerableConv2d(group, pair[0], pair[1], 3, 2, 3)  # type: ignore[arg-type]
    if layer.bias is not None:
        torch.nn.init.normal_(layer.bias)
    assert equivariance_error(layer, *pair) < 1e-5


@pytest.mark.parametrize("pair", PAIRS)
def test_steerable_conv_with_e2cnn_basis_is_equivariant(pair: tuple[str, str]) -> None:
    pytest.importorskip("e2cnn")
    layer = SteerableConv2d("C4", pair[0], pair[1], 3, 2, 5, basis="e2cnn")  # type: ignore[arg-type]
    assert equivariance_error(layer, *pair) < 1e-5


def test_e2cnn_basis_gives_e2cnns_parameter_count() -> None:
    pytest.importorskip("e2cnn")
    # e2cnn's R2Conv, 3×3, C4: 24 coefficients per regular pair, one bias per regular field
    layer = SteerableConv2d("C4", "regular", "regular", 5, 7, 3, basis="e2cnn")
    assert sum(p.numel() for p in layer.parameters()) == 7 * 5 * 24 + 7


@pytest.mark.parametrize(
    ("group", "basis", "pair"),
    [("C4", "e2cnn", p) for p in PAIRS[:3]] + [("D4", "grid", p) for p in PAIRS[:3]],
)
def test_relaxed_steerable_conv_reduces_to_steerable_when_tied(
    group: str, basis: str, pair: tuple[str, str]
) -> None:
    if basis == "e2cnn":
        pytest.importorskip("e2cnn")
    layer = RelaxedSteerableConv2d(group, pair[0], pair[1], 3, 2, 3, basis)  # type: ignore[arg-type]
    assert layer.relaxation_penalty() < 1e-7
    assert equivariance_error(layer, *pair) < 1e-5
    exact = SteerableConv2d(group, pair[0], pair[1], 3, 2, 3, basis)  # type: ignore[arg-type]
    with torch.no_grad():
        exact.weight.copy_(layer.weight[..., 0])
    x = torch.randn(2, layer.in_channels, 6, 6)
    torch.testing.assert_close(layer(x), exact(x))
    with torch.no_grad():
        layer.weight.add_(0.5 * torch.randn_like(layer.weight))
    assert layer.relaxation_penalty() > 0
    assert equivariance_error(layer, *pair) > 1e-2


@pytest.mark.parametrize(
    ("group", "rep_in"), list(itertools.product(["C4", "D4"], ["vector", "regular", "trivial"]))
)
def test_relaxed_group_conv_is_a_group_conv_when_tied(group: str, rep_in: str) -> None:
    layer = RelaxedGroupConv2d(group, rep_in, 3, 2, 3, num_banks=3)  # type: ignore[arg-type]
    torch.nn.init.normal_(layer.bias)  # type: ignore[arg-type]
    with torch.no_grad():
        layer.combination.copy_(torch.randn(3).expand_as(layer.combination))
    assert layer.relaxation_penalty() < 1e-7
    assert equivariance_error(layer, rep_in, "regular") < 1e-5
    with torch.no_grad():
        layer.combination.add_(torch.randn_like(layer.combination))
    assert layer.relaxation_penalty() > 0
    assert equivariance_error(layer, rep_in, "regular") > 1e-2


def test_tied_relaxed_group_conv_lies_in_the_grid_basis() -> None:
    """The tied kernel is an equivariant kernel, so it is a combination of the grid basis."""
    layer = RelaxedGroupConv2d("D4", "regular", 1, 1, 3, num_banks=2)
    exact = SteerableConv2d("D4", "regular", "regular", 1, 1, 3, basis="grid")
    kernel = layer.kernel().reshape(-1).double()
    flat = exact.basis.flatten(1).double()
    torch.testing.assert_close(flat.T @ (flat @ kernel), kernel)


def test_field_batch_norm_is_equivariant_and_per_field() -> None:
    norm = FieldBatchNorm("D4", "regular", 3)
    torch.nn.init.normal_(norm.norm.weight)
    torch.nn.init.normal_(norm.norm.bias)
    group = planar_group("D4")
    x = torch.randn(4, 24, 5, 5)
    for g in range(group.order):
        torch.testing.assert_close(
            norm(transform_fields(x, group, g, "regular")),
            transform_fields(norm(x), group, g, "regular"),
        )
    assert sum(p.numel() for p in norm.parameters()) == 6


def test_padding_modes_and_circular_translation() -> None:
    layer = SteerableConv2d("C4", "regular", "regular", 2, 2, 3, padding_mode="circular")
    x = torch.randn(1, 8, 6, 6)
    shifted = torch.roll(x, (2, -1), dims=(-2, -1))
    torch.testing.assert_close(layer(shifted), torch.roll(layer(x), (2, -1), dims=(-2, -1)))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: SteerableConv2d("C4", "vector", "regular", 0, 2), "positive"),
        (lambda: SteerableConv2d("C4", "vector", "regular", 1, 2, 4), "odd"),
        (lambda: SteerableConv2d("C4", "vector", "regular", 1, 2, basis="fourier"), "basis"),
        (lambda: SteerableConv2d("C6", "vector", "regular", 1, 2), "C6"),
        (lambda: SteerableConv2d("C4", "vector", "regular", 1, 2, padding_mode="reflect"), "pad"),
        (lambda: SteerableConv2d("D4", "vector", "regular", 1, 2, basis="e2cnn"), "C4 only"),
        (lambda: RelaxedGroupConv2d("C4", "vector", 1, 2, num_banks=0), "num_banks"),
        (lambda: FieldBatchNorm("C4", "vector", 2), "permutation"),
    ],
)
def test_bad_arguments_raise(call: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()  # type: ignore[operator]
