"""The rotation groups ``C₄`` and ``D₄`` of the pixel grid, their fields and equivariant kernels.

A planar group ``G ⊂ O(2)`` acts on the square grid of pixels and on feature fields
``f: Z² → R^d`` by ``(g·f)(x) = ρ(g) f(g⁻¹x)`` (Cohen & Welling 2016; Weiler & Cesa 2019).
``C₄`` (rotations by multiples of 90°) and ``D₄`` (with reflections) map the grid onto itself,
so this action is exact: a permutation of pixels. Coordinates are ``x`` = column and ``y`` =
up (minus the row), centred on the middle of the image; the generator ``r`` rotates ``x``
towards ``y`` and ``f`` reflects ``x ↦ −x``. This is the convention of ``e2cnn``'s
``Rot2dOnR2(4)``: ``r`` acts on an array as ``numpy.rot90`` on the last two axes and on a
vector field's two channels by ``[[0, −1], [1, 0]]`` (tested).

Representations ``ρ`` (arrays of shape ``(|G|, d, d)``):

- ``"trivial"`` — scalars, ``ρ(g) = 1``;
- ``"vector"`` — the 2D vectors the group is made of (velocity fields), ``ρ(g) = g``;
- ``"regular"`` — functions on ``G``, ``ρ(g) e_h = e_{gh}`` (the hidden fields of group CNNs).

A field type is a representation repeated over ``m`` fields: ``m·d`` channels, field-major.

Equivariant kernels satisfy ``K(gy) = ρ_out(g) K(y) ρ_in(g)⁻¹``. :func:`grid_kernel_basis`
returns an orthonormal basis of all of them on a ``k×k`` grid (the fixed points of the
group average ``K ↦ |G|⁻¹ Σ_g ρ_out(g) K(g⁻¹·) ρ_in(g)⁻¹``), :func:`e2cnn_kernel_basis` the
band-limited basis of ``e2cnn`` (``C₄`` only: ``e2cnn`` 0.2.3 cannot build dihedral bases under
NumPy 2).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import cache
from typing import Literal

import numpy as np
import torch
from torch import Tensor

Representation = Literal["trivial", "vector", "regular"]

_ROTATION = np.array([[0, -1], [1, 0]])
_REFLECTION = np.array([[-1, 0], [0, 1]])


@dataclass(frozen=True, eq=False)
class PlanarGroup:
    """``C₄`` or ``D₄`` as integer ``2×2`` matrices; element ``s·4 + k`` is ``f^s r^k``."""

    name: str
    matrices: np.ndarray  # (|G|, 2, 2) integer

    @property
    def order(self) -> int:
        return len(self.matrices)

    def index(self, matrix: np.ndarray) -> int:
        """The label of the group element equal to ``matrix``."""
        hits = np.flatnonzero((self.matrices == matrix).all(axis=(1, 2)))
        if hits.size != 1:
            raise ValueError(f"{matrix.tolist()} is not an element of {self.name}")
        return int(hits[0])

    @property
    def cayley(self) -> np.ndarray:
        """``cayley[a, b]`` is the label of ``a·b``."""
        return _cayley(self)

    @property
    def inverse(self) -> np.ndarray:
        """``inverse[a]`` is the label of ``a⁻¹``."""
        return np.argmax(self.cayley == 0, axis=1)

    def representation(self, name: Representation) -> np.ndarray:
        """``ρ(g)`` for every element: an array ``(|G|, d, d)``."""
        if name == "trivial":
            return np.ones((self.order, 1, 1))
        if name == "vector":
            return self.matrices.astype(float)
        if name == "regular":
            rho = np.zeros((self.order, self.order, self.order))
            g, h = np.meshgrid(np.arange(self.order), np.arange(self.order), indexing="ij")
            rho[g, self.cayley[g, h], h] = 1.0
            return rho
        raise ValueError(f"representation {name!r} is not one of 'trivial', 'vector', 'regular'")

    def __repr__(self) -> str:
        return f"PlanarGroup({self.name})"


@cache
def _cayley(group: PlanarGroup) -> np.ndarray:
    n = group.order
    table = np.empty((n, n), dtype=np.int64)
    for a in range(n):
        for b in range(n):
            table[a, b] = group.index(group.matrices[a] @ group.matrices[b])
    return table


@cache
def planar_group(name: str) -> PlanarGroup:
    """``"C4"`` or ``"D4"`` (the same object on every call)."""
    rotations = [np.linalg.matrix_power(_ROTATION, k) for k in range(4)]
    if name == "C4":
        return PlanarGroup("C4", np.stack(rotations))
    if name == "D4":
        return PlanarGroup("D4", np.stack(rotations + [_REFLECTION @ r for r in rotations]))
    raise ValueError(f"planar group {name!r} is not supported: choose 'C4' or 'D4'")


def representation_size(name: Representation, group: PlanarGroup) -> int:
    """``d``, the number of channels of one field of representation ``name``."""
    return {"trivial": 1, "vector": 2, "regular": group.order}[name]


@cache
def grid_permutations(group: PlanarGroup, size: int) -> np.ndarray:
    """``perm[g]`` with ``(g·u).ravel() = u.ravel()[perm[g]]`` for ``size×size`` arrays ``u``.

    ``(g·u)(x) = u(g⁻¹x)`` about the centre of the grid, in the coordinates of the module doc.
    """
    rows, cols = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
    # doubled coordinates keep the centre of an even grid on integers
    points = np.stack([2 * cols - (size - 1), (size - 1) - 2 * rows]).reshape(2, -1)
    perms = np.empty((group.order, size * size), dtype=np.int64)
    for g in range(group.order):
        source = group.matrices[group.inverse[g]] @ points
        src_cols = (source[0] + size - 1) // 2
        src_rows = (size - 1 - source[1]) // 2
        perms[g] = src_rows * size + src_cols
    return perms


def transform_fields(
    x: Tensor,
    group: PlanarGroup,
    element: int,
    representation: Representation,
    y_down: bool = False,
) -> Tensor:
    """``g·x`` for fields ``x`` of shape ``(B, m·d, n, n)``: ``(g·f)(p) = ρ(g) f(g⁻¹p)``.

    ``y_down``: vector fields store their second component along increasing row index (the
    datasets' convention) instead of up; ``ρ(g)`` is then conjugated by ``y ↦ −y``.
    """
    batch, channels, height, width = x.shape
    if height != width:
        raise ValueError(f"{group.name} acts on square grids only, got {height}×{width}")
    d = representation_size(representation, group)
    if channels % d:
        raise ValueError(f"{channels} channels are not a whole number of {representation} fields")
    perm = torch.as_tensor(grid_permutations(group, height)[element], device=x.device)
    rho = torch.as_tensor(group.representation(representation)[element], dtype=x.dtype)
    if y_down and representation == "vector":
        flip = torch.tensor([1.0, -1.0], dtype=x.dtype)
        rho = flip[:, None] * rho * flip[None, :]
    fields = x.reshape(batch, channels // d, d, height * width)[..., perm]
    fields = torch.einsum("pq,bmqs->bmps", rho.to(x.device), fields)
    return fields.reshape(batch, channels, height, width)


def _signed_permutation(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(image, sign)`` with ``matrix e_j = sign[j] e_{image[j]}``."""
    image = np.abs(matrix).argmax(axis=0)
    sign = matrix[image, np.arange(matrix.shape[1])]
    if not np.allclose(np.abs(matrix).sum(axis=0), 1.0) or not np.allclose(np.abs(sign), 1.0):
        raise ValueError("expected a signed permutation matrix")
    return image, sign


@cache
def _grid_basis(
    group: PlanarGroup, rep_in: Representation, rep_out: Representation, size: int
) -> np.ndarray:
    """Orbit sums of the group acting on ``vec(K)`` by ``K ↦ ρ_out(g) K(g⁻¹·) ρ_in(g)⁻¹``.

    Every ``ρ`` here and the action on grid points are signed permutations, so the action on
    ``vec(K)`` (index ``(p, q, y)``) is one too; the equivariant kernels are spanned by the
    sums over orbits of unit kernels, one per orbit whose signs do not cancel.
    """
    rho_in = group.representation(rep_in)
    rho_out = group.representation(rep_out)
    d_out, d_in, taps = rho_out.shape[1], rho_in.shape[1], size * size
    perms = grid_permutations(group, size)
    images, signs = [], []
    for g in range(group.order):
        out_image, out_sign = _signed_permutation(rho_out[g])
        # K ρ_in(g)⁻¹ = K ρ_in(g)ᵀ moves column q to the rows of ρ_in(g)
        in_image, in_sign = _signed_permutation(rho_in[g])
        tap_image = np.argsort(perms[g])  # (g·u)[p] = u[perm[p]]: tap perm[p] moves to p
        image = (
            out_image[:, None, None] * d_in * taps
            + in_image[None, :, None] * taps
            + tap_image[None, None, :]
        )
        sign = out_sign[:, None, None] * in_sign[None, :, None] * np.ones(taps)
        images.append(image.ravel())
        signs.append(sign.ravel())
    dimension = d_out * d_in * taps
    seen = np.zeros(dimension, dtype=bool)
    basis = []
    for j in range(dimension):
        if seen[j]:
            continue
        orbit_sum = np.zeros(dimension)
        for image, sign in zip(images, signs, strict=True):
            orbit_sum[image[j]] += sign[j]
        for image in images:
            seen[image[j]] = True
        if np.any(orbit_sum):
            basis.append(orbit_sum / np.linalg.norm(orbit_sum))
    return np.stack(basis).reshape(-1, d_out, d_in, size, size)


def grid_kernel_basis(
    group: PlanarGroup, rep_in: Representation, rep_out: Representation, size: int
) -> Tensor:
    """Orthonormal basis ``(B, d_out, d_in, k, k)`` of all equivariant ``k×k`` kernels.

    For ``regular → regular`` this is the group convolution with free kernels (``B = |G|k²``).
    """
    if size < 1 or size % 2 == 0:
        raise ValueError(f"kernel_size must be a positive odd number, got {size}")
    return torch.as_tensor(_grid_basis(group, rep_in, rep_out, size), dtype=torch.float32)


def e2cnn_kernel_basis(
    group: PlanarGroup, rep_in: Representation, rep_out: Representation, size: int
) -> Tensor:
    """``e2cnn``'s steerable basis ``(B, d_out, d_in, k, k)`` for one field pair (``C₄`` only).

    Read from ``e2cnn.nn.R2Conv``'s basis expansion, one unit coefficient at a time, and
    scaled to unit norm; needs the ``e2cnn`` package (``pip install gmcnn[baselines]``).
    """
    if group.name != "C4":
        raise ValueError(
            f"the e2cnn basis is available for C4 only, not {group.name}: e2cnn 0.2.3 fails to "
            "build dihedral kernel bases under NumPy 2; use basis='grid'"
        )
    if size < 1 or size % 2 == 0:
        raise ValueError(f"kernel_size must be a positive odd number, got {size}")
    return torch.as_tensor(_e2cnn_basis(rep_in, rep_out, size))


@cache
def _e2cnn_basis(rep_in: Representation, rep_out: Representation, size: int) -> np.ndarray:
    from e2cnn import gspaces
    from e2cnn import nn as enn

    gspace = gspaces.Rot2dOnR2(4)
    reps = {
        "trivial": gspace.trivial_repr,
        "vector": gspace.irrep(1),
        "regular": gspace.regular_repr,
    }
    with torch.no_grad(), warnings.catch_warnings():
        # e2cnn 0.2.3 indexes with uint8 masks, which torch ≥ 2 deprecates
        warnings.filterwarnings("ignore", "indexing with dtype torch.uint8", UserWarning)
        conv = enn.R2Conv(
            enn.FieldType(gspace, [reps[rep_in]]),
            enn.FieldType(gspace, [reps[rep_out]]),
            size,
            bias=False,
            initialize=False,
        )
        expansion = conv.basisexpansion
        basis = torch.stack([expansion(e) for e in torch.eye(expansion.dimension())])
    basis = basis.reshape(len(basis), basis.shape[1], basis.shape[2], size, size)
    basis = basis / basis.flatten(1).norm(dim=1)[:, None, None, None, None]
    return basis.numpy()


def invariant_vectors(group: PlanarGroup, rep: Representation) -> Tensor:
    """Orthonormal basis ``(d, t)`` of the vectors fixed by every ``ρ(g)`` (where biases may go)."""
    rho = group.representation(rep)
    projector = rho.mean(axis=0)
    values, vectors = np.linalg.eigh((projector + projector.T) / 2)
    return torch.as_tensor(vectors[:, values > 0.5], dtype=torch.float32)
