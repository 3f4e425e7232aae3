"""The finite-group abstraction: elements are integer labels, sets of elements integer arrays.

A :class:`FiniteGroup` of order ``N`` labels its elements ``0 … N-1``. Subclasses supply the
product and inverse on label arrays (vectorised, broadcasting like numpy ufuncs); everything
else — Cayley table, word metric, balls, subgroups, cosets — is derived here from those two
operations, so large product groups never materialise an ``N×N`` table (MATH.md §1).
"""

from __future__ import annotations

import abc
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

Labels = npt.NDArray[np.int64]
ArrayLike = npt.ArrayLike

# Largest order for which cayley_table() builds an N×N table (int64: 8192² · 8 B = 512 MiB).
MAX_TABLE_ORDER = 8192


def unravel(flat: ArrayLike, shape: tuple[int, ...]) -> tuple[Labels, ...]:
    """The mixed-radix digits of ``flat`` for ``shape`` (last digit fastest), by divisions.

    What ``numpy.unravel_index`` computes; numpy 2.4's returns wrong digits for ``(N, 1)``
    arrays of more than 8192 elements (numpy issue 31980) — exactly the arrays of
    ``group.mul(a[:, None], b[None, :])`` on large products.
    """
    rest = np.asarray(flat, dtype=np.int64)
    digits = []
    for size in reversed(shape[1:]):
        rest, digit = np.divmod(rest, size)
        digits.append(digit)
    digits.append(rest)
    return tuple(digits[::-1])


