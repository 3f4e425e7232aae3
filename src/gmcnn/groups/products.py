"""Direct and semidirect products of finite groups (MATH.md §1, §2; paper §2.2, eq. 6).

Products compute on the factors' labels (mixed radix, left factor most significant), so a
product never holds an ``N×N`` table: ``C₂₅₆ × C₂₅₆`` has 65,536 elements and its product
costs a few vectorised operations on the two coordinates.
"""

from __future__ import annotations

import functools
import itertools

import numpy as np

from gmcnn.groups.base import (
    ArrayLike,
    FiniteGroup,
    Labels,
    Subgroup,
    as_labels,
    brief,
    unravel,
)


class DirectProduct(FiniteGroup):
    """``G₁ × … × G_k``: label of ``(g₁, …, g_k)`` is ``(…(g₁·|G₂| + g₂)·|G₃| + …) + g_k``.

    Default generators: every tuple ``(s₁, …, s_k) ≠ e`` with each ``s_i ∈ S_i ∪ {e}``,
    ``S_i`` the symmetric generating set of factor ``i``. For two factors that is
    ``S_G ∪ S_H ∪ (S_G × S_H)``, and the ball of radius ``r`` of ``C_n × C_n`` is the
    ``(2r+1)×(2r+1)`` square: ``d((g, h)) = max(d(g), d(h))`` (MATH.md §1).
    """

    def __init__(self, factors: tuple[FiniteGroup, ...]) -> None:
        self.factors = factors
        self.shape = tuple(f.order for f in factors)
        choices = [np.concatenate(([f.identity], f.symmetric_generators)) for f in factors]
        tuples = np.array(list(itertools.product(*choices)), dtype=np.int64)[1:]
        order = int(np.prod(self.shape))
        super().__init__(
            order,
            self.combine(*tuples.T) if tuples.size else np.zeros(0, dtype=np.int64),
            name=" × ".join(f.name for f in factors),
            identity=int(self.combine(*[np.int64(f.identity) for f in factors])),
        )

    def split(self, a: ArrayLike) -> tuple[Labels, ...]:
        """The factor labels ``(g₁, …, g_k)`` of product labels ``a``."""
        return unravel(as_labels(a, self.order), self.shape)

    def combine(self, *parts: ArrayLike) -> Labels:
        """The product label of factor labels ``(g₁, …, g_k)`` (broadcast)."""
        if len(parts) != len(self.factors):
            raise ValueError(f"expected {len(self.factors)} factor labels, got {len(parts)}")
        arrays = [as_labels(p, f.order) for p, f in zip(parts, self.factors, strict=True)]
        return np.asarray(
            np.ravel_multi_index(np.broadcast_arrays(*arrays), self.shape), dtype=np.int64
        )

    def _mul(self, a: Labels, b: Labels) -> Labels:
        # Split before broadcasting, so that only the result has the broadcast shape.
        pa = unravel(a, self.shape)
        pb = unravel(b, self.shape)
        out: Labels | None = None
        for f, x, y, size in zip(self.factors, pa, pb, self.shape, strict=True):
            prod = f._mul(np.asarray(x, dtype=np.int64), np.asarray(y, dtype=np.int64))
            out = prod if out is None else out * size + prod
        assert out is not None
        return out

    def _inv(self, a: Labels) -> Labels:
        parts = unravel(a, self.shape)
        out: Labels | None = None
        for f, x, size in zip(self.factors, parts, self.shape, strict=True):
            inv = f._inv(np.asarray(x, dtype=np.int64))
            out = inv if out is None else out * size + inv
        assert out is not None
        return out

    def right_translations(self, elements: ArrayLike) -> Labels:
        """``T[k, g] = g·elements[k]``, ``(K, N)``, from the factors' rows: the label of
        ``(g₁h₁, …, g_kh_k)`` is a mixed-radix sum, one pass over the result per factor."""
        elems = as_labels(np.atleast_1d(elements), self.order)
        out = np.zeros((elems.size, *self.shape), dtype=np.int64)
        stride = self.order
        parts = unravel(elems, self.shape)
        for axis, (factor, part) in enumerate(zip(self.factors, parts, strict=True)):
            stride //= factor.order
            view = [elems.size] + [1] * len(self.shape)
            view[axis + 1] = factor.order
            out += factor.right_translations(part).reshape(view) * stride
        return out.reshape(elems.size, self.order)

    def product_subgroup(self, *subgroups: FiniteGroup) -> Subgroup:
        """``K₁ × … × K_k`` for subgroups ``K_i ≤ G_i`` (a factor itself stands for all of it).

        Its label ``j`` is the ``j``-th element in increasing order, which is also the
        label of ``(k₁, …, k_k)`` in ``direct_product(K₁, …, K_k)``; its generators follow
        the same product rule, so its balls are squares again (e.g. after 2×2 pooling).
        """
        if len(subgroups) != len(self.factors):
            raise ValueError(f"expected {len(self.factors)} subgroups, got {len(subgroups)}")
        locals_, elems = [], []
        for k, f in zip(subgroups, self.factors, strict=True):
            if k is f:
                elems.append(f.labels)
                locals_.append(f)
            elif isinstance(k, Subgroup) and k.parent is f:
                elems.append(k.elements)
                locals_.append(k)
            elif not isinstance(k, FiniteGroup):
                raise TypeError(
                    "product_subgroup takes one subgroup (or factor) per factor, got "
                    f"{brief(k)} of type {type(k).__name__} for the factor {f.name}"
                )
            else:
                raise ValueError(f"{k!r} is not a subgroup of the factor {f.name}")
        grids = np.meshgrid(*elems, indexing="ij")
        elements = self.combine(*[g.ravel() for g in grids])
        local_product = direct_product(*locals_)
        gen_parts = local_product.split(local_product.generators)
        gens = self.combine(
            *[
                k.elements[p] if isinstance(k, Subgroup) else p
                for k, p in zip(locals_, gen_parts, strict=True)
            ]
        )
        return Subgroup(self, elements, generators=gens)


