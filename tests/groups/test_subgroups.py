"""Subgroups, right cosets and the pooling partition (MATH.md §3, eq. 5)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.strategies import groups

from gmcnn.groups import FiniteGroup, Subgroup, cyclic, dihedral, direct_product, symmetric


@st.composite
def group_and_subgroup(draw: st.DrawFn) -> tuple[FiniteGroup, Subgroup]:
    G = draw(groups())
    gens = draw(st.lists(st.integers(0, G.order - 1), min_size=1, max_size=2))
    return G, G.subgroup(gens)


@given(group_and_subgroup())
def test_subgroup_is_a_group_with_parent_labels(pair: tuple[FiniteGroup, Subgroup]) -> None:
    G, K = pair
    assert np.all(np.diff(K.elements) > 0)
    assert G.order % K.order == 0  # Lagrange
    a, b = np.meshgrid(np.arange(K.order), np.arange(K.order), indexing="ij")
    assert np.array_equal(K.to_parent(K.mul(a, b)), G.mul(K.to_parent(a), K.to_parent(b)))
    assert np.array_equal(K.to_parent(K.inv(K.labels)), G.inv(K.elements))
    assert K.to_parent(K.identity) == G.identity
    assert np.array_equal(K.from_parent(K.elements), np.arange(K.order))


@given(group_and_subgroup())
def test_right_cosets_partition_the_group(pair: tuple[FiniteGroup, Subgroup]) -> None:
    G, K = pair
    reps = G.right_coset_representatives(K)
    assert reps.size * K.order == G.order
    cosets = G.mul(K.elements[:, None], reps[None, :])  # column c: the coset K·c
    assert np.array_equal(np.sort(cosets.ravel()), G.elements)
    # Each representative is the closest element of its coset (ties: smallest label).
    d = G.word_distance()
    for j, c in enumerate(reps):
        coset = cosets[:, j]
        best = coset[np.lexsort((coset, d[coset]))[0]]
        assert c == best


@given(group_and_subgroup())
def test_pooling_windows_partition_the_group(pair: tuple[FiniteGroup, Subgroup]) -> None:
    G, K = pair
    reps = G.right_coset_representatives(K)
    windows = G.mul(K.elements[:, None], reps[None, :])  # row k: the window {k·c : c ∈ R}
    assert np.array_equal(np.sort(windows.ravel()), G.elements)
    k_index, c_index = G.coset_decomposition(K)
    assert np.array_equal(G.mul(K.elements[k_index], reps[c_index]), G.elements)


def test_example_2_4_pooling_representatives_are_the_2x2_block() -> None:
    n = 8
    C = cyclic(n)
    G = direct_product(C, C)
    K = G.product_subgroup(C.subgroup([2]), C.subgroup([2]))
    reps = G.right_coset_representatives(K)
    assert {tuple(map(int, p)) for p in zip(*G.split(reps), strict=True)} == {
        (0, 0),
        (0, 1),
        (1, 0),
        (1, 1),
    }
    # K is C4 × C4 in row-major order, and its balls are squares again.
    assert np.array_equal(
        K.elements, G.combine(*np.meshgrid([0, 2, 4, 6], [0, 2, 4, 6], indexing="ij")).ravel()
    )
    assert K.ball(1).size == 9
    assert np.array_equal(K.cayley_table(), direct_product(cyclic(4), cyclic(4)).cayley_table())


def test_subgroup_from_elements_checks_closure() -> None:
    D = dihedral(4)
    rotations = D.subgroup_from_elements([0, 1, 2, 3])
    assert rotations.order == 4
    with pytest.raises(ValueError, match="not a subgroup of D4: 1·1 = 2 is not in the set"):
        D.subgroup_from_elements([0, 1, 3])
    with pytest.raises(ValueError, match="identity is missing"):
        D.subgroup_from_elements([1, 2, 3])


def test_cosets_of_a_subgroup_of_another_group() -> None:
    K = cyclic(6).subgroup([2])
    with pytest.raises(ValueError, match="is not a subgroup of S3"):
        symmetric(3).right_coset_representatives(K)


def test_subgroups_are_cached() -> None:
    G = dihedral(6)
    assert G.subgroup([1]) is G.subgroup([1, 1])
