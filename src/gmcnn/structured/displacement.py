"""The displacement operator, rank and dimension of group-structured matrices (eq. 8–11).

``D(M) = V − P V`` with ``V`` the group-diagonal basis of ``M`` (eq. 7) and ``P`` the
permutation matrix of a cyclic permutation ``σ`` of ``G``: ``D(M)[g, h] = V[g, h] −
V[σ(g), h]``. Default ``σ(g) = g + 1 mod N`` on labels (MATH.md §5, a choice). Eq. 9 allows
one cyclic permutation ``σ_h`` per column. ``D(M) = 0`` iff ``M`` is a group matrix.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import cast

import numpy as np
import numpy.typing as npt

from gmcnn.groups import FiniteGroup
from gmcnn.structured.basis import to_diagonal_basis
from gmcnn.structured.diagonals import Array, check_numbers


def _check_cycles(sigma: npt.NDArray[np.int64], N: int) -> None:
    """Each row of ``sigma`` must be one ``N``-cycle (a cyclic permutation of all of ``G``)."""
    for row in sigma:
        if not np.array_equal(np.sort(row), np.arange(N)):
            raise ValueError(f"sigma {row.tolist()} is not a permutation of 0 … {N - 1}")
        x, length = int(row[0]), 1
        while x != 0:
            x, length = int(row[x]), length + 1
        if length != N:
            raise ValueError(
                f"sigma {row.tolist()} is not a cyclic permutation: the cycle through 0 has "
                f"length {length}, expected one cycle of length {N}"
            )


def cyclic_shifts(G: FiniteGroup, sigma: npt.ArrayLike | None = None) -> npt.NDArray[np.int64]:
    """The ``(N, N)`` array whose row ``h`` is the cyclic permutation ``σ_h`` used for column ``h``.

    ``sigma`` may be ``None`` (``σ(g) = g + 1 mod N`` for every column, eq. 8), one
    permutation of shape ``(N,)`` for all columns, or one per column, shape ``(N, N)`` (eq. 9).
    """
    N = G.order
    if sigma is None:
        return np.broadcast_to(np.roll(np.arange(N), -1), (N, N))
    arr = np.asarray(sigma)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"sigma must hold integer labels of {G.name}, got dtype {arr.dtype}")
    if arr.shape not in ((N,), (N, N)):
        raise ValueError(
            f"sigma has shape {arr.shape} and dtype {arr.dtype}; expected integer labels of "
            f"shape ({N},) (one cyclic permutation) or ({N}, {N}) (one per column, eq. 9)"
        )
    arr = np.atleast_2d(arr.astype(np.int64))
    _check_cycles(arr, N)
    return np.broadcast_to(arr, (N, N))


def displacement(G: FiniteGroup, M: npt.ArrayLike, sigma: npt.ArrayLike | None = None) -> Array:
    """``D(M)[g, h] = V[g, h] − V[σ_h(g), h]`` (eq. 8, eq. 9 with per-column ``sigma``)."""
    V = to_diagonal_basis(G, M)
    shifts = cyclic_shifts(G, sigma).T  # shifts[g, h] = σ_h(g)
    return np.asarray(V - np.take_along_axis(V, np.broadcast_to(shifts, V.shape), axis=-2))


def _check_tolerance(tol: float | None) -> float | None:
    """``tol`` as a float: ``None``, or a finite non-negative real number."""
    if tol is None:
        return None
    if isinstance(tol, bool) or not isinstance(tol, int | float | np.integer | np.floating):
        raise TypeError(f"tol must be a non-negative real number or None, got {tol!r}")
    if not np.isfinite(tol) or tol < 0:
        raise ValueError(f"tol must be a finite non-negative number, got {tol!r}")
    return float(tol)


def _rounding_tolerance(D: Array, matrices: npt.NDArray[np.generic]) -> float:
    """``max(D.shape) · eps · max ‖M‖_F``: the size of the rounding error of ``D(M)``.

    ``D(M)`` is a difference of entries of ``M``, so its error scales with ``M`` rather than
    with ``D(M)``; ``numpy.linalg.matrix_rank``'s default, relative to ``D(M)`` alone, would
    count that error as rank when ``M`` is close to a group matrix.
    """
    real = D.dtype if D.dtype.kind in "fc" else np.dtype(np.float64)
    scale = max(float(np.linalg.norm(m)) for m in matrices)
    return float(max(D.shape) * np.finfo(real).eps * scale)


def displacement_rank(
    G: FiniteGroup,
    M: npt.ArrayLike,
    tol: float | None = None,
    sigma: npt.ArrayLike | None = None,
) -> int:
    """``DR(M) = rank D(M)`` (eq. 11): singular values of ``D(M)`` above ``tol`` are counted,
    by default ``N · eps · ‖M‖_F`` (:func:`_rounding_tolerance`).

    Raises ``ValueError`` for a matrix with NaN or infinite entries or of the wrong shape,
    ``TypeError`` for non-numeric input.
    """
    tol = _check_tolerance(tol)
    D = displacement(G, M, sigma)
    if tol is None:
        tol = _rounding_tolerance(D, np.asarray(M)[None])
    return int(np.linalg.matrix_rank(D, tol=tol))


def displacement_dimension(
    G: FiniteGroup,
    matrices: Iterable[npt.ArrayLike],
    tol: float | None = None,
    sigma: npt.ArrayLike | None = None,
) -> int:
    """``dim span {D(M) : M ∈ S}`` (eq. 10) for a finite set ``S`` of matrices.

    ``D`` is linear with kernel the group matrices, so this is ``dim span S − dim(span S ∩ GM)``
    and does not depend on the cyclic permutations chosen (MATH.md §5). Default ``tol``:
    ``max(|S|, N²) · eps · max ‖M‖_F`` (:func:`_rounding_tolerance`).
    """
    tol = _check_tolerance(tol)
    listed = matrices if isinstance(matrices, np.ndarray) else list(matrices)
    stack = check_numbers(cast(npt.ArrayLike, listed), "matrices")
    if stack.ndim == 2:
        stack = stack[None]
    if stack.shape[0] == 0:
        return 0
    D = displacement(G, stack, sigma).reshape(stack.shape[0], -1)
    if tol is None:
        tol = _rounding_tolerance(D, stack)
    return int(np.linalg.matrix_rank(D, tol=tol))
