"""The finite-group abstraction: elements are integer labels, sets of elements integer arrays.

A :class:`FiniteGroup` of order ``N`` labels its elements ``0 … N-1``. Subclasses supply the
product and inverse on label arrays (vectorised, broadcasting like numpy ufuncs); everything
else — Cayley table, word metric, balls, subgroups, cosets — is derived here from those two
operations, so large product groups never materialise an ``N×N`` table (MATH.md §1).
"""

from __future__ import annotations

import abc
from typing import Any

import numpy as np
import numpy.typing as npt

Labels = npt.NDArray[np.int64]
ArrayLike = npt.ArrayLike

# Largest order for which cayley_table() builds an N×N table (int64: 8192² · 8 B = 512 MiB).
MAX_TABLE_ORDER = 8192


def as_labels(x: ArrayLike, order: int, what: str = "element") -> Labels:
    """Return ``x`` as an int64 label array, checking that every label lies in ``[0, order)``."""
    arr = np.asarray(x)
    if arr.dtype.kind not in "iu" and not (arr.size == 0 and arr.dtype.kind == "f"):
        raise ValueError(f"{what} labels must be integers, got dtype {arr.dtype}")
    arr = arr.astype(np.int64, copy=False)
    if arr.size and (arr.min() < 0 or arr.max() >= order):
        bad = arr[(arr < 0) | (arr >= order)].flat[0]
        raise ValueError(f"{what} label {bad} is out of range: expected 0 <= label < {order}")
    return arr


