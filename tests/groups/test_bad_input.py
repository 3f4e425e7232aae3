"""Bad input gets a ValueError that names the value and what was expected."""

from __future__ import annotations

import numpy as np
import pytest
from tests.strategies import multiplicative_action

from gmcnn.groups import (
    CyclicGroup,
    DihedralGroup,
    cyclic,
    dihedral,
    direct_product,
    permutation_group,
    semidirect_product,
    symmetric,
)


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
    with pytest.raises(TypeError, match="must be integers, got dtype float64"):
        cyclic(4).inv(np.array([0.5]))


def test_bad_factory_arguments() -> None:
    with pytest.raises(ValueError, match="positive integer"):
        cyclic(0)
    with pytest.raises(ValueError, match="positive integer"):
        dihedral(-3)
    with pytest.raises(TypeError, match="FiniteGroup, got 3 of type int"):
        direct_product(cyclic(2), 3)  # type: ignore[arg-type]


def test_cayley_table_of_a_large_group_is_refused() -> None:
    G = direct_product(cyclic(256), cyclic(256))
    with pytest.raises(ValueError, match="only built for orders"):
        G.cayley_table()


@pytest.mark.parametrize("factory", [cyclic, dihedral, symmetric])
@pytest.mark.parametrize("n", [[3], 3.0, "3", True, None, (2, 2)], ids=repr)
def test_factories_refuse_non_integers_with_a_type_error(factory: object, n: object) -> None:
    with pytest.raises(TypeError, match=r"\(n\): n must be a positive integer, got .* of type"):
        factory(n)  # type: ignore[operator]


def test_factories_take_numpy_integers_and_cache_them_as_ints() -> None:
    assert cyclic(np.int64(6)) is cyclic(6)
    assert dihedral(np.int32(3)) is dihedral(3)
    assert symmetric(np.uint8(3)) is symmetric(3)
    with pytest.raises(TypeError, match="positive integer"):
        CyclicGroup(True)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="must be a positive integer, got 0"):
        DihedralGroup(0)


@pytest.mark.parametrize(
    "generators",
    [5, "abc", [[0.0, 1.0]], [[True, False]], [["a", "b"]], [[0, 1], [1, [0]]]],
    ids=repr,
)
def test_permutation_group_refuses_non_integer_generators(generators: object) -> None:
    with pytest.raises(TypeError, match="image array"):
        permutation_group(generators)  # type: ignore[arg-type]


def test_products_refuse_non_groups_and_non_integer_actions() -> None:
    C2, C5 = cyclic(2), cyclic(5)
    with pytest.raises(TypeError, match="normal must be a FiniteGroup, got 5 of type int"):
        semidirect_product(5, C2, np.zeros((2, 5), dtype=int))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="acting must be a FiniteGroup"):
        semidirect_product(C5, "C2", np.zeros((2, 5), dtype=int))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="action must hold integer labels of N, got dtype float64"):
        semidirect_product(C5, C2, np.stack([np.arange(5), np.arange(5)]).astype(float))
    G = direct_product(cyclic(4), cyclic(4))
    with pytest.raises(TypeError, match=r"one subgroup .* per factor, got 2 of type int"):
        G.product_subgroup(2, cyclic(4))  # type: ignore[arg-type]


@pytest.mark.parametrize("radius", [True, False, 1.0, "1", None, [1]], ids=repr)
def test_ball_refuses_bools_and_non_integers(radius: object) -> None:
    with pytest.raises(TypeError, match=r"radius must be a non-negative integer, got .* of type"):
        cyclic(8).ball(radius)  # type: ignore[arg-type]


def test_ball_takes_numpy_integers() -> None:
    assert cyclic(8).ball(np.int64(1)).tolist() == [0, 1, 7]
    with pytest.raises(ValueError, match="radius must be a non-negative integer, got -1"):
        cyclic(8).ball(-1)


def test_labels_must_be_integers_everywhere() -> None:
    G = cyclic(6)
    with pytest.raises(TypeError, match="must be integers, got dtype bool"):
        G.subgroup([True])
    with pytest.raises(TypeError, match="must be integers, got dtype float64"):
        G.with_generators([1.0])
    with pytest.raises(TypeError, match="must be integers"):
        G.subgroup_from_elements(["0", "3"])
    with pytest.raises(TypeError, match="must be an array of integers"):
        G.mul([[0], [1, 2]], 1)