class SemidirectProduct(FiniteGroup):
    """``N ⋊_φ H`` with ``(n₁, h₁)·(n₂, h₂) = (n₁·φ(h₁)(n₂), h₁h₂)`` (MATH.md §1).

    ``action[h]`` is the permutation of ``N``'s labels given by ``φ(h) ∈ Aut(N)``. The label
    of ``(n, h)`` is ``n·|H| + h``. Default generators ``(S_N × {e}) ∪ ({e} × S_H)``.
    """

    def __init__(self, normal: FiniteGroup, acting: FiniteGroup, action: np.ndarray) -> None:
        self.normal, self.acting = normal, acting
        self.action = action
        self.action.flags.writeable = False
        inverse = np.empty_like(action)
        np.put_along_axis(inverse, action, np.arange(normal.order)[None, :], axis=1)
        self.inverse_action = inverse
        self.shape = (normal.order, acting.order)
        gens = np.concatenate(
            [
                normal.generators * acting.order + acting.identity,
                normal.identity * acting.order + acting.generators,
            ]
        )
        super().__init__(
            normal.order * acting.order,
            gens,
            name=f"{normal.name} ⋊ {acting.name}",
            identity=normal.identity * acting.order + acting.identity,
        )

    def split(self, a: ArrayLike) -> tuple[Labels, Labels]:
        """The pair ``(n, h)`` of labels ``a``."""
        n, h = np.divmod(as_labels(a, self.order), self.acting.order)
        return n, h

    def combine(self, n: ArrayLike, h: ArrayLike) -> Labels:
        """The label of ``(n, h)``."""
        return as_labels(n, self.normal.order) * self.acting.order + as_labels(h, self.acting.order)

    def _mul(self, a: Labels, b: Labels) -> Labels:
        n1, h1 = np.divmod(a, self.acting.order)
        n2, h2 = np.divmod(b, self.acting.order)
        n = self.normal._mul(n1, self.action[h1, n2])
        return n * self.acting.order + self.acting._mul(h1, h2)

    def _inv(self, a: Labels) -> Labels:
        # (n, h)⁻¹ = (φ(h⁻¹)(n⁻¹), h⁻¹)
        n, h = np.divmod(a, self.acting.order)
        h_inv = self.acting._inv(h)
        return self.action[h_inv, self.normal._inv(n)] * self.acting.order + h_inv


