"""Group diagonals, group matrices and group convolution (eq. 1–3, Lemma 2.3, Prop. 2.5)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.strategies import group_pairs, groups
from tests.structured.helpers import left_translation, random_group_matrix

from gmcnn.groups import FiniteGroup, direct_product
from gmcnn.structured import (
    group_convolution,
    group_diagonal,
    group_diagonal_matrix,
    group_matrix,
    is_group_matrix,
)

seeds = st.integers(0, 2**32 - 1)


@given(groups())
def test_group_diagonals_are_a_basis_of_permutations(G: FiniteGroup) -> None:
    total = np.zeros((G.order, G.order))
    for h in G.labels:
        B = group_diagonal_matrix(G, h)
        assert np.all(B.sum(axis=1) == 1)
        assert np.all(B.sum(axis=0) == 1)
        g, gp = np.nonzero(B)
        assert np.all(G.mul(G.inv(g), gp) == h)  # B_h[g, g'] = δ(g⁻¹g' = h)
        total += B
    assert np.all(total == 1)  # every entry lies on exactly one group diagonal


@given(groups(), seeds)
def test_group_matrix_is_the_sum_over_diagonals(G: FiniteGroup, seed: int) -> None:
    psi = np.random.default_rng(seed).normal(size=G.order)
    M = group_matrix(G, psi)
    expected = sum(psi[h] * group_diagonal_matrix(G, h) for h in G.labels)
    np.testing.assert_allclose(M, expected)
    np.testing.assert_allclose(M[G.identity], psi)
    assert is_group_matrix(G, M)


@given(groups(), seeds)
def test_group_convolution_eq_2_and_3(G: FiniteGroup, seed: int) -> None:
    rng = np.random.default_rng(seed)
    f = rng.normal(size=(3, G.order))
    psi = rng.normal(size=G.order) * (rng.random(G.order) < 0.5)
    out = group_convolution(G, f, psi)
    # eq. 2, as a double sum
    brute = np.zeros_like(f)
    for g in G.labels:
        for h in G.labels:
            brute[:, g] += f[:, h] * psi[G.mul(G.inv(h), g)]
    np.testing.assert_allclose(out, brute, atol=1e-12)
    # eq. 3: the group matrix of ψ∘inv, and the sum over group diagonals Σ_k ψ(k) B_{k⁻¹}
    M = group_matrix(G, psi[G.inv(G.labels)])
    np.testing.assert_allclose(out, f @ M.T, atol=1e-12)
    S = sum(psi[k] * group_diagonal_matrix(G, int(G.inv(k))) for k in G.labels)
    np.testing.assert_allclose(M, S, atol=1e-12)


@given(groups(), seeds)
def test_group_matrices_commute_with_left_translations(G: FiniteGroup, seed: int) -> None:
    rng = np.random.default_rng(seed)
    M = random_group_matrix(G, rng)
    for u in rng.integers(0, G.order, 4):
        L = left_translation(G, int(u))
        np.testing.assert_allclose(M @ L, L @ M, atol=1e-12)


@given(groups(), seeds)
def test_only_group_matrices_commute_with_all_translations(G: FiniteGroup, seed: int) -> None:
    """The average of ``L_u M L_u⁻¹`` over ``G`` commutes with every ``L_u``: a group matrix.

    ``(L_u M L_u⁻¹)[g, g'] = M[u⁻¹g, u⁻¹g']``, so the conjugates are re-indexings of ``M``.
    """
    M = np.random.default_rng(seed).normal(size=(G.order, G.order))
    shifted = G.mul(G.inv(G.labels)[:, None], G.labels[None, :])  # row u: g ↦ u⁻¹g
    conjugates = M[shifted[:, :, None], shifted[:, None, :]]
    assert is_group_matrix(G, conjugates.mean(axis=0))
    commutes_with_all = np.allclose(conjugates, M[None])
    assert commutes_with_all == is_group_matrix(G, M)


@given(groups(), st.data())
def test_lemma_2_3_subgroup_rows_stay_in_the_subgroup(G: FiniteGroup, data: st.DataObject) -> None:
    gens = data.draw(st.lists(st.integers(0, G.order - 1), min_size=1, max_size=2))
    K = G.subgroup(gens)
    for j, h in enumerate(K.elements):
        col = group_diagonal(G, int(h))
        assert np.all(np.isin(col[K.elements], K.elements))
        np.testing.assert_array_equal(K.from_parent(col[K.elements]), group_diagonal(K, j))


@given(groups(), seeds)
def test_prop_2_5_closure(G: FiniteGroup, seed: int) -> None:
    rng = np.random.default_rng(seed)
    A, B = random_group_matrix(G, rng), random_group_matrix(G, rng)
    assert is_group_matrix(G, A + B)
    assert is_group_matrix(G, 2.5 * A)
    assert is_group_matrix(G, A @ B, atol=1e-9)
    assert is_group_matrix(G, A.T)


@given(group_pairs(), seeds)
def test_prop_2_5_kronecker(pair: tuple[FiniteGroup, FiniteGroup], seed: int) -> None:
    G, H = pair
    rng = np.random.default_rng(seed)
    A, B = random_group_matrix(G, rng), random_group_matrix(H, rng)
    assert is_group_matrix(direct_product(G, H), np.kron(A, B), atol=1e-9)


def test_is_group_matrix_rejects_a_perturbation() -> None:
    from gmcnn.groups import dihedral

    G = dihedral(5)
    M = group_matrix(G, np.arange(10.0))
    M[3, 4] += 1e-3
    assert not is_group_matrix(G, M)
    assert is_group_matrix(G, M, atol=1e-2)


def test_wrong_shapes() -> None:
    from gmcnn.groups import cyclic

    G = cyclic(6)
    with pytest.raises(ValueError, match=r"psi has shape \(5,\); expected \(\.\.\., 6\)"):
        group_matrix(G, np.zeros(5))
    with pytest.raises(ValueError, match=r"M has shape \(6, 5\); expected \(\.\.\., 6, 6\)"):
        is_group_matrix(G, np.zeros((6, 5)))
    with pytest.raises(ValueError, match=r"f has shape \(4,\)"):
        group_convolution(G, np.zeros(4), np.zeros(6))