def brief(value: object, limit: int = 60) -> str:
    """``repr(value)`` on one line, shortened to about ``limit`` characters (for messages)."""
    text = " ".join(repr(value).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def check_integer(value: object, what: str, minimum: int = 0) -> int:
    """``value`` as an ``int``, for a radius, an order or a count.

    Raises ``TypeError`` unless ``value`` is an integer (a Python or numpy integer; ``bool``,
    floats, strings and sequences are refused, so ``ball(True)`` is not ``ball(1)``) and
    ``ValueError`` if it is below ``minimum``; both name the value and what was expected.
    """
    kind = "a positive" if minimum == 1 else "a non-negative" if minimum == 0 else "an"
    expected = f"{what} must be {kind} integer" + ("" if minimum in (0, 1) else f" >= {minimum}")
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{expected}, got {brief(value)} of type {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{expected}, got {value!r}")
    return int(value)


def as_labels(x: ArrayLike, order: int, what: str = "element") -> Labels:
    """Return ``x`` as an int64 label array, checking that every label lies in ``[0, order)``.

    Raises ``TypeError`` for labels that are not integers (floats, booleans, strings) and
    ``ValueError`` for labels out of range.
    """
    try:
        arr = np.asarray(x)
    except ValueError as error:  # ragged nested sequences
        raise TypeError(f"{what} labels must be an array of integers, got {brief(x)}") from error
    if arr.dtype.kind not in "iu" and not (arr.size == 0 and arr.dtype.kind == "f"):
        raise TypeError(f"{what} labels must be integers, got dtype {arr.dtype}: {brief(x)}")
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
        self.order = check_integer(order, "group order", 1)
        self.identity = int(identity)
        self.name = name
        gens = as_labels(np.atleast_1d(np.asarray(generators)), order, "generator")
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

    def right_translations(self, elements: ArrayLike) -> Labels:
        """``T[k, g] = g·elements[k]`` for every ``g``: one row per element, ``(K, N)``.

        The index arrays of group convolution (``B_h`` has column ``g·h`` in row ``g``).
        Computed a block of rows at a time, so that the temporaries of one product stay a
        few MiB; direct products combine their factors' rows instead of multiplying
        (:meth:`DirectProduct.right_translations`).
        """
        elems = as_labels(np.atleast_1d(elements), self.order)
        out = np.empty((elems.size, self.order), dtype=np.int64)
        step = max(1, (1 << 20) // self.order)
        for start in range(0, elems.size, step):
            block = elems[start : start + step, None]
            out[start : start + step] = self._mul(self.labels[None, :], block)
        return out

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
        radius = check_integer(radius, "radius")
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
        Closure is checked by generating the set from a few of its elements (nearest the
        identity first, as :class:`Subgroup` chooses its generators), ``O(|K|·log|K|)``
        products rather than all ``|K|²``.
        """
        elems = np.unique(as_labels(np.atleast_1d(elements), self.order))
        if self.identity not in elems:
            raise ValueError(f"{elems.tolist()[:10]} is not a subgroup: identity is missing")
        member = np.zeros(self.order, dtype=bool)
        member[elems] = True
        inv = self._inv(elems)
        bad_inv = inv[~member[inv]]
        if bad_inv.size:
            raise ValueError(f"not a subgroup: the inverse {bad_inv[0]} of an element is missing")
        return Subgroup(self, elems, generators=_greedy_generators(self, elems, member))

    def right_coset_representatives(self, subgroup: Subgroup) -> Labels:
        """One representative ``c`` per right coset ``K c``, sorted by label.

        The representative is the element of its coset closest to the identity in word
        distance, ties broken by the smaller label (MATH.md §3, eq. 5).
        """
        _check_subgroup_of(subgroup, self)
        cosets = self._orbits(subgroup, "left")  # K·g: orbits of g ↦ s·g, s ∈ K
        nearest = np.lexsort((self.labels, self.word_distance()))
        _, first = np.unique(cosets[nearest], return_index=True)
        return np.sort(nearest[first])

    def left_coset_labels(self, subgroup: Subgroup) -> Labels:
        """The left coset ``g·K`` of every ``g``, numbered ``0 … [G:K]-1`` in the order of the
        cosets' smallest elements (``O(|G|)`` products; no ``|G|×|K|`` table)."""
        _check_subgroup_of(subgroup, self)
        return self._orbits(subgroup, "right")  # g·K: orbits of g ↦ g·s, s ∈ K

    def _orbits(self, subgroup: Subgroup, side: Literal["left", "right"]) -> Labels:
        """The orbit of every ``g`` under multiplication by ``K``'s generators on ``side``,
        numbered in the order of the orbits' smallest elements: the right cosets ``K·g``
        (``side="left"``) or the left cosets ``g·K`` (``"right"``).

        The connected components of the graph ``g — s·g`` (or ``g — g·s``) for the
        generators ``s`` of ``K``, merged a block of generators at a time: each block adds
        its edges between the orbits found so far (a block that merges nothing is skipped),
        so memory stays ``O(|G|)`` however many generators ``K`` has.
        """
        gens = subgroup.elements[subgroup.generators]
        gens = gens[gens != self.identity]
        labels = self.labels
        component = labels.copy()  # the orbit of every element, as merged so far
        count = self.order
        step = max(1, (1 << 20) // self.order)  # bounds the temporaries of the products
        for start in range(0, gens.size, step):
            s = gens[start : start + step, None]
            pairs = (s, labels[None, :]) if side == "left" else (labels[None, :], s)
            moved = component[self._mul(*pairs)]  # the orbit each element is moved into
            here = np.broadcast_to(component, moved.shape)
            if np.array_equal(moved, here):
                continue
            edges = np.ones(moved.size, dtype=np.int8)
            graph = csr_matrix((edges, (here.ravel(), moved.ravel())), shape=(count, count))
            count, merged = connected_components(graph, directed=True, connection="weak")
            component = merged[component]
        _, smallest = np.unique(component, return_index=True)  # smallest element per orbit
        rank = np.empty(smallest.size, dtype=np.int64)
        rank[np.argsort(smallest)] = np.arange(smallest.size)
        result: Labels = rank[component]
        return result

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


def _greedy_generators(
    group: FiniteGroup, elements: Labels, member: npt.NDArray[np.bool_] | None = None
) -> Labels:
    """A generating set of the subgroup ``elements``: nearest elements first, redundant skipped.

    Each new generator at least doubles the generated subgroup (Lagrange), so there are at
    most ``log₂|K|`` of them and as many closures. With ``member`` (the set as a mask over
    ``group``), a product that leaves the set raises ``ValueError``: ``elements`` is then
    not a subgroup.
    """
    dist = group.word_distance()[elements]
    gens: list[int] = []
    generated = np.zeros(group.order, dtype=bool)
    generated[group.identity] = True
    count = 1
    for g in elements[np.lexsort((elements, dist))]:
        if count == elements.size:
            break
        if not generated[g]:
            gens.append(int(g))
            generated = _closure_mask(group, np.asarray(gens, dtype=np.int64), member)
            count = int(np.count_nonzero(generated))
    return np.asarray(gens, dtype=np.int64)


def _closure_mask(
    group: FiniteGroup, generators: Labels, inside: npt.NDArray[np.bool_] | None = None
) -> npt.NDArray[np.bool_]:
    """All products of ``generators`` as a mask over ``group`` (positive words suffice).

    With ``inside``, a product outside that set raises ``ValueError`` naming it.
    """
    seen = np.zeros(group.order, dtype=bool)
    seen[group.identity] = True
    frontier = np.array([group.identity], dtype=np.int64)
    while frontier.size:
        products = group._mul(frontier[:, None], generators[None, :])
        if inside is not None and not inside[products].all():
            i, j = np.argwhere(~inside[products])[0]
            raise ValueError(
                f"not a subgroup of {group.name}: {frontier[i]}·{generators[j]} = "
                f"{products[i, j]} is not in the set"
            )
        nxt = np.unique(products)
        nxt = nxt[~seen[nxt]]
        seen[nxt] = True
        frontier = nxt
    return seen


def _closure(group: FiniteGroup, generators: Labels) -> Labels:
    """All products of ``generators`` (a finite group: positive words suffice)."""
    return np.flatnonzero(_closure_mask(group, generators)).astype(np.int64)


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
