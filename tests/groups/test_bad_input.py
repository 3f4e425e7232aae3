"""Bad input gets a ValueError that names the value and what was expected."""

from __future__ import annotations

import numpy as np
import pytest
from tests.strategies import multiplicative_action

from gmcnn.groups import cyclic, dihedral, direct_product, permutation_group, semidirect_product


def test_non_permutation_generator() -> None:
    with pytest.raises(ValueError, match=r"generator \[0, 0, 1\] is not a permutation of 0 … 2"):
        permutation_group([[0, 0, 1]])
    with pytest.raises(ValueError, match="same length"):
        permutation_group([[1, 0], [1, 2, 0]])
    with pytest.raises(ValueError, match="at least one generator"):
        permutation_group([])


def test_action_that_is_not_a_homomorphism() -> None:
    inversion = multiplicative_action(5, 2, 4)[1]
    # C3 → Aut(C5) sending the generator to inversion: φ(1)³ = inversion ≠ id.
    action = np.stack([np.arange(5), inversion, np.arange(5)])
    with pytest.raises(ValueError, match="not a homomorphism"):
        semidirect_product(cyclic(5), cyclic(3), action)


def test_action_that_is_not_an_automorphism() -> None:
    swap = np.array([0, 2, 1, 3, 4])  # a permutation of C5's labels, not an automorphism
    with pytest.raises(ValueError, match=r"action\[1\] is not an automorphism of C5"):
        semidirect_product(cyclic(5), cyclic(2), np.stack([np.arange(5), swap]))


def test_action_of_wrong_shape_or_not_permutations() -> None:
    with pytest.raises(ValueError, match=r"action has shape \(2, 4\); expected \(\|H\|, \|N\|\)"):
        semidirect_product(cyclic(5), cyclic(2), np.zeros((2, 4), dtype=int))
    with pytest.raises(ValueError, match=r"action\[1\] = \[0, 0, 0, 0, 0\] is not a permutation"):
        semidirect_product(cyclic(5), cyclic(2), np.stack([np.arange(5), np.zeros(5, int)]))


def test_labels_out_of_range() -> None:
    with pytest.raises(
        ValueError, match=r"element label 8 is out of range: expected 0 <= label < 8"
    ):
        dihedral(4).mul(8, 1)
    with pytest.raises(ValueError, match="must be integers"):
        cyclic(4).inv(np.array([0.5]))


def test_bad_factory_arguments() -> None:
    with pytest.raises(ValueError, match="positive integer"):
        cyclic(0)
    with pytest.raises(ValueError, match="positive integer"):
        dihedral(-3)
    with pytest.raises(ValueError, match="FiniteGroup"):
        direct_product(cyclic(2), 3)  # type: ignore[arg-type]


def test_cayley_table_of_a_large_group_is_refused() -> None:
    G = direct_product(cyclic(256), cyclic(256))
    with pytest.raises(ValueError, match="only built for orders"):
        G.cayley_table()
