"""Group convolution as a block of circular convolutions (the fast path; paper §2.2, eq. 6).

Many groups are, as sets, ``T × Z_{n₁} × … × Z_{n_d}``: a few *blocks* ``t`` times a cyclic
grid ``n``, with a labelling ``layout[t, n]`` such that right multiplication by any ``k⁻¹``
moves block ``h`` to one block ``t`` and translates the grid by one offset ``δ``:

    layout[h, n] · k⁻¹ = layout[t(h, k), n − δ(h, k)]        for every grid point n.

Then ``(f ∗ ψ)(h, ·) = Σ_k ψ(k) f(t(h, k), · − δ(h, k))`` is a circular convolution on the
grid from ``|T|`` input blocks to ``|T|`` output blocks: one ``conv1d/2d/3d`` with
``|T|·C`` input and ``|T|·O`` output channels and circular padding. This holds for

- cyclic groups and their direct products (one block; the kernel is a plain stencil),
- dihedral groups ``D_n = C_n ⋊ C₂`` (two blocks: rotations and reflections, with the
  reflections' grid read backwards, ``f·r^k = r^{-k}·f``),
- semidirect products ``N ⋊ H`` with ``N`` one of the above one-block groups (``|H|``
  blocks; block ``h`` is the coset ``N·h`` and ``δ`` is ``φ_t(m)`` for ``k = (m, s)``),
- direct products of any of these (blocks multiply, grids concatenate), and
- subgroups of them that are a set of blocks times a sub-lattice ``d₁Z × … × d_dZ``, which
  is what pooling by ``2C_n × 2C_n`` leaves.

The same form serves the Fourier path (:mod:`gmcnn.nn.fourier`), which computes this
circular convolution exactly by the DFT of the grid; :class:`~gmcnn.nn.GMConv` chooses between
the two (and gathering) by their estimated cost.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from gmcnn.groups import (
    CyclicGroup,
    DihedralGroup,
    DirectProduct,
    FiniteGroup,
    Labels,
    SemidirectProduct,
    Subgroup,
)
from gmcnn.groups.base import unravel

# conv1d, conv2d and conv3d: grids of at most three axes.
MAX_GRID_AXES = 3


@dataclass(frozen=True)
class GridForm:
    """A group's elements as ``blocks × shape`` (``layout[t, n]`` is a label; see module doc)."""

    blocks: int
    shape: tuple[int, ...]
    layout: Labels  # (blocks, prod(shape)), every label exactly once

    @property
    def position(self) -> Labels:
        """The inverse of ``layout``: ``position[label]`` is its flat index ``t·|grid| + n``."""
        flat = self.layout.ravel()
        pos = np.empty_like(flat)
        pos[flat] = np.arange(flat.size)
        return pos

    @property
    def identity(self) -> bool:
        """Whether ``layout`` is the identity (labels already in block-and-grid order)."""
        return bool(np.array_equal(self.layout.ravel(), np.arange(self.layout.size)))


@dataclass(frozen=True)
class GridSpec:
    """Static sizes of a block-circular convolution (hashable: a constant for torch.compile).

    ``blocks``: ``|T|``; ``shape``: the cyclic grid; ``box``: the stencil's extent per axis;
    ``padding``: ``(left, right)`` circular padding per axis.
    """

    blocks: int
    shape: tuple[int, ...]
    box: tuple[int, ...]
    padding: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class CirculantPlan:
    """Everything the circular-convolution path needs, built once per layer.

    ``taps[h, t, s]`` is the kernel element read by output block ``h`` from input block ``t``
    at stencil position ``s`` (flat over ``box``), or ``K`` (the number of kernel elements)
    where the stencil is zero. ``layout`` is ``None`` when it is the identity.
    """

    spec: GridSpec
    taps: Labels  # (blocks, blocks, prod(box))
    layout: Labels | None  # (N,): flat grid index -> label
    position: Labels | None  # (N,): label -> flat grid index


def grid_form(group: FiniteGroup) -> GridForm | None:
    """The block-and-grid form of ``group`` (see the module doc), or ``None`` if none is known."""
    if isinstance(group, CyclicGroup):
        return GridForm(1, (group.n,), np.arange(group.n, dtype=np.int64)[None, :])
    if isinstance(group, DihedralGroup):
        n = group.n
        i = np.arange(n, dtype=np.int64)
        # Block 0: r^i (label i); block 1: r^i·f = f·r^{-i} (label n + (-i mod n)).
        return GridForm(2, (n,), np.stack([i, n + np.remainder(-i, n)]))
    if isinstance(group, SemidirectProduct):
        return _semidirect_form(group)
    if isinstance(group, DirectProduct):
        return _direct_product_form(group)
    if isinstance(group, Subgroup):
        return _subgroup_form(group)
    return None


