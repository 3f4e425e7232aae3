"""Approximately equivariant kernels in the group-diagonal basis (eq. 7–13; MATH.md §4–§6).

A layer's kernel for channel pair ``(o, i)`` is described, per output position ``g`` and
kernel element ``k``, by

    V_{o,i}[g, k] = base[o, i, k] + Σ_l profiles[l, o, g] · relaxed[l, o, i, k]

(``profiles`` may have size 1 instead of ``O`` along ``o``: shared by all output channels).
Its matrix is ``M_{o,i} = Σ_k diag(V_{o,i}[:, k]) B_{k⁻¹}`` — eq. 7 with the column of the
relative position ``h = k⁻¹``. The base part is a group matrix; the displacement (eq. 8,
``σ(g) = g + 1 mod N``) only sees the profiles:

    D(M_{o,i}) = Σ_l (a_l − P a_l) relaxed[l, o, i]ᵀ        (a_l = profiles[l, o]),

so ``DR(M_{o,i}) ≤ L`` (eq. 11–12), and the distance to group matrices (eq. 13) only sees the
profiles' deviations from their means:
``dist²(M_{o,i}) = Σ_k Σ_g (Σ_l (a_l(g) − mean a_l) relaxed[l, o, i, k])²``.
Both are computed here from the parameters, in ``O(N·L² + O·C·K·L²)``, without any
``N × N`` matrix.
"""

from __future__ import annotations

import torch
from torch import Tensor


def _per_output(profiles: Tensor, out_channels: int) -> Tensor:
    """``profiles`` ``(L, 1 or O, N)`` broadcast to ``(O, N, L)``."""
    return profiles.expand(-1, out_channels, -1).permute(1, 2, 0)


def displacement_ranks(profiles: Tensor, relaxed: Tensor) -> Tensor:
    """``DR(M_{o,i})`` for every channel pair, ``(O, C)`` int64 (eq. 11).

    Rank tolerance ``σ_max · 10·N·L · eps`` (``L`` relaxed levels): ``numpy.linalg.matrix_rank``'s
    ``σ_max · N · eps`` on the ``N × N`` displacement, widened by the rounding error of the
    QR factor, so that a structurally zero singular value (e.g. ``a(g) − a(σ(g))`` of rank
    1 on a group of order 2) is not counted by chance.
    """
    levels, out_channels, channels, _ = relaxed.shape
    if levels == 0:
        return torch.zeros(out_channels, channels, dtype=torch.int64, device=relaxed.device)
    size = profiles.shape[2]
    diff = profiles - profiles.roll(-1, dims=2)  # a(g) − a(σ(g)), σ(g) = g + 1 mod N
    r = torch.linalg.qr(_per_output(diff, out_channels), mode="r").R  # (O, L, L)
    # D(M_{o,i}) = Q_o R_o relaxed[:, o, i]ᵀ: same singular values as R_o relaxed[:, o, i]ᵀ.
    core = torch.einsum("olm,moik->oilk", r, relaxed)
    rtol = 10 * size * levels * torch.finfo(core.dtype).eps
    ranks: Tensor = torch.linalg.matrix_rank(core, atol=0.0, rtol=rtol)
    return ranks


def squared_distances(profiles: Tensor, relaxed: Tensor) -> Tensor:
    """``dist_G(M_{o,i})²`` for every channel pair, ``(O, C)`` (eq. 13; differentiable)."""
    levels, out_channels, _, _ = relaxed.shape
    if levels == 0:
        return relaxed.new_zeros(relaxed.shape[1:3])
    centred = profiles - profiles.mean(dim=2, keepdim=True)
    a = _per_output(centred, out_channels)  # (O, N, L)
    gram = a.transpose(1, 2) @ a  # (O, L, L)
    return torch.einsum("loik,olm,moik->oi", relaxed, gram, relaxed)


def position_kernels(base: Tensor, profiles: Tensor, relaxed: Tensor) -> Tensor:
    """``V_{o,i}[g, k]`` as a dense ``(O, C, N, K)`` tensor (small groups: dense matrices)."""
    out_channels = base.shape[0]
    a = _per_output(profiles, out_channels)  # (O, N, L)
    return base[:, :, None, :] + torch.einsum("onl,loik->oink", a, relaxed)
