"""Dense reference objects for tests: translation operators and random structured matrices."""

from __future__ import annotations

import numpy as np

from gmcnn.groups import FiniteGroup
from gmcnn.structured import from_diagonal_basis, group_matrix


def left_translation(G: FiniteGroup, u: int) -> np.ndarray:
    """``L_u`` with ``(L_u f)(g) = f(u⁻¹g)``: ``L_u[g, u⁻¹g] = 1``."""
    L = np.zeros((G.order, G.order))
    L[G.labels, G.mul(G.inv(u), G.labels)] = 1.0
    return L


def random_group_matrix(G: FiniteGroup, rng: np.random.Generator) -> np.ndarray:
    return group_matrix(G, rng.normal(size=G.order))


def low_displacement_rank_matrix(G: FiniteGroup, rank: int, rng: np.random.Generator) -> np.ndarray:
    """``V = 1·ψ₀ᵀ + Σ_{l<=rank} u_l ψ_lᵀ`` in the group-diagonal basis (MATH.md §5)."""
    V = np.ones((G.order, 1)) * rng.normal(size=(1, G.order))
    for _ in range(rank):
        V += np.outer(rng.normal(size=G.order), rng.normal(size=G.order))
    return from_diagonal_basis(G, V)


def random_cycle(N: int, rng: np.random.Generator) -> np.ndarray:
    """A uniformly random cyclic permutation (one N-cycle) as an image array."""
    order = rng.permutation(N)
    sigma = np.empty(N, dtype=np.int64)
    sigma[order] = np.roll(order, -1)
    return sigma