def _semidirect_form(group: SemidirectProduct) -> GridForm | None:
    normal = grid_form(group.normal)
    if normal is None or normal.blocks != 1:
        return None
    h = np.arange(group.acting.order, dtype=np.int64)
    layout = normal.layout[0][None, :] * group.acting.order + h[:, None]  # (n, h) -> n·|H| + h
    return GridForm(group.acting.order, normal.shape, layout)


def _direct_product_form(group: DirectProduct) -> GridForm | None:
    forms = [grid_form(f) for f in group.factors]
    if any(f is None for f in forms):
        return None
    factor_forms = [f for f in forms if f is not None]
    k = len(factor_forms)
    axes = [len(f.shape) for f in factor_forms]
    label = np.zeros((1,) * (k + sum(axes)), dtype=np.int64)
    stride = group.order
    for i, (form, size) in enumerate(zip(factor_forms, group.shape, strict=True)):
        stride //= size
        before = sum(axes[:i])
        view = form.layout.reshape(
            (1,) * i
            + (form.blocks,)
            + (1,) * (k - i - 1)
            + (1,) * before
            + form.shape
            + (1,) * (sum(axes) - before - axes[i])
        )
        label = label + view * stride
    blocks = math.prod(f.blocks for f in factor_forms)
    shape = tuple(s for f in factor_forms for s in f.shape)
    return GridForm(blocks, shape, label.reshape(blocks, math.prod(shape)))


def _subgroup_form(group: Subgroup) -> GridForm | None:
    parent = grid_form(group.parent)
    if parent is None:
        return None
    cells = math.prod(parent.shape)
    flat = parent.position[group.elements]
    block, cell = np.divmod(flat, cells)
    coords = unravel(cell, parent.shape)
    blocks = np.unique(block)
    steps = []
    for size, axis in zip(parent.shape, coords, strict=True):
        values = np.unique(axis)
        if size % values.size or not np.array_equal(
            values, np.arange(0, size, size // values.size)
        ):
            return None
        steps.append(size // values.size)
    shape = tuple(size // step for size, step in zip(parent.shape, steps, strict=True))
    if blocks.size * math.prod(shape) != group.order:
        return None
    grid = np.stack(unravel(np.arange(math.prod(shape)), shape)) * np.array(steps)[:, None]
    parent_cells = np.ravel_multi_index(tuple(grid), parent.shape)
    parent_labels = parent.layout[blocks[:, None], parent_cells[None, :]]
    return GridForm(int(blocks.size), shape, group.from_parent(parent_labels))


def kernel_shifts(
    group: FiniteGroup, form: GridForm, kernel_elements: Labels
) -> tuple[Labels, Labels]:
    """``t(h, k)`` and ``δ(h, k)`` of the module doc, for every output block ``h`` and kernel
    element ``k``: shapes ``(blocks, K)`` and ``(axes, blocks, K)``, ``δ`` centred into
    ``(-n/2, n/2]`` on each axis."""
    cells = math.prod(form.shape)
    # Right-multiply the first grid point of every block by k⁻¹ (eq. 3: B_{k⁻¹}).
    src = group.mul(form.layout[:, :1], group.inv(kernel_elements)[None, :])  # (blocks, K)
    block, cell = np.divmod(form.position[src], cells)
    shape = np.array(form.shape)[:, None, None]
    # δ = -(grid coordinate of the source).
    offset = np.remainder(-np.stack(unravel(cell, form.shape)), shape)
    return block, np.where(offset > shape // 2, offset - shape, offset)


def plan_circulant(group: FiniteGroup, form: GridForm, kernel_elements: Labels) -> CirculantPlan:
    """The stencil of ``f ↦ f ∗ ψ`` in ``form``: ``t(h, k)``, ``δ(h, k)`` as dense ``taps``."""
    block, offset = kernel_shifts(group, form, kernel_elements)
    lo = np.minimum(offset.min(axis=(1, 2)), 0)  # the stencil always covers δ = 0
    hi = np.maximum(offset.max(axis=(1, 2)), 0)
    box = tuple(int(b) for b in hi - lo + 1)
    # conv_nd is a correlation: stencil index s = hi - δ reads the input at n - δ.
    stencil = np.ravel_multi_index(tuple(hi[:, None, None] - offset), box)
    size = math.prod(box)
    K = kernel_elements.size
    taps = np.full((form.blocks, form.blocks, size), K, dtype=np.int64)
    out_block = np.broadcast_to(np.arange(form.blocks)[:, None], block.shape)
    taps[out_block, block, stencil] = np.arange(K)[None, :]
    spec = GridSpec(
        blocks=form.blocks,
        shape=form.shape,
        box=box,
        padding=tuple((int(h), int(-low)) for low, h in zip(lo, hi, strict=True)),
    )
    return CirculantPlan(
        spec=spec,
        taps=taps,
        layout=None if form.identity else form.layout.ravel(),
        position=None if form.identity else form.position,
    )
