"""gmcnn.testing: the group actions it uses and the failures it reports."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from tests.nn.families import FAMILIES
from tests.strategies import groups
from torch import nn

from gmcnn.groups import FiniteGroup, cyclic, dihedral, direct_product
from gmcnn.nn import CosetSpace, GMConv
from gmcnn.testing import assert_equivariant, equivariance_error, translation


@given(groups(), st.data())
def test_translation_is_a_left_action(G: FiniteGroup, data: st.DataObject) -> None:
    u, v = data.draw(st.integers(0, G.order - 1)), data.draw(st.integers(0, G.order - 1))
    # (u·(v·f))[x] = (v·f)[p_u[x]] = f[p_v[p_u[x]]] must be ((u v)·f)[x].
    assert np.array_equal(
        translation(G, G, v)[translation(G, G, u)], translation(G, G, int(G.mul(u, v)))
    )


@pytest.mark.parametrize("name", list(FAMILIES))
def test_subgroup_and_coset_actions_are_left_actions(name: str) -> None:
    G, K = FAMILIES[name]
    space = CosetSpace(G, K)
    for u, v in [(0, 1), (K.order - 1, 1 % K.order)]:
        uv = int(K.mul(u, v))
        assert np.array_equal(translation(G, K, v)[translation(G, K, u)], translation(G, K, uv))
        assert np.array_equal(
            translation(space, K, v)[translation(space, K, u)], translation(space, K, uv)
        )


def test_assert_equivariant_reports_the_failing_element() -> None:
    G = cyclic(5)
    mixing_positions = nn.Linear(5, 5)
    with pytest.raises(AssertionError, match=r"Linear is not equivariant under element \d of C5"):
        assert_equivariant(mixing_positions, G)
    assert equivariance_error(mixing_positions, G) > 0.01


def test_float32_and_image_inputs() -> None:
    G = direct_product(dihedral(5), cyclic(6))
    layer = GMConv(G, 3, 2, radius=1)
    worst = assert_equivariant(layer, G, dtype=torch.float32, input_shape=(10, 6), max_elements=4)
    assert worst < 1e-5
    assert equivariance_error(layer, G) < 1e-12


def test_a_group_that_does_not_act_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="C4 does not act on signals on C8"):
        assert_equivariant(GMConv(cyclic(8), 1, 1, radius=1), cyclic(4), input_space=cyclic(8))


@pytest.mark.parametrize("option", ["batch_size", "max_elements", "seed", "in_channels"])
def test_counts_of_the_checks_refuse_bools_and_non_integers(option: str) -> None:
    D4 = dihedral(4)
    layer = GMConv(D4, 1, 1, radius=1)
    with pytest.raises(TypeError, match=rf"{option} must be a .* integer, got True of type bool"):
        assert_equivariant(layer, D4, **{option: True})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="labels must be integers, got dtype float64"):
        assert_equivariant(layer, D4, elements=[0.0, 1.0])