class FiniteGroup(abc.ABC):
    """A finite group whose elements are the labels ``0 … order-1``.

    Subclasses implement :meth:`_mul` and :meth:`_inv` on int64 arrays. ``generators`` is a
    generating set ``S``; the Cayley graph, word distance and balls use its symmetric closure
    ``S ∪ S⁻¹`` (MATH.md §1).
    """

    def __init__(self, order: int, generators: ArrayLike, name: str, identity: int = 0) -> None:
        if order < 1:
            raise ValueError(f"group order must be >= 1, got {order}")
        self.order = int(order)
        self.identity = int(identity)
        self.name = name
        gens = as_labels(np.atleast_1d(np.asarray(generators, dtype=np.int64)), order, "generator")
        self.generators: Labels = np.unique(gens)
        self._cache: dict[str, Any] = {}

    # -- the two primitive operations -------------------------------------------------------
    @abc.abstractmethod
    def _mul(self, a: Labels, b: Labels) -> Labels:
        """``a·b`` on int64 label arrays that are already validated (broadcasting)."""

    @abc.abstractmethod
    def _inv(self, a: Labels) -> Labels:
        """``a⁻¹`` on a validated int64 label array."""

    def mul(self, a: ArrayLike, b: ArrayLike) -> Labels:
        """The product ``a·b`` of label arrays, broadcast like a numpy ufunc."""
        return self._mul(as_labels(a, self.order), as_labels(b, self.order))

    def inv(self, a: ArrayLike) -> Labels:
        """The inverse ``a⁻¹`` of every label in ``a``."""
        return self._inv(as_labels(a, self.order))

    # -- derived structure ------------------------------------------------------------------
    @property
    def labels(self) -> Labels:
        """All labels of this group, ``arange(order)``."""
        return np.arange(self.order, dtype=np.int64)

    @property
    def elements(self) -> Labels:
        """The elements as labels: ``arange(order)``; a :class:`Subgroup` gives its parent's."""
        return self.labels

    def __len__(self) -> int:
        return self.order

    def __repr__(self) -> str:
        return f"<{self.name}: order {self.order}>"

    def cayley_table(self) -> Labels:
        """The ``N×N`` table ``T[a, b] = a·b`` (only for ``N <= MAX_TABLE_ORDER``)."""
        if self.order > MAX_TABLE_ORDER:
            raise ValueError(
                f"cayley_table() of {self.name} would have {self.order}² entries; it is only "
                f"built for orders <= {MAX_TABLE_ORDER} (use mul() on the labels you need)"
            )
        if "table" not in self._cache:
            e = self.labels
            table = self._mul(e[:, None], e[None, :])
            table.flags.writeable = False
            self._cache["table"] = table
        result: Labels = self._cache["table"]
        return result

    @property
    def symmetric_generators(self) -> Labels:
        """``S ∪ S⁻¹`` without the identity, sorted."""
        gens = np.union1d(self.generators, self._inv(self.generators)).astype(np.int64)
        result: Labels = gens[gens != self.identity]
        return result

    def word_distance(self) -> Labels:
        """``d(e, g)`` for every ``g``: word length in ``S ∪ S⁻¹`` (breadth-first search).

        Raises ``ValueError`` if the generators do not generate the group.
        """
        if "dist" not in self._cache:
            gens = self.symmetric_generators
            dist = np.full(self.order, -1, dtype=np.int64)
            dist[self.identity] = 0
            frontier = np.array([self.identity], dtype=np.int64)
            level = 0
            while frontier.size:
                level += 1
                nxt = np.unique(self._mul(frontier[:, None], gens[None, :]))
                nxt = nxt[dist[nxt] < 0]
                dist[nxt] = level
                frontier = nxt
            if np.any(dist < 0):
                missing = int(np.count_nonzero(dist < 0))
                raise ValueError(
                    f"generators {self.generators.tolist()} of {self.name} do not generate the "
                    f"group: {missing} of {self.order} elements are unreachable"
                )
            dist.flags.writeable = False
            self._cache["dist"] = dist
        result: Labels = self._cache["dist"]
        return result

    @property
    def diameter(self) -> int:
        """The largest word distance from the identity (the Cayley graph's diameter)."""
        return int(self.word_distance().max())

    def ball(self, radius: int) -> Labels:
        """The ball ``B_r = {g : d(e, g) <= r}`` as sorted labels (MATH.md §1)."""
        if not isinstance(radius, int | np.integer) or radius < 0:
            raise ValueError(f"radius must be a non-negative integer, got {radius!r}")
        if radius > self.diameter:
            raise ValueError(f"radius {radius} exceeds the diameter {self.diameter} of {self.name}")
        return np.flatnonzero(self.word_distance() <= radius).astype(np.int64)

    def with_generators(self, generators: ArrayLike) -> FiniteGroup:
        """The same group with another generating set (changes word distance and balls)."""
        return _Regenerated(self, generators)

    # -- subgroups and cosets ---------------------------------------------------------------
    def subgroup(self, generators: ArrayLike) -> Subgroup:
        """The subgroup generated by ``generators`` (labels of this group).

        Its label ``j`` stands for this group's label ``elements[j]``, with ``elements``
        sorted increasingly (Lemma 2.3 makes layers on it use its own group matrices).
        """
        gens = np.unique(as_labels(np.atleast_1d(generators), self.order, "generator"))
        key = tuple(gens.tolist())
        subgroups: dict[tuple[int, ...], Subgroup] = self._cache.setdefault("subgroups", {})
        if key not in subgroups:
            subgroups[key] = Subgroup(self, _closure(self, gens), generators=gens)
        return subgroups[key]

    def subgroup_from_elements(self, elements: ArrayLike) -> Subgroup:
        """The subgroup whose elements are exactly ``elements``; checks the subgroup axioms.

        Raises ``ValueError`` naming a product or inverse that leaves the set.
        """
        elems = np.unique(as_labels(elements, self.order))
        if self.identity not in elems:
            raise ValueError(f"{elems.tolist()[:10]} is not a subgroup: identity is missing")
        inv = self._inv(elems)
        bad_inv = inv[~np.isin(inv, elems)]
        if bad_inv.size:
            raise ValueError(f"not a subgroup: the inverse {bad_inv[0]} of an element is missing")
        prod = self._mul(elems[:, None], elems[None, :])
        outside = ~np.isin(prod, elems)
        if outside.any():
            i, j = np.argwhere(outside)[0]
            raise ValueError(
                f"not a subgroup of {self.name}: {elems[i]}·{elems[j]} = {prod[i, j]} "
                "is not in the set"
            )
        return Subgroup(self, elems)

    def right_coset_representatives(self, subgroup: Subgroup) -> Labels:
        """One representative ``c`` per right coset ``K c``, sorted by label.

        The representative is the element of its coset closest to the identity in word
        distance, ties broken by the smaller label (MATH.md §3, eq. 5).
        """
        _check_subgroup_of(subgroup, self)
        dist = self.word_distance()
        order = np.lexsort((self.labels, dist))
        assigned = np.zeros(self.order, dtype=bool)
        reps = []
        for g in order:
            if assigned[g]:
                continue
            reps.append(g)
            assigned[self._mul(subgroup.elements, np.asarray(g))] = True
        return np.sort(np.asarray(reps, dtype=np.int64))

    def coset_decomposition(self, subgroup: Subgroup) -> tuple[Labels, Labels]:
        """For every ``g``, the pair ``(k, c)`` with ``g = k·c``, ``k ∈ K``, ``c`` a representative.

        Returns ``(k_index, c_index)``: ``k_index[g]`` is the subgroup's own label of ``k`` and
        ``c_index[g]`` the position of ``c`` in :meth:`right_coset_representatives`.
        """
        reps = self.right_coset_representatives(subgroup)
        g = self._mul(subgroup.elements[:, None], reps[None, :])  # g = k·c
        k_index = np.empty(self.order, dtype=np.int64)
        c_index = np.empty(self.order, dtype=np.int64)
        k_index[g] = np.arange(subgroup.order)[:, None]
        c_index[g] = np.arange(reps.size)[None, :]
        return k_index, c_index


