"""Group axioms and orders, for every family, against independent implementations."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sympy.combinatorics import Permutation
from sympy.combinatorics import PermutationGroup as SympyPermutationGroup
from sympy.combinatorics.named_groups import DihedralGroup as SympyDihedral
from tests.strategies import groups, multiplicative_action, permutation_groups

from gmcnn.groups import (
    FiniteGroup,
    cyclic,
    dihedral,
    direct_product,
    permutation_group,
    semidirect_product,
    symmetric,
)


def random_labels(G: FiniteGroup, rng: np.random.Generator, size: int = 64) -> np.ndarray:
    return rng.integers(0, G.order, size)


@given(groups(), st.integers(0, 2**32 - 1))
def test_axioms(G: FiniteGroup, seed: int) -> None:
    rng = np.random.default_rng(seed)
    a, b, c = (random_labels(G, rng) for _ in range(3))
    assert np.array_equal(G.mul(G.mul(a, b), c), G.mul(a, G.mul(b, c)))
    assert np.array_equal(G.mul(a, G.identity), a)
    assert np.array_equal(G.mul(G.identity, a), a)
    assert np.all(G.mul(a, G.inv(a)) == G.identity)
    assert np.all(G.mul(G.inv(a), a) == G.identity)


@given(groups())
def test_cayley_table_is_a_latin_square(G: FiniteGroup) -> None:
    table = G.cayley_table()
    expected = np.arange(G.order)
    assert all(np.array_equal(np.sort(row), expected) for row in table)
    assert all(np.array_equal(np.sort(col), expected) for col in table.T)


@given(groups())
def test_mul_broadcasts_like_numpy(G: FiniteGroup) -> None:
    e = G.elements
    table = G.mul(e[:, None], e[None, :])
    assert table.shape == (G.order, G.order)
    assert np.array_equal(table, G.cayley_table())
    assert table.dtype == np.int64


@given(permutation_groups(max_degree=6))
def test_permutation_group_order_and_elements_match_sympy(G: FiniteGroup) -> None:
    gens = [Permutation(list(map(int, G.permutations[g]))) for g in G.generators]
    reference = SympyPermutationGroup(gens)
    assert G.order == reference.order()
    assert all(reference.contains(Permutation(list(map(int, p)))) for p in G.permutations)


@given(permutation_groups(max_degree=5), st.integers(0, 2**32 - 1))
def test_permutation_product_is_composition(G: FiniteGroup, seed: int) -> None:
    rng = np.random.default_rng(seed)
    a, b = random_labels(G, rng, 16), random_labels(G, rng, 16)
    composed = G.permutations[a][np.arange(16)[:, None], G.permutations[b]]
    assert np.array_equal(G.permutations[G.mul(a, b)], composed)


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 14])
def test_dihedral_matches_sympy(n: int) -> None:
    D = dihedral(n)
    assert D.order == SympyDihedral(n).order() if n > 2 else D.order == 2 * n
    r, f = 1 % n, n
    rk = [r]
    for _ in range(n - 1):
        rk.append(int(D.mul(rk[-1], r)))
    assert rk[-1] == 0  # r^n = e
    assert int(D.mul(f, f)) == 0  # f² = e
    assert int(D.mul(D.mul(f, r), f)) == int(D.inv(r))  # f r f = r⁻¹
    assert np.array_equal(D.mul(n, np.arange(n)), np.arange(n, 2 * n))  # f·r^k has label n+k


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5])
def test_symmetric_order(n: int) -> None:
    import math

    assert symmetric(n).order == math.factorial(n)


def test_direct_product_labels() -> None:
    G, H = dihedral(3), cyclic(4)
    P = direct_product(G, H)
    g, h = np.meshgrid(G.elements, H.elements, indexing="ij")
    labels = P.combine(g, h)
    assert np.array_equal(labels.ravel(), np.arange(P.order))  # (g, h) ↦ g·|H| + h
    a, b = np.arange(P.order)[:, None], np.arange(P.order)[None, :]
    (ga, ha), (gb, hb) = P.split(a), P.split(b)
    assert np.array_equal(P.mul(a, b), P.combine(G.mul(ga, gb), H.mul(ha, hb)))


def test_semidirect_product_of_cyclics_is_dihedral() -> None:
    n = 6
    S = semidirect_product(cyclic(n), cyclic(2), multiplicative_action(n, 2, n - 1))
    D = dihedral(n)
    assert S.order == D.order
    # (a, x) ↦ r^a f^x = f^x r^((-1)^x a) in D's labels is an isomorphism.
    a, x = S.split(S.elements)
    iso = np.where(x == 0, a, n + np.remainder(-a, n))
    assert np.array_equal(np.sort(iso), D.elements)
    e = S.elements
    assert np.array_equal(iso[S.mul(e[:, None], e[None, :])], D.mul(iso[:, None], iso[None, :]))


def test_factories_are_cached() -> None:
    assert cyclic(7) is cyclic(7)
    assert dihedral(5) is dihedral(5)
    assert symmetric(4) is symmetric(4)
    assert direct_product(cyclic(3), dihedral(2)) is direct_product(cyclic(3), dihedral(2))
    assert permutation_group([[1, 2, 0]]) is permutation_group([(1, 2, 0)])
    act = multiplicative_action(7, 3, 2)
    assert semidirect_product(cyclic(7), cyclic(3), act) is semidirect_product(
        cyclic(7), cyclic(3), act.copy()
    )
