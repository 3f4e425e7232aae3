"""Diagonal basis (eq. 7), displacement (eq. 8–11), distance to group matrices (eq. 13),
Prop. 3.1 and Prop. C.1."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.strategies import group_pairs, groups
from tests.structured.helpers import (
    low_displacement_rank_matrix,
    random_cycle,
    random_group_matrix,
)

from gmcnn.groups import FiniteGroup, cyclic, direct_product
from gmcnn.structured import (
    displacement,
    displacement_dimension,
    displacement_rank,
    distance_to_group_matrices,
    from_diagonal_basis,
    group_diagonal_matrix,
    is_group_matrix,
    project_to_group_matrices,
    to_diagonal_basis,
)

seeds = st.integers(0, 2**32 - 1)


@given(groups(), seeds)
def test_eq_7_round_trip(G: FiniteGroup, seed: int) -> None:
    rng = np.random.default_rng(seed)
    M = rng.normal(size=(G.order, G.order))
    V = to_diagonal_basis(G, M)
    np.testing.assert_array_equal(from_diagonal_basis(G, V), M)
    np.testing.assert_array_equal(to_diagonal_basis(G, from_diagonal_basis(G, V)), V)
    expected = sum(np.diag(V[:, h]) @ group_diagonal_matrix(G, h) for h in G.labels)
    np.testing.assert_allclose(M, expected)


@given(groups(), seeds)
def test_displacement_vanishes_exactly_on_group_matrices(G: FiniteGroup, seed: int) -> None:
    rng = np.random.default_rng(seed)
    A = random_group_matrix(G, rng)
    assert np.allclose(displacement(G, A), 0)
    assert displacement_rank(G, A) == 0
    if G.order > 1:
        M = A.copy()
        M[rng.integers(G.order), rng.integers(G.order)] += 1.0
        assert not np.allclose(displacement(G, M), 0)
        assert not is_group_matrix(G, M)
        # and a matrix with D(M) = 0 under random per-column cycles is a group matrix
        sigma = np.stack([random_cycle(G.order, rng) for _ in range(G.order)])
        assert np.allclose(displacement(G, A, sigma), 0)
        assert not np.allclose(displacement(G, M, sigma), 0)


@given(groups(), st.integers(0, 3), seeds)
def test_low_displacement_rank_construction(G: FiniteGroup, r: int, seed: int) -> None:
    M = low_displacement_rank_matrix(G, r, np.random.default_rng(seed))
    assert displacement_rank(G, M) <= r


@given(groups(), st.integers(1, 4), st.integers(0, 2), seeds)
def test_displacement_dimension_does_not_depend_on_sigma(
    G: FiniteGroup, count: int, r: int, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    mats = [low_displacement_rank_matrix(G, r, rng) for _ in range(count)]
    mats.append(random_group_matrix(G, rng))
    reference = displacement_dimension(G, mats)
    sigma = np.stack([random_cycle(G.order, rng) for _ in range(G.order)])
    assert displacement_dimension(G, mats, sigma=sigma) == reference
    assert displacement_dimension(G, mats, sigma=random_cycle(G.order, rng)) == reference
    # dim span S − dim(span S ∩ GM), computed independently
    span = np.linalg.matrix_rank(np.stack([m.ravel() for m in mats]))
    gm_basis = np.stack([group_diagonal_matrix(G, h).ravel() for h in G.labels])
    both = np.linalg.matrix_rank(np.vstack([np.stack([m.ravel() for m in mats]), gm_basis]))
    intersection = span + G.order - both
    assert reference == span - intersection


@given(groups(), seeds)
def test_projection_is_the_frobenius_minimiser(G: FiniteGroup, seed: int) -> None:
    rng = np.random.default_rng(seed)
    M = rng.normal(size=(G.order, G.order))
    basis = np.stack([group_diagonal_matrix(G, h).ravel() for h in G.labels], axis=1)
    coef = np.linalg.lstsq(basis, M.ravel(), rcond=None)[0]
    best = (basis @ coef).reshape(M.shape)
    P = project_to_group_matrices(G, M)
    np.testing.assert_allclose(P, best, atol=1e-10)
    assert is_group_matrix(G, P)
    assert distance_to_group_matrices(G, M) == pytest.approx(np.linalg.norm(M - best))
    assert distance_to_group_matrices(G, P) == pytest.approx(0, abs=1e-10)


def fro(x: np.ndarray) -> float:
    return float(np.linalg.norm(x))


@given(groups(), seeds)
def test_prop_3_1_items_1_and_2(G: FiniteGroup, seed: int) -> None:
    rng = np.random.default_rng(seed)
    M = random_group_matrix(G, rng) + 0.3 * rng.normal(size=(G.order, G.order))
    N = random_group_matrix(G, rng) + 0.3 * rng.normal(size=(G.order, G.order))
    dist = lambda X: distance_to_group_matrices(G, X)  # noqa: E731
    assert dist(M.T) == pytest.approx(dist(M))
    assert dist(M @ N) <= fro(M) * dist(N) + fro(N) * dist(M) + 1e-9


@given(group_pairs(), seeds)
def test_prop_3_1_item_3(pair: tuple[FiniteGroup, FiniteGroup], seed: int) -> None:
    G, H = pair
    rng = np.random.default_rng(seed)
    A = random_group_matrix(G, rng) + 0.3 * rng.normal(size=(G.order, G.order))
    B = random_group_matrix(H, rng) + 0.3 * rng.normal(size=(H.order, H.order))
    lhs = distance_to_group_matrices(direct_product(G, H), np.kron(A, B))
    rhs = fro(A) * distance_to_group_matrices(H, B) + fro(B) * distance_to_group_matrices(G, A)
    assert lhs <= rhs + 1e-9


def ldr_class(G: FiniteGroup, size: int, rank: int, rng: np.random.Generator) -> list[np.ndarray]:
    return [low_displacement_rank_matrix(G, rank, rng) for _ in range(size)]


@given(groups(), st.integers(1, 3), st.integers(0, 2), seeds)
def test_prop_c_1_items_1_and_2(G: FiniteGroup, size: int, rank: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    S1, S2 = ldr_class(G, size, rank, rng), ldr_class(G, size, rank, rng)
    d1, d2 = displacement_dimension(G, S1), displacement_dimension(G, S2)
    assert displacement_dimension(G, [m.T for m in S1]) == d1  # (1) transposes
    sums = [a + b for a in S1 for b in S2]
    assert displacement_dimension(G, sums) <= d1 + d2  # (2) sums of classes


@given(group_pairs(), st.integers(1, 2), seeds)
def test_prop_c_1_item_3(pair: tuple[FiniteGroup, FiniteGroup], size: int, seed: int) -> None:
    """``dd(S₁ ⊗ S₂) <= n₁ d₂ + d₁ n₂ − d₁ d₂``, where ``n_i = dim span S_i``.

    ``span(S₁⊗S₂) = U₁⊗U₂`` and ``(U₁∩GM_G) ⊗ (U₂∩GM_H)`` lies in the group matrices of ``G×H``,
    which bounds the quotient's dimension by ``n₁n₂ − (n₁−d₁)(n₂−d₂)``.
    """
    G, H = pair
    rng = np.random.default_rng(seed)
    S1 = [*ldr_class(G, size, 1, rng), random_group_matrix(G, rng)]
    S2 = [*ldr_class(H, size, 1, rng), random_group_matrix(H, rng)]
    d1, d2 = displacement_dimension(G, S1), displacement_dimension(H, S2)
    n1 = np.linalg.matrix_rank(np.stack([m.ravel() for m in S1]))
    n2 = np.linalg.matrix_rank(np.stack([m.ravel() for m in S2]))
    kron = [np.kron(a, b) for a in S1 for b in S2]
    assert displacement_dimension(direct_product(G, H), kron) <= n1 * d2 + d1 * n2 - d1 * d2


def test_bad_sigma_and_shapes() -> None:
    G = cyclic(4)
    M = np.eye(4)
    with pytest.raises(ValueError, match="not a cyclic permutation"):
        displacement(G, M, sigma=np.array([1, 0, 3, 2]))
    with pytest.raises(ValueError, match="not a permutation"):
        displacement(G, M, sigma=np.array([1, 1, 3, 2]))
    with pytest.raises(ValueError, match=r"sigma has shape \(3,\)"):
        displacement(G, M, sigma=np.array([1, 2, 0]))
    with pytest.raises(ValueError, match=r"M has shape \(3, 3\); expected \(\.\.\., 4, 4\)"):
        to_diagonal_basis(G, np.eye(3))
    with pytest.raises(ValueError, match="dense constructions are limited"):
        group_diagonal_matrix(direct_product(cyclic(128), cyclic(128)), 1)