def _check_subgroup_of(subgroup: Subgroup, group: FiniteGroup) -> None:
    if not isinstance(subgroup, Subgroup) or subgroup.parent is not group:
        parent = getattr(subgroup, "parent", None)
        raise ValueError(
            f"{subgroup!r} is not a subgroup of {group.name}"
            + (f" (it is a subgroup of {parent.name})" if parent is not None else "")
        )


def _greedy_generators(group: FiniteGroup, elements: Labels) -> Labels:
    """A generating set of the subgroup ``elements``: nearest elements first, redundant skipped."""
    dist = group.word_distance()[elements]
    gens: list[int] = []
    generated = np.array([group.identity], dtype=np.int64)
    for g in elements[np.lexsort((elements, dist))]:
        if generated.size == elements.size:
            break
        if not np.isin(g, generated):
            gens.append(int(g))
            generated = _closure(group, np.asarray(gens, dtype=np.int64))
    return np.asarray(gens, dtype=np.int64)


def _closure(group: FiniteGroup, generators: Labels) -> Labels:
    """All products of ``generators`` (a finite group: positive words suffice)."""
    seen = np.zeros(group.order, dtype=bool)
    seen[group.identity] = True
    frontier = np.array([group.identity], dtype=np.int64)
    while frontier.size:
        nxt = np.unique(group._mul(frontier[:, None], generators[None, :]))
        nxt = nxt[~seen[nxt]]
        seen[nxt] = True
        frontier = nxt
    return np.flatnonzero(seen).astype(np.int64)


class Subgroup(FiniteGroup):
    """A subgroup ``K ≤ G``; label ``j`` of ``K`` is label ``elements[j]`` of ``parent``.

    ``generators`` (parent labels) defines ``K``'s own word metric; by default a small
    generating set is chosen greedily, nearest elements first.
    """

    def __init__(
        self, parent: FiniteGroup, elements: Labels, generators: Labels | None = None
    ) -> None:
        self.parent = parent
        self._elements = np.sort(np.asarray(elements, dtype=np.int64))
        self._elements.flags.writeable = False
        if generators is None:
            generators = _greedy_generators(parent, self._elements)
        super().__init__(
            self._elements.size,
            np.searchsorted(self._elements, generators),
            name=f"subgroup of order {self._elements.size} of {parent.name}",
            identity=int(np.searchsorted(self._elements, parent.identity)),
        )

    @property
    def elements(self) -> Labels:
        """The parent's labels of the elements, sorted: local ``j`` ↦ ``elements[j]``."""
        return self._elements

    def to_parent(self, a: ArrayLike) -> Labels:
        """The parent's labels of local labels ``a``."""
        return self._elements[as_labels(a, self.order)]

    def from_parent(self, g: ArrayLike) -> Labels:
        """The local labels of parent labels ``g`` (which must lie in the subgroup)."""
        g = as_labels(g, self.parent.order)
        idx = np.searchsorted(self._elements, g)
        idx = np.minimum(idx, self.order - 1)
        if np.any(self._elements[idx] != g):
            bad = g[self._elements[idx] != g].flat[0]
            raise ValueError(f"element {bad} of {self.parent.name} is not in the subgroup")
        return idx.astype(np.int64)

    def _mul(self, a: Labels, b: Labels) -> Labels:
        prod = self.parent._mul(self._elements[a], self._elements[b])
        return np.searchsorted(self._elements, prod).astype(np.int64)

    def _inv(self, a: Labels) -> Labels:
        return np.searchsorted(self._elements, self.parent._inv(self._elements[a])).astype(np.int64)


class _Regenerated(FiniteGroup):
    """``base`` with another generating set; same labels and product."""

    def __init__(self, base: FiniteGroup, generators: ArrayLike) -> None:
        self.base = base
        super().__init__(
            base.order,
            generators,
            f"{base.name} (generators {np.asarray(generators).tolist()})",
            base.identity,
        )
        self.word_distance()  # fail now if the new set does not generate the group

    def _mul(self, a: Labels, b: Labels) -> Labels:
        return self.base._mul(a, b)

    def _inv(self, a: Labels) -> Labels:
        return self.base._inv(a)
