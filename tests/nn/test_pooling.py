"""GMPool, GMStride, GMUnpool (eq. 5, Lemma 2.3, Example 2.4)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import given
from hypothesis import strategies as st
from tests.strategies import groups

from gmcnn.groups import FiniteGroup, Subgroup, cyclic, dihedral, direct_product, symmetric
from gmcnn.nn import GMConv, GMPool, GMStride, GMUnpool


def _image_group(n: int) -> tuple[FiniteGroup, Subgroup]:
    C = cyclic(n)
    G = direct_product(C, C)
    return G, G.product_subgroup(C.subgroup([2]), C.subgroup([2]))


@pytest.mark.parametrize("n", [4, 8, 28])
def test_example_2_4_is_2x2_pooling_with_stride_2(n: int) -> None:
    G, K = _image_group(n)
    x = torch.randn(3, 5, n, n)
    pooled, indices = GMPool(G, K, return_indices=True)(x)
    torch.testing.assert_close(pooled, TF.max_pool2d(x, 2, 2), rtol=0, atol=0)
    torch.testing.assert_close(GMPool(G, K, mode="mean")(x), TF.avg_pool2d(x, 2, 2))
    torch.testing.assert_close(GMStride(G, K)(x), x[:, :, ::2, ::2], rtol=0, atol=0)
    _, flat_indices = TF.max_pool2d(x, 2, 2, return_indices=True)
    assert torch.equal(indices, flat_indices.flatten(2))  # both: row-major pixel labels
    unpooled = GMUnpool(G, K, mode="max")(pooled, indices)
    torch.testing.assert_close(unpooled, TF.max_unpool2d(pooled, flat_indices, 2, 2))


def test_flat_layout_stays_flat_and_the_output_group_is_the_subgroup() -> None:
    G, K = _image_group(6)
    pool = GMPool(G, K)
    assert pool.output_group is K
    assert pool(torch.randn(2, 3, 36)).shape == (2, 3, 9)
    assert GMUnpool(G, K, mode="mean").output_group is G


def test_next_layer_on_the_pooled_group_is_a_circular_conv_of_the_pooled_image() -> None:
    G, K = _image_group(8)
    pool = GMPool(G, K)
    conv_K = GMConv(pool.output_group, 2, 3, radius=1).double()
    conv_C4 = GMConv(direct_product(cyclic(4), cyclic(4)), 2, 3, radius=1).double()
    assert conv_K.implementation == "conv"
    assert torch.equal(conv_K.kernel_elements, conv_C4.kernel_elements)
    conv_C4.load_state_dict(conv_K.state_dict(), strict=False)
    x = pool(torch.randn(2, 2, 8, 8, dtype=torch.float64))
    torch.testing.assert_close(conv_K(x), conv_C4(x))


@st.composite
def group_and_subgroup(draw: st.DrawFn) -> tuple[FiniteGroup, Subgroup]:
    G = draw(groups())
    gens = draw(st.lists(st.integers(0, G.order - 1), min_size=1, max_size=2))
    return G, G.subgroup(gens)


@given(group_and_subgroup(), st.sampled_from(["max", "mean"]))
def test_pooling_is_eq5(pair: tuple[FiniteGroup, Subgroup], mode: str) -> None:
    G, K = pair
    reps = G.right_coset_representatives(K)
    x = torch.randn(2, 3, G.order, dtype=torch.float64)
    windows = G.mul(K.elements[:, None], reps[None, :])  # {k·c : c ∈ R}
    gathered = x[:, :, torch.from_numpy(windows)]
    expected = gathered.amax(3) if mode == "max" else gathered.mean(3)
    torch.testing.assert_close(GMPool(G, K, mode=mode)(x), expected)  # type: ignore[arg-type]


@given(group_and_subgroup())
def test_unpooling_is_the_transpose(pair: tuple[FiniteGroup, Subgroup]) -> None:
    G, K = pair
    x = torch.randn(2, 3, G.order, dtype=torch.float64)
    y = torch.randn(2, 3, K.order, dtype=torch.float64)
    for forward, transpose in [
        (GMPool(G, K, mode="mean"), GMUnpool(G, K, mode="mean")),
        (GMStride(G, K), GMUnpool(G, K, mode="stride")),
    ]:
        torch.testing.assert_close((forward(x) * y).sum(), (x * transpose(y)).sum())
    values, indices = GMPool(G, K, return_indices=True)(x)
    unpooled = GMUnpool(G, K, mode="max")(values, indices)
    torch.testing.assert_close(unpooled.gather(2, indices), values)
    assert int((unpooled != 0).sum()) <= values.numel()


def test_subgroup_given_by_labels() -> None:
    G = dihedral(4)
    pool = GMPool(G, [0, 2, 4, 6])
    assert pool.output_group.order == 4


def test_bad_subgroups_are_value_errors() -> None:
    G = dihedral(4)
    with pytest.raises(ValueError, match=r"is not a subgroup of D4.*got one of C8"):
        GMPool(G, cyclic(8).subgroup([2]))
    with pytest.raises(ValueError, match="C4 is not a subgroup of D4"):
        GMStride(G, cyclic(4))
    with pytest.raises(ValueError, match="not a subgroup"):
        GMPool(G, [0, 1])
    with pytest.raises(ValueError, match="mode must be one of"):
        GMPool(G, [0, 2], mode="median")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="return_indices is only defined for mode='max'"):
        GMPool(G, [0, 2], mode="mean", return_indices=True)


def test_bad_inputs_are_value_errors() -> None:
    G, K = _image_group(4)
    with pytest.raises(ValueError, match=r"GMPool got an input of shape \(2, 3, 15\)"):
        GMPool(G, K)(torch.randn(2, 3, 15))
    unpool = GMUnpool(G, K, mode="max")
    with pytest.raises(ValueError, match="needs the indices returned by"):
        unpool(torch.randn(2, 3, 4))
    with pytest.raises(ValueError, match="GMUnpool got an input of shape"):
        unpool(torch.randn(2, 3, 16))


def test_symmetric_group_pooling_has_no_image_layout() -> None:
    G = symmetric(4)
    K = G.subgroup(G.generators)
    assert K.order == G.order
    pool = GMPool(G, G.subgroup(G.generators[:1]))
    assert pool(torch.randn(1, 2, 24)).shape == (1, 2, pool.output_group.order)
    assert np.array_equal(np.sort(pool.windows.flatten().numpy()), G.labels)