@functools.cache
def _direct_product(factors: tuple[FiniteGroup, ...]) -> DirectProduct:
    return DirectProduct(factors)


def direct_product(*groups: FiniteGroup) -> DirectProduct:
    """``G₁ × … × G_k`` (cached: the same factors give the same object)."""
    if len(groups) < 1:
        raise ValueError("direct_product needs at least one group")
    for g in groups:
        if not isinstance(g, FiniteGroup):
            raise TypeError(
                f"direct_product factors must be FiniteGroup, got {brief(g)} of type "
                f"{type(g).__name__}"
            )
    return _direct_product(tuple(groups))


def semidirect_product(
    normal: FiniteGroup, acting: FiniteGroup, action: ArrayLike
) -> SemidirectProduct:
    """``N ⋊_φ H``; ``action[h]`` is the permutation of ``N``'s labels given by ``φ(h)``.

    Raises ``ValueError`` unless ``action`` is a homomorphism ``H → Aut(N)``: every row a
    permutation, every row an automorphism of ``N``, and ``φ(h₁h₂) = φ(h₁)∘φ(h₂)``.
    Automorphism and homomorphism are checked against generators, which suffices for finite
    groups (every element is a positive word in them). Raises ``TypeError`` for groups that
    are not :class:`FiniteGroup` and for an ``action`` that is not an integer array.
    """
    for what, g in (("normal", normal), ("acting", acting)):
        if not isinstance(g, FiniteGroup):
            raise TypeError(
                f"semidirect_product: {what} must be a FiniteGroup, got {brief(g)} of type "
                f"{type(g).__name__}"
            )
    try:
        act = np.asarray(action)
    except ValueError as error:  # ragged rows
        raise TypeError(f"action must be an integer array of shape (|H|, |N|): {error}") from None
    expected = (acting.order, normal.order)
    if act.shape != expected:
        raise ValueError(f"action has shape {act.shape}; expected (|H|, |N|) = {expected}")
    if act.dtype.kind not in "iu":
        raise TypeError(f"action must hold integer labels of N, got dtype {act.dtype}")
    act = act.astype(np.int64)
    ident = np.arange(normal.order)
    for h in range(acting.order):
        if not np.array_equal(np.sort(act[h]), ident):
            raise ValueError(f"action[{h}] = {act[h].tolist()} is not a permutation of N's labels")
    n_all = normal.labels
    for h in range(acting.order):
        for s in normal.generators:
            lhs = act[h, normal._mul(n_all, s)]
            rhs = normal._mul(act[h, n_all], act[h, s])
            if not np.array_equal(lhs, rhs):
                n = int(np.flatnonzero(lhs != rhs)[0])
                raise ValueError(
                    f"action[{h}] is not an automorphism of {normal.name}: "
                    f"φ({n}·{s}) = {lhs[n]} but φ({n})·φ({s}) = {rhs[n]}"
                )
    for h in range(acting.order):
        for t in acting.generators:
            composed = act[h][act[t]]
            if not np.array_equal(act[acting._mul(np.asarray(h), np.asarray(t))], composed):
                raise ValueError(
                    f"action is not a homomorphism H → Aut(N): φ({h}·{t}) != φ({h})∘φ({t})"
                )
    if not np.array_equal(act[acting.identity], ident):
        raise ValueError(
            "action[identity] must be the identity permutation, got "
            f"{act[acting.identity].tolist()}"
        )
    return _semidirect_product(normal, acting, act.tobytes())


@functools.cache
def _semidirect_product(
    normal: FiniteGroup, acting: FiniteGroup, action_bytes: bytes
) -> SemidirectProduct:
    action = np.frombuffer(action_bytes, dtype=np.int64).reshape(acting.order, normal.order)
    return SemidirectProduct(normal, acting, action.copy())
