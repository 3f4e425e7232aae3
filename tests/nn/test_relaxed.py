"""Approximately equivariant GMConv: displacement rank, distance to group matrices (eq. 7–13)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from tests.nn.reference import dense_forward
from tests.strategies import groups

from gmcnn.groups import FiniteGroup, cyclic, dihedral, direct_product, symmetric
from gmcnn.nn import GMConv, grid_form
from gmcnn.structured import displacement_rank, distance_to_group_matrices

DOUBLE = {"rtol": 1e-10, "atol": 1e-12}
VARIANTS = [("low_rank", 1), ("low_rank", 3), ("error_addition", 0), ("output_scaling", 0)]


def _randomise(layer: GMConv, seed: int = 0) -> GMConv:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in layer.parameters():
            p.copy_(torch.randn(p.shape, generator=generator, dtype=p.dtype))
    return layer


def _blocks(layer: GMConv) -> np.ndarray:
    N = layer.group.order
    M = layer.dense_matrix().detach().numpy()
    return M.reshape(layer.out_channels, N, layer.in_channels, N).transpose(0, 2, 1, 3)


@st.composite
def relaxed_layers(draw: st.DrawFn) -> GMConv:
    G = draw(groups().filter(lambda g: g.order >= 2))
    relaxation, rank = draw(st.sampled_from(VARIANTS))
    layer = GMConv(
        G,
        draw(st.integers(1, 2)),
        draw(st.integers(1, 3)),
        radius=draw(st.integers(0, min(G.diameter, 2))),
        channel_mixing=draw(st.sampled_from(["full", "shared"])),
        rank=rank,
        relaxation=relaxation,  # type: ignore[arg-type]
        implementation=draw(
            st.sampled_from(["conv", "fft", "gather"] if grid_form(G) else ["gather"])
        ),
    )
    return _randomise(layer.double(), draw(st.integers(0, 2**32 - 1)))


@given(relaxed_layers())
def test_displacement_rank_is_bounded_and_matches_the_dense_matrix(layer: GMConv) -> None:
    G = layer.group
    expected = max(
        displacement_rank(G, block) for block in _blocks(layer).reshape(-1, G.order, G.order)
    )
    assert layer.displacement_rank() == expected
    assert expected <= max(layer.rank, 1)


@given(relaxed_layers())
def test_distance_to_group_matrices_matches_the_dense_matrix(layer: GMConv) -> None:
    G = layer.group
    blocks = _blocks(layer).reshape(-1, G.order, G.order)
    expected = np.sqrt(sum(distance_to_group_matrices(G, b) ** 2 for b in blocks))
    assert float(layer.distance_to_group_matrices().detach()) == pytest.approx(
        expected, rel=1e-9, abs=1e-12
    )


@given(relaxed_layers())
def test_relaxed_forward_matches_the_dense_matrix(layer: GMConv) -> None:
    x = torch.randn(2, layer.in_channels, layer.group.order, dtype=torch.float64)
    torch.testing.assert_close(layer(x), dense_forward(layer, x), **DOUBLE)


@pytest.mark.parametrize("G", [cyclic(8), dihedral(5), symmetric(4)], ids=lambda g: g.name)
def test_rank_zero_is_exact(G: FiniteGroup) -> None:
    layer = _randomise(GMConv(G, 2, 3, radius=1).double())
    assert layer.displacement_rank() == 0
    assert float(layer.distance_to_group_matrices().detach()) == 0.0
    assert all(displacement_rank(G, b) == 0 for b in _blocks(layer).reshape(-1, G.order, G.order))


def test_low_rank_reaches_its_rank_and_starts_equivariant() -> None:
    G = direct_product(cyclic(6), cyclic(5))
    layer = GMConv(G, 2, 2, radius=1, rank=3).double()
    assert layer.displacement_rank() == 0  # relaxed_weight starts at zero
    assert layer.relaxed_weight is not None and layer.relaxed_weight.shape == (3, 2, 2, 9)
    assert layer.position_profiles is not None and layer.position_profiles.shape == (3, 30)
    _randomise(layer)
    assert layer.displacement_rank() == 3


def test_error_addition_only_changes_one_position_per_output_channel() -> None:
    G = dihedral(6)
    layer = _randomise(GMConv(G, 2, 4, radius=1, relaxation="error_addition").double())
    exact = GMConv(G, 2, 4, radius=1).double()
    exact.load_state_dict(layer.state_dict(), strict=False)
    diff = (layer.dense_matrix() - exact.dense_matrix()).view(4, G.order, -1)
    changed_rows = [torch.nonzero(diff[o].abs().sum(1)).flatten().tolist() for o in range(4)]
    assert changed_rows == [[p] for p in layer.error_positions.tolist()]
    # The positions nearest the identity come first.
    assert layer.error_positions[0] == G.identity


def test_output_scaling_scales_the_exact_output() -> None:
    G = direct_product(dihedral(3), cyclic(4))
    layer = _randomise(GMConv(G, 3, 2, radius=1, relaxation="output_scaling").double())
    exact = GMConv(G, 3, 2, radius=1, bias=False).double()
    exact.weight.data.copy_(layer.weight.data)
    x = torch.randn(2, 3, G.order, dtype=torch.float64)
    assert layer.position_scale is not None
    expected = exact(x) * layer.position_scale + layer.bias[:, None]  # type: ignore[index]
    torch.testing.assert_close(layer(x), expected, **DOUBLE)


def test_penalty_pulls_a_relaxed_layer_towards_equivariance() -> None:
    G = direct_product(cyclic(8), cyclic(8))
    layer = _randomise(GMConv(G, 3, 3, radius=1, rank=2))
    optimiser = torch.optim.SGD(layer.parameters(), lr=1e-3)
    start = float(layer.distance_to_group_matrices().detach())
    for _ in range(20):
        optimiser.zero_grad()
        layer.equivariance_penalty().backward()
        optimiser.step()
    assert float(layer.distance_to_group_matrices().detach()) < 0.5 * start


def test_introspection_works_on_large_groups_without_dense_matrices() -> None:
    G = direct_product(cyclic(256), cyclic(256))
    layer = _randomise(GMConv(G, 4, 4, radius=1, rank=2, channel_mixing="shared"))
    assert layer.displacement_rank() == 2
    assert float(layer.distance_to_group_matrices().detach()) > 0
