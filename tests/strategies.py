"""Hypothesis strategies for finite groups of every family the library builds.

Orders stay small (<= 120) so that dense reference matrices are cheap.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import strategies as st

from gmcnn.groups import (
    FiniteGroup,
    cyclic,
    dihedral,
    direct_product,
    permutation_group,
    semidirect_product,
    symmetric,
)


def multiplicative_action(n: int, k: int, unit: int) -> np.ndarray:
    """``φ(h)(a) = unit^h · a mod n``: a homomorphism ``C_k → Aut(C_n)`` when ``unit^k ≡ 1``."""
    return np.array([[(pow(unit, h, n) * a) % n for a in range(n)] for h in range(k)])


def units_of_order_dividing(n: int, k: int) -> list[int]:
    return [u for u in range(1, n) if math.gcd(u, n) == 1 and pow(u, k, n) == 1]


@st.composite
def permutation_groups(draw: st.DrawFn, max_degree: int = 5) -> FiniteGroup:
    m = draw(st.integers(2, max_degree))
    count = draw(st.integers(1, 2))
    gens = [draw(st.permutations(range(m))) for _ in range(count)]
    return permutation_group(gens)


@st.composite
def semidirect_products(draw: st.DrawFn) -> FiniteGroup:
    n = draw(st.integers(2, 9))
    k = draw(st.integers(1, 4))
    unit = draw(st.sampled_from(units_of_order_dividing(n, k)))
    return semidirect_product(cyclic(n), cyclic(k), multiplicative_action(n, k, unit))


def small_groups() -> st.SearchStrategy[FiniteGroup]:
    """Small groups of the basic families (orders <= 24)."""
    return st.one_of(
        st.integers(1, 12).map(cyclic),
        st.integers(1, 8).map(dihedral),
        st.integers(1, 4).map(symmetric),
        permutation_groups(max_degree=4),
    )


def groups() -> st.SearchStrategy[FiniteGroup]:
    """Every family: cyclic, dihedral, symmetric, permutation, direct and semidirect products."""
    products = st.tuples(small_groups(), small_groups()).filter(
        lambda gh: gh[0].order * gh[1].order <= 120
    )
    return st.one_of(
        small_groups(),
        permutation_groups(max_degree=5),
        products.map(lambda gh: direct_product(*gh)),
        semidirect_products(),
    )


def group_pairs() -> st.SearchStrategy[tuple[FiniteGroup, FiniteGroup]]:
    """Two small groups whose direct product has order <= 64."""
    return st.tuples(small_groups(), small_groups()).filter(
        lambda gh: gh[0].order * gh[1].order <= 64
    )
