"""Group diagonals, group matrices and group convolution (paper eq. 1–3, 6; MATH.md §2).

The group diagonal ``B_h`` (``B_h[g, g'] = 1`` iff ``g⁻¹g' = h``) has one 1 per row, at
column ``g·h``; it is handled as that column index array, and a dense matrix is only built
on request for small groups.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from gmcnn.groups import DirectProduct, FiniteGroup, Labels, SemidirectProduct, as_labels
from gmcnn.groups.base import brief

Array = npt.NDArray[np.float64]

# Dense N×N constructions are refused beyond this order (4096² float64 = 128 MiB).
MAX_DENSE_ORDER = 4096


def check_dense(G: FiniteGroup, what: str) -> None:
    """Raise ``ValueError`` if ``N×N`` matrices of ``G`` are too large to build densely."""
    if G.order > MAX_DENSE_ORDER:
        raise ValueError(
            f"{what} builds {G.order}×{G.order} dense matrices for {G.name}; "
            f"dense constructions are limited to order <= {MAX_DENSE_ORDER}"
        )


def check_numbers(arr_like: npt.ArrayLike, name: str) -> Array:
    """``arr_like`` as a numeric array of finite values.

    Raises ``TypeError`` for non-numeric input (strings, objects, ragged nesting) and
    ``ValueError`` naming the first NaN or infinity (a rank or a distance of a matrix with
    NaN has no meaning; LAPACK would fail with "SVD did not converge").
    """
    try:
        arr = np.asarray(arr_like)
    except ValueError as error:  # ragged nested sequences
        raise TypeError(f"{name} must be a numeric array, got {brief(arr_like)}") from error
    if arr.dtype.kind not in "biufc":
        raise TypeError(f"{name} must be a numeric array, got dtype {arr.dtype}")
    if arr.dtype.kind in "fc":
        finite = np.isfinite(arr)
        if not finite.all():
            where = tuple(int(i) for i in np.argwhere(~finite)[0])
            raise ValueError(
                f"{name} has the non-finite value {arr[where]} at index {where}; expected "
                "finite numbers"
            )
    return arr


def check_square(G: FiniteGroup, M: npt.ArrayLike, name: str = "M") -> Array:
    """``M`` as an array of shape ``(…, N, N)`` of finite numbers; ``ValueError`` naming its
    shape or a non-finite entry, ``TypeError`` for non-numeric input."""
    arr = check_numbers(M, name)
    if arr.ndim < 2 or arr.shape[-2:] != (G.order, G.order):
        raise ValueError(
            f"{name} has shape {arr.shape}; expected (..., {G.order}, {G.order}) for {G.name}"
        )
    return arr


def check_function(G: FiniteGroup, f: npt.ArrayLike, name: str) -> Array:
    """``f`` as an array of shape ``(…, N)`` of finite numbers (a function on ``G``), or a
    ``ValueError`` naming its shape or a non-finite entry (``TypeError`` if not numeric)."""
    arr = check_numbers(f, name)
    if arr.ndim < 1 or arr.shape[-1] != G.order:
        raise ValueError(
            f"{name} has shape {arr.shape}; expected (..., {G.order}) (a function on {G.name})"
        )
    return arr


def group_diagonal(G: FiniteGroup, h: int) -> Labels:
    """The group diagonal ``B_h`` (eq. 1) as its column index array ``col[g] = g·h``."""
    return G.mul(G.labels, as_labels(h, G.order))


def group_diagonal_matrix(G: FiniteGroup, h: int) -> Array:
    """The dense 0/1 matrix ``B_h[g, g'] = δ(g⁻¹g' = h)`` (eq. 1; small groups)."""
    check_dense(G, "group_diagonal_matrix")
    B = np.zeros((G.order, G.order))
    B[G.labels, group_diagonal(G, h)] = 1.0
    return B


def relative_positions(G: FiniteGroup) -> Labels:
    """The table ``T[g, g'] = g⁻¹·g'``: which group diagonal passes through ``(g, g')``."""
    check_dense(G, "relative_positions")
    e = G.labels
    return G.mul(G.inv(e)[:, None], e[None, :])


def group_matrix(G: FiniteGroup, psi: npt.ArrayLike) -> Array:
    """The group matrix ``M_ψ[g, g'] = ψ(g⁻¹g') = Σ_h ψ(h) B_h`` (eq. 1, 3).

    ``psi`` has shape ``(…, N)``; leading dimensions are kept (``(…, N, N)``).
    """
    psi_arr = check_function(G, psi, "psi")
    return np.asarray(psi_arr[..., relative_positions(G)])


def is_group_matrix(G: FiniteGroup, M: npt.ArrayLike, atol: float = 1e-8) -> bool:
    """Whether ``M[g, g']`` depends only on ``g⁻¹g'`` (to absolute tolerance ``atol``)."""
    arr = check_square(G, M)
    psi = arr[..., G.identity, :]  # row e: M[e, h] = ψ(h)
    return bool(np.allclose(arr, group_matrix(G, psi), rtol=0.0, atol=atol))


def group_convolution(G: FiniteGroup, f: npt.ArrayLike, psi: npt.ArrayLike) -> Array:
    """``(f ∗ ψ)(g) = Σ_h f(h) ψ(h⁻¹g)`` (eq. 2), over the support of ``ψ`` (eq. 3).

    Substituting ``k = h⁻¹g`` gives ``(f ∗ ψ)(g) = Σ_k ψ(k) f(g k⁻¹) = Σ_k ψ(k) (B_{k⁻¹} f)(g)``:
    one gather per group diagonal in the kernel's support, ``O(N·|supp ψ|)``. ``f`` has shape
    ``(…, N)`` and ``psi`` shape ``(N,)``.
    """
    f_arr = check_function(G, f, "f")
    psi_arr = check_function(G, psi, "psi")
    if psi_arr.ndim != 1:
        raise ValueError(f"psi has shape {psi_arr.shape}; expected ({G.order},)")
    out = np.zeros(np.broadcast_shapes(f_arr.shape), dtype=np.result_type(f_arr, psi_arr))
    for k in np.flatnonzero(psi_arr):
        out += psi_arr[k] * f_arr[..., group_diagonal(G, int(G.inv(k)))]
    return out


def product_group_diagonal(G: DirectProduct, h: int) -> Labels:
    """``B_(h₁,…,h_k) = B_{h₁} ⊗ … ⊗ B_{h_k}`` (eq. 6), built from the factors' diagonals.

    The Kronecker product of permutation matrices is the permutation whose index array is the
    mixed-radix combination of the factors' index arrays.
    """
    parts = G.split(h)
    cols = [group_diagonal(f, int(p)) for f, p in zip(G.factors, parts, strict=True)]
    grids = np.meshgrid(*cols, indexing="ij")
    return G.combine(*[c.ravel() for c in grids])


def semidirect_group_diagonal(G: SemidirectProduct, h: int) -> Labels:
    """The group diagonal of ``(m, k) ∈ N ⋊ H`` from those of ``N`` and ``H`` (paper §2.2).

    ``(n, x)·(m, k) = (n·φ_x(m), x·k)``, so ``B_(m,k) = Σ_x B^N_{φ_x(m)} ⊗ E_{x, x·k}``, and
    ``B^N_{φ_x(m)} = P_x⁻¹ B^N_m P_x`` for the permutation ``P_x`` of ``φ_x``: the diagonal of
    ``N`` at ``φ_x(m)`` is that at ``m`` conjugated by the automorphism. Built from ``N``'s
    single diagonal ``B^N_m``, ``H``'s ``B^H_k`` and the action.
    """
    m, k = (int(x) for x in G.split(h))
    col_n = group_diagonal(G.normal, m)
    col_h = group_diagonal(G.acting, k)
    # col of B^N_{φ_x(m)}: n ↦ φ_x(col_n[φ_x⁻¹(n)]), one row per x.
    conjugated = np.take_along_axis(G.action, col_n[G.inverse_action], axis=1)
    n_idx = G.normal.labels[None, :]
    x_idx = G.acting.labels[:, None]
    cols = G.combine(conjugated, col_h[x_idx])  # cols[x, n]: column of row (n, x)
    out = np.empty(G.order, dtype=np.int64)
    out[G.combine(n_idx, x_idx).ravel()] = cols.ravel()
    return out
