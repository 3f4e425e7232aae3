"""Groups per image axis, and the subgroups that 2× pooling keeps (paper §2.2, Example 2.4).

An ``H × W`` image is a function on ``G₁ × G₂`` with ``|G₁| = H``, ``|G₂| = W``: pixel
``(i, j)`` is the element ``(i, j)`` (App. A.2). Axis groups are written ``"C28"`` (cyclic)
or ``"D14"`` (dihedral, 28 elements).

Pooling by 2 along an axis keeps the index-2 subgroup ``K`` of that axis' group: ``2C_n``
(the even rotations) for ``C_n`` and ``⟨r², f⟩`` for ``D_n``. With the right cosets
``K·c``, ``c ∈ {e, r}``, every window is a pair of neighbouring pixels, so on ``C_n × C_n``
the pooling is 2×2 max pooling with stride 2 (Example 2.4). ``K`` is isomorphic to
``C_{n/2}`` or ``D_{n/2}`` by ``r² ↦ r``, ``f ↦ f``, and that isomorphism maps ``K``'s
sorted labels to the labels ``0 … |K|-1`` in order, so the layers after the pooling are
built on ``C_{n/2}`` or ``D_{n/2}`` themselves (Lemma 2.3), with the same kernel balls.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from gmcnn.groups import (
    CyclicGroup,
    DihedralGroup,
    FiniteGroup,
    Subgroup,
    cyclic,
    dihedral,
    direct_product,
)

_AXIS = re.compile(r"^([CD])(\d+)$")


def axis_group(name: str) -> FiniteGroup:
    """``"C28"`` → ``cyclic(28)``, ``"D14"`` → ``dihedral(14)``."""
    match = _AXIS.match(str(name).strip())
    if match is None or int(match.group(2)) < 1:
        raise ValueError(
            f"axis group {name!r} is not understood: expected 'C<n>' (cyclic) or 'D<n>' "
            "(dihedral, 2n elements), e.g. 'C28' or 'D14'"
        )
    family, n = match.group(1), int(match.group(2))
    return cyclic(n) if family == "C" else dihedral(n)


def image_group(names: Sequence[str], shape: Sequence[int]) -> FiniteGroup:
    """The direct product of the axis groups, checked against the spatial ``shape``."""
    factors = [axis_group(n) for n in names]
    sizes = tuple(f.order for f in factors)
    if sizes != tuple(shape):
        written = " × ".join(f.name for f in factors)
        raise ValueError(
            f"groups {written} have {' × '.join(map(str, sizes))} elements, but the inputs "
            f"are {' × '.join(map(str, shape))}: choose one group per axis of that size"
        )
    return factors[0] if len(factors) == 1 else direct_product(*factors)


def factors_of(group: FiniteGroup) -> tuple[FiniteGroup, ...]:
    """The factors of a direct product, or ``(group,)``."""
    return tuple(getattr(group, "factors", (group,)))


def halving_subgroup(group: FiniteGroup) -> tuple[Subgroup, FiniteGroup]:
    """For ``C_n`` / ``D_n`` with ``n`` even: the index-2 subgroup ``K`` and the group ``≅ K``.

    ``K``'s generators are chosen so that its balls correspond to the default balls of the
    isomorphic ``C_{n/2}`` / ``D_{n/2}`` (for ``D_n``: ``r², f, f·r², f·r⁻²``).
    """
    if isinstance(group, CyclicGroup) and group.n % 2 == 0 and group.n > 1:
        return group.subgroup([2 % group.n]), cyclic(group.n // 2)
    if isinstance(group, DihedralGroup) and group.n % 2 == 0 and group.n > 2:
        n = group.n
        return group.subgroup([2, n, n + 2, n + n - 2]), dihedral(n // 2)
    raise ValueError(
        f"pooling by 2 needs a cyclic or dihedral axis group of even n, got {group.name}"
    )


def pooled_groups(group: FiniteGroup) -> tuple[Subgroup | FiniteGroup, FiniteGroup]:
    """``(K, G')``: the subgroup ``K`` that 2× pooling on every axis keeps, and ``G' ≅ K``.

    For a direct product ``K = K₁ × K₂`` (as a subgroup of ``group``) and
    ``G' = G'₁ × G'₂``, whose labels match ``K``'s in order.
    """
    factors = factors_of(group)
    halves = [halving_subgroup(f) for f in factors]
    if len(factors) == 1:
        return halves[0]
    subgroup = group.product_subgroup(*(k for k, _ in halves))  # type: ignore[attr-defined]
    return subgroup, direct_product(*(g for _, g in halves))
