"""The paper's networks: shapes, exact invariance/equivariance, relaxations, building blocks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gmcnn.groups import cyclic, dihedral, direct_product
from gmcnn.metrics import act_on_positions, equivariance_error
from gmcnn.models import (
    ChannelProjection,
    CNNClassifier,
    GMCNNClassifier,
    GMCNNRegressor,
    SignalLayerNorm,
    axis_group,
    image_group,
    pooled_groups,
)
from gmcnn.testing import assert_equivariant

torch.manual_seed(0)


def perturb(model: torch.nn.Module, scale: float = 0.3) -> None:
    """Give every parameter (error kernels and scales included) random non-trivial values."""
    with torch.no_grad():
        for p in model.parameters():
            p.add_(scale * torch.randn_like(p))


@pytest.mark.parametrize("axes", [("C8", "C8"), ("D4", "D4"), ("D4", "C8")])
def test_exact_classifier_is_invariant_on_its_symmetry_subgroup(axes: tuple[str, str]) -> None:
    G = image_group(axes, (8, 8))
    model = GMCNNClassifier(G, 2, 3, channels=(3, 4, 5), radius=1, pool_after=(0,)).double()
    perturb(model)
    x = torch.randn(4, 2, 8, 8, dtype=torch.float64)
    elements = model.symmetry_elements[model.symmetry_elements != G.identity]
    assert len(elements) == G.order // 4 - 1
    assert equivariance_error(model, x, G, elements.tolist(), invariant=True) < 1e-12
    outside = np.setdiff1d(G.labels, model.symmetry_elements)[:4]
    assert equivariance_error(model, x, G, outside.tolist(), invariant=True) > 1e-6


def test_error_addition_breaks_invariance_only_once_trained() -> None:
    G = image_group(("C8", "C8"), (8, 8))
    model = GMCNNClassifier(G, 1, 2, channels=(4, 4), radius=1, relaxation="error_addition")
    model = model.double()
    x = torch.randn(3, 1, 8, 8, dtype=torch.float64)
    elements = [1, 9, 17]
    assert equivariance_error(model, x, G, elements, invariant=True) < 1e-12
    perturb(model)
    assert equivariance_error(model, x, G, elements, invariant=True) > 1e-6
    assert model.relaxation_penalty() > 0


@pytest.mark.parametrize("relaxation", [None, "output_scaling"])
def test_regressor_is_equivariant_at_initialisation(relaxation: str | None) -> None:
    G = direct_product(dihedral(3), cyclic(5))
    model = GMCNNRegressor(G, 4, 2, hidden_channels=6, layers=2, relaxation=relaxation).double()
    if relaxation is None:
        perturb(model)
    x = torch.randn(2, 4, 6, 5, dtype=torch.float64)
    assert model(x).shape == (2, 2, 6, 5)
    assert_equivariant(model, G, inputs=x, atol=1e-9)


def test_output_scaling_makes_the_regressor_only_approximately_equivariant() -> None:
    G = direct_product(cyclic(6), cyclic(6))
    model = GMCNNRegressor(G, 4, 2, hidden_channels=5, layers=2).double()
    perturb(model)
    x = torch.randn(2, 4, 6, 6, dtype=torch.float64)
    assert equivariance_error(model, x, G, [1, 7, 13], invariant=False) > 1e-6


def test_classifier_output_and_bad_arguments() -> None:
    G = image_group(("C8", "C8"), (8, 8))
    model = GMCNNClassifier(G, 3, 7, channels=(4,), radius=2)
    assert model(torch.randn(5, 3, 8, 8)).shape == (5, 7)
    with pytest.raises(ValueError, match="pool_after"):
        GMCNNClassifier(G, 1, 2, channels=(4,), pool_after=(3,))
    with pytest.raises(ValueError, match="channels"):
        GMCNNClassifier(G, 1, 2, channels=())
    with pytest.raises(ValueError, match="radius 9 exceeds"):
        GMCNNClassifier(G, 1, 2, channels=(4,), radius=9)
    with pytest.raises(ValueError, match="pool_mode must be 'max' or 'mean', got 'avg'"):
        GMCNNClassifier(G, 1, 2, channels=(4,), pool_mode="avg")
    with pytest.raises(ValueError, match="even n"):
        GMCNNClassifier(image_group(("C7", "C7"), (7, 7)), 1, 2, channels=(2,), pool_after=(0,))


@pytest.mark.parametrize("axes", [("C12", "C12"), ("D6", "D6"), ("D6", "C12")])
def test_pooled_group_is_isomorphic_to_the_subgroup_with_the_same_balls(
    axes: tuple[str, str],
) -> None:
    G = image_group(axes, (12, 12))
    K, H = pooled_groups(G)
    a, b = np.meshgrid(np.arange(K.order), np.arange(K.order), indexing="ij")
    assert np.array_equal(K.from_parent(G.mul(K.elements[a], K.elements[b])), H.mul(a, b))
    assert np.array_equal(K.ball(1), H.ball(1))


def test_pooling_on_cyclic_axes_is_two_by_two_max_pooling() -> None:
    G = image_group(("C8", "C8"), (8, 8))
    model = GMCNNClassifier(G, 1, 2, channels=(2,), radius=1, pool_after=(0,))
    x = torch.randn(3, 2, 8, 8)
    pooled = model.pools["0"](x)
    assert torch.equal(pooled, torch.nn.functional.max_pool2d(x, 2))


def test_axis_groups() -> None:
    assert axis_group("C28") is cyclic(28) and axis_group(" D14") is dihedral(14)
    with pytest.raises(ValueError, match="'Z28'"):
        axis_group("Z28")
    with pytest.raises(ValueError, match="28 × 28 elements, but the inputs are 32 × 32"):
        image_group(["C28", "D14"], (32, 32))


def test_building_blocks() -> None:
    x = torch.randn(2, 3, 5, 4)
    proj = ChannelProjection(3, 6)
    assert proj(x).shape == (2, 6, 5, 4)
    assert sum(p.numel() for p in proj.parameters()) == 3 * 6 + 6
    with pytest.raises(ValueError, match="expected \\(batch, 3"):
        proj(torch.randn(2, 4, 5))
    y = SignalLayerNorm()(x)
    assert torch.allclose(y.mean(dim=(1, 2, 3)), torch.zeros(2), atol=1e-6)
    perm = torch.randperm(20)
    flat = x.flatten(2)
    assert torch.allclose(SignalLayerNorm()(flat[..., perm]), SignalLayerNorm()(flat)[..., perm])


def test_plain_cnn() -> None:
    model = CNNClassifier(1, 10, channels=(16, 16, 20), pool_after=(0,))
    assert sum(p.numel() for p in model.parameters()) == 5_963
    assert model(torch.randn(2, 1, 28, 28)).shape == (2, 10)
    with pytest.raises(ValueError, match="odd"):
        CNNClassifier(1, 2, kernel_size=4)


def test_group_action_composes() -> None:
    G = direct_product(dihedral(3), cyclic(4))
    x = torch.randn(2, 3, 6, 4)
    u, v = 5, 14
    uv = int(G.mul(u, v))
    assert torch.equal(
        act_on_positions(G, u, act_on_positions(G, v, x)), act_on_positions(G, uv, x)
    )
