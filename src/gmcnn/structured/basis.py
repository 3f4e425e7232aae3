"""Any matrix in the group-diagonal basis; projection and distance to group matrices.

Eq. 7: every ``N×N`` matrix is ``M = Σ_h diag(V[:, h]) B_h`` with ``V[g, h] = M[g, g·h]``;
``M`` is a group matrix iff every column of ``V`` is constant (MATH.md §4). The orthogonal
projection onto group matrices replaces each column of ``V`` by its mean, so
``dist_G(M)² = Σ_h Σ_g (V[g, h] − mean_g V[g, h])²`` (eq. 13, MATH.md §6).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from gmcnn.groups import FiniteGroup
from gmcnn.structured.diagonals import Array, check_dense, check_square, group_matrix


def _diagonal_columns(G: FiniteGroup) -> npt.NDArray[np.int64]:
    """``C[g, h] = g·h``: the column of ``M`` that ``V[g, h]`` reads."""
    check_dense(G, "the group-diagonal basis")
    return G.cayley_table()


def to_diagonal_basis(G: FiniteGroup, M: npt.ArrayLike) -> Array:
    """``V[g, h] = M[g, g·h]`` (eq. 7); rows are positions ``g``, columns relative positions ``h``.

    Works on ``(…, N, N)`` stacks.
    """
    arr = check_square(G, M)
    return np.take_along_axis(arr, np.broadcast_to(_diagonal_columns(G), arr.shape), axis=-1)


def from_diagonal_basis(G: FiniteGroup, V: npt.ArrayLike) -> Array:
    """The matrix ``M = Σ_h diag(V[:, h]) B_h``, i.e. ``M[g, g·h] = V[g, h]`` (eq. 7)."""
    arr = check_square(G, V, name="V")
    M = np.zeros_like(arr)
    np.put_along_axis(M, np.broadcast_to(_diagonal_columns(G), arr.shape), arr, axis=-1)
    return M


def project_to_group_matrices(G: FiniteGroup, M: npt.ArrayLike) -> Array:
    """The closest group matrix to ``M`` in Frobenius norm: ``Σ_h mean_g(V[g, h]) B_h`` (eq. 13)."""
    V = to_diagonal_basis(G, M)
    return group_matrix(G, V.mean(axis=-2))


def distance_to_group_matrices(G: FiniteGroup, M: npt.ArrayLike) -> Array | float:
    """``dist_G(M) = min_A ‖M − A‖_F`` over group matrices ``A`` (eq. 13, Prop. 3.1).

    Returns a float for one matrix, an array for a ``(…, N, N)`` stack.
    """
    V = to_diagonal_basis(G, M)
    dist = np.sqrt(((V - V.mean(axis=-2, keepdims=True)) ** 2).sum(axis=(-2, -1)))
    return float(dist) if dist.ndim == 0 else dist
