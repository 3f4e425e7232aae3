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

Error addition ("E" in Table 3) is the case ``L = 1`` with one-hot profiles: output channel
``o`` carries its error kernel at one position ``p_o`` only. :func:`error_positions` chooses
those positions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import numpy.typing as npt
import torch
from torch import Tensor

from gmcnn.groups import CyclicGroup, FiniteGroup, Labels
from gmcnn.nn.signals import signal_shape

#: The rules of :func:`error_positions` (``None``: ``"centre"`` on a grid, else ``"identity"``).
PositionRule = Literal["centre", "identity"]
ErrorPositions = PositionRule | Sequence[int] | npt.NDArray[np.integer] | None


def grid_shape(group: FiniteGroup) -> tuple[int, ...] | None:
    """The grid a signal on ``group`` is laid out on, or ``None`` if it has none.

    Grids: the image layout ``(n₁, …, n_k)``, ``k ≥ 2``, of a direct product (and of the
    product subgroups pooling leaves; label = row-major index), and the line ``(n,)`` of a
    cyclic group ``C_n`` (label ``k`` at point ``k``). Other groups (dihedral, symmetric,
    permutation groups, semidirect products, other subgroups) have no grid: their labels are
    not positions.
    """
    shape = signal_shape(group)
    if len(shape) >= 2:
        return shape
    if isinstance(group, CyclicGroup):
        return (group.order,)
    return None


def centre_order(shape: Sequence[int]) -> Labels:
    """The labels of a grid ``shape`` sorted by squared Euclidean distance to the centre
    ``(n₁//2, n₂//2, …)``, ties by label (row-major labels): for ``8 × 8``,
    ``[36, 28, 35, 37, 44, …]``."""
    coordinates = np.indices(tuple(shape)).reshape(len(shape), -1)
    centre = np.array([n // 2 for n in shape])[:, None]
    squared = ((coordinates - centre) ** 2).sum(axis=0)
    labels = np.arange(squared.size)
    order: Labels = np.lexsort((labels, squared))
    return order


def identity_order(group: FiniteGroup) -> Labels:
    """The labels sorted by word distance to the identity, ties by label (MATH.md §1)."""
    order: Labels = np.lexsort((group.labels, group.word_distance()))
    return order


def error_positions(group: FiniteGroup, out_channels: int, rule: ErrorPositions = None) -> Labels:
    """The position ``p_o`` of output channel ``o``'s error term (error addition, "E").

    ``rule``:

    - ``"centre"`` — the grid points nearest the grid's centre (:func:`centre_order`), as in
      the paper's public code: on images these are the pixels where the content is, so the
      error terms see the input (on MNIST the identity's corner pixel is always black);
    - ``"identity"`` — the elements nearest the identity by word distance (ties by label);
    - ``None`` (default) — ``"centre"`` where the group has a grid (:func:`grid_shape`),
      ``"identity"`` otherwise;
    - ``out_channels`` distinct labels, one per output channel.

    For a rule, channel ``o`` takes the ``o``-th element of the order, and the order repeats
    when ``out_channels`` exceeds the group's order. Returns int64 ``(out_channels,)``.

    Raises ``ValueError`` (one line naming the value) for an unknown rule, ``"centre"`` on a
    group without a grid, or labels that are not ``out_channels`` distinct labels of the group.
    """
    if rule is None:
        rule = "centre" if grid_shape(group) is not None else "identity"
    if isinstance(rule, str):
        if rule == "centre":
            shape = grid_shape(group)
            if shape is None:
                raise ValueError(
                    f"error_positions='centre' needs a group laid out on a grid (a direct "
                    f"product or a cyclic group); {group.name} has none: use 'identity' or "
                    "explicit labels"
                )
            order = centre_order(shape)
        elif rule == "identity":
            order = identity_order(group)
        else:
            raise ValueError(
                f"error_positions must be 'centre', 'identity' or {out_channels} labels, "
                f"got {rule!r}"
            )
        positions: Labels = np.resize(order, out_channels)
        return positions
    return _check_positions(group, out_channels, rule)


def _check_positions(group: FiniteGroup, out_channels: int, labels: object) -> Labels:
    try:
        array = np.asarray(labels)
    except (TypeError, ValueError):
        array = np.asarray(None)
    if array.ndim != 1 or array.dtype.kind not in "iu" or array.size != out_channels:
        raise ValueError(
            f"error_positions must be 'centre', 'identity' or {out_channels} labels (one per "
            f"output channel), got {labels!r}"
        )
    positions = array.astype(np.int64)
    bad = positions[(positions < 0) | (positions >= group.order)]
    if bad.size:
        raise ValueError(
            f"error_positions label {int(bad[0])} is out of range: expected 0 <= label < "
            f"{group.order} ({group.name})"
        )
    unique, counts = np.unique(positions, return_counts=True)
    if np.any(counts > 1):
        raise ValueError(
            f"error_positions label {int(unique[counts > 1][0])} is repeated in "
            f"{positions.tolist()}; expected distinct labels"
        )
    return positions


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


def check_position_rule(rule: object, relaxation: object) -> None:
    """A network-wide ``error_positions`` option: ``None``, ``"centre"`` or ``"identity"``,
    and only with ``relaxation="error_addition"``; ``ValueError`` (one line) otherwise.

    Explicit labels are per layer (:class:`~gmcnn.nn.GMConv`), since each layer of a network
    may live on another group.
    """
    if rule is None:
        return
    if rule not in ("centre", "identity"):
        raise ValueError(
            f"error_positions must be 'centre' or 'identity' for a whole network, got {rule!r}"
        )
    if relaxation != "error_addition":
        raise ValueError(
            f"error_positions={rule!r} needs relaxation='error_addition', got "
            f"relaxation={relaxation!r}"
        )
