"""Group diagonals of products built from the factors (eq. 6, §2.2) against the Cayley table."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from tests.strategies import group_pairs, semidirect_products

from gmcnn.groups import DirectProduct, FiniteGroup, SemidirectProduct, direct_product
from gmcnn.structured import (
    group_diagonal,
    group_diagonal_matrix,
    product_group_diagonal,
    semidirect_group_diagonal,
)


@given(group_pairs())
def test_kronecker_construction_eq_6(pair: tuple[FiniteGroup, FiniteGroup]) -> None:
    G, H = pair
    P = direct_product(G, H)
    assert isinstance(P, DirectProduct)
    for label in P.labels:
        g, h = (int(x) for x in P.split(label))
        np.testing.assert_array_equal(product_group_diagonal(P, label), group_diagonal(P, label))
        np.testing.assert_array_equal(
            group_diagonal_matrix(P, label),
            np.kron(group_diagonal_matrix(G, g), group_diagonal_matrix(H, h)),
        )


@given(semidirect_products())
def test_semidirect_construction(S: FiniteGroup) -> None:
    assert isinstance(S, SemidirectProduct)
    for label in S.labels:
        np.testing.assert_array_equal(semidirect_group_diagonal(S, label), group_diagonal(S, label))


def test_three_factor_kronecker() -> None:
    from gmcnn.groups import cyclic, dihedral

    P = direct_product(cyclic(3), dihedral(2), cyclic(2))
    for label in P.labels:
        np.testing.assert_array_equal(product_group_diagonal(P, label), group_diagonal(P, label))
