"""Every layer is equivariant on every group family (assert_equivariant, MATH.md §2–§3, §7)."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from tests.nn.families import FAMILIES
from tests.strategies import groups
from torch import Tensor, nn

from gmcnn.groups import FiniteGroup, Subgroup, dihedral, direct_product
from gmcnn.nn import CosetSpace, GMConv, GMPool, GMStride, GMUnpool, HomogeneousGMConv, grid_form
from gmcnn.testing import assert_equivariant

NAMES = list(FAMILIES)


def _family(name: str) -> tuple[FiniteGroup, Subgroup]:
    return FAMILIES[name]


PATHS = [
    (name, path)
    for name, (G, _) in FAMILIES.items()
    for path in (["conv", "fft", "gather"] if grid_form(G) is not None else ["gather"])
]


@pytest.mark.parametrize(("name", "implementation"), PATHS)
@pytest.mark.parametrize("mixing", ["full", "shared"])
def test_gmconv(name: str, mixing: str, implementation: str) -> None:
    G, _ = _family(name)
    layer = GMConv(G, 2, 3, radius=1, channel_mixing=mixing, implementation=implementation)
    assert_equivariant(layer, G)


@given(groups(), st.integers(0, 2), st.sampled_from(["full", "shared"]))
def test_gmconv_on_random_groups(G: FiniteGroup, radius: int, mixing: str) -> None:
    layer = GMConv(G, 2, 2, radius=min(radius, G.diameter), channel_mixing=mixing)
    assert_equivariant(layer, G)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("mode", ["max", "mean"])
def test_gmpool(name: str, mode: str) -> None:
    G, K = _family(name)
    assert_equivariant(GMPool(G, K, mode=mode), K, input_space=G, in_channels=2)


@pytest.mark.parametrize("name", NAMES)
def test_gmstride(name: str) -> None:
    G, K = _family(name)
    assert_equivariant(GMStride(G, K), K, input_space=G, in_channels=2)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("mode", ["mean", "stride"])
def test_gmunpool(name: str, mode: str) -> None:
    G, K = _family(name)
    assert_equivariant(GMUnpool(G, K, mode=mode), K, output_space=G, in_channels=2)


class _PoolUnpool(nn.Module):
    def __init__(self, G: FiniteGroup, K: Subgroup) -> None:
        super().__init__()
        self.pool = GMPool(G, K, return_indices=True)
        self.unpool = GMUnpool(G, K, mode="max")

    def forward(self, x: Tensor) -> Tensor:
        values, indices = self.pool(x)
        return self.unpool(values, indices)


@pytest.mark.parametrize("name", NAMES)
def test_max_pool_then_unpool(name: str) -> None:
    G, K = _family(name)
    assert_equivariant(_PoolUnpool(G, K), K, input_space=G, output_space=G, in_channels=2)


@pytest.mark.parametrize("name", NAMES)
def test_conv_pool_conv_is_equivariant_under_the_subgroup(name: str) -> None:
    """Lemma 2.3: after pooling, the next GMConv lives on ``pool.output_group``."""
    G, K = _family(name)
    pool = GMPool(G, K)
    net = nn.Sequential(
        GMConv(G, 2, 3, radius=1),
        pool,
        GMConv(pool.output_group, 3, 2, radius=min(1, K.diameter)),
    )
    assert_equivariant(net, K, input_space=G, in_channels=2)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("mixing", ["full", "shared"])
def test_homogeneous_gmconv(name: str, mixing: str) -> None:
    G, K = _family(name)
    layer = HomogeneousGMConv(G, K, 2, 3, radius=1, channel_mixing=mixing)
    space = CosetSpace(G, K)
    assert_equivariant(layer, G, input_space=space, output_space=space)


def test_image_layout_of_the_paper_dihedral_labelling() -> None:
    G = direct_product(dihedral(7), dihedral(7))
    layer = GMConv(G, 1, 2, radius=2)
    assert_equivariant(layer, G, input_shape=(14, 14), max_elements=6)


@pytest.mark.parametrize("relaxation", ["low_rank", "error_addition", "output_scaling"])
def test_relaxed_layers_are_not_equivariant_once_trained(relaxation: str) -> None:
    G, _ = _family("dihedral")
    layer = GMConv(
        G, 2, 3, radius=1, relaxation=relaxation, rank=1 if relaxation == "low_rank" else 0
    )
    assert_equivariant(layer, G)  # relaxations start exactly equivariant
    with torch.no_grad():
        for p in layer.parameters():
            p.add_(torch.randn_like(p))
    with pytest.raises(AssertionError, match="is not equivariant under element"):
        assert_equivariant(layer, G)
