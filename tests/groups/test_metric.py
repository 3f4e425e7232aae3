"""Word distance, balls and diameters (MATH.md §1)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from tests.strategies import groups

from gmcnn.groups import FiniteGroup, cyclic, dihedral, direct_product


@given(groups())
def test_word_distance_is_a_word_metric(G: FiniteGroup) -> None:
    d = G.word_distance()
    assert d[G.identity] == 0
    assert np.all(d[G.symmetric_generators] == 1)
    assert np.array_equal(d[G.inv(G.elements)], d)  # d(g⁻¹) = d(g)
    table = G.cayley_table()
    assert np.all(d[table] <= d[:, None] + d[None, :])  # d(gh) <= d(g) + d(h)
    # Every element at distance k > 0 is a neighbour of one at distance k - 1.
    gens = G.symmetric_generators
    for g in np.flatnonzero(d > 0):
        assert np.min(d[G.mul(g, gens)]) == d[g] - 1


@pytest.mark.parametrize(("n", "r"), [(5, 1), (8, 2), (28, 3), (9, 4)])
def test_balls_of_cyclic_products_are_squares(n: int, r: int) -> None:
    G = direct_product(cyclic(n), cyclic(n))
    ball = G.ball(r)
    assert ball.size == (2 * r + 1) ** 2
    i, j = G.split(ball)
    offsets = {(int((a + r) % n) - r, int((b + r) % n) - r) for a, b in zip(i, j, strict=True)}
    assert offsets == {(a, b) for a in range(-r, r + 1) for b in range(-r, r + 1)}


@pytest.mark.parametrize(("n", "t"), [(4, 1), (14, 2), (14, 3), (31, 1)])
def test_dihedral_balls_are_the_paper_kernels(n: int, t: int) -> None:
    D = dihedral(n)
    expected = {k % n for k in range(-t, t + 1)} | {n + k % n for k in range(-t, t + 1)}
    assert set(D.ball(t).tolist()) == expected
    assert D.ball(t).size == 2 * (2 * t + 1)


def test_rotated_mnist_kernel_has_196_taps() -> None:
    assert direct_product(dihedral(14), dihedral(14)).ball(3).size == 196


def test_diameter_and_full_ball() -> None:
    G = direct_product(cyclic(10), cyclic(6))
    assert G.diameter == 5
    assert np.array_equal(G.ball(G.diameter), G.elements)


def test_bad_radius() -> None:
    G = direct_product(cyclic(14), cyclic(14))
    with pytest.raises(ValueError, match="radius 9 exceeds the diameter 7 of C14 × C14"):
        G.ball(9)
    with pytest.raises(ValueError, match="non-negative integer"):
        G.ball(-1)


def test_generators_that_do_not_generate() -> None:
    with pytest.raises(ValueError, match="do not generate"):
        cyclic(6).with_generators([2])


def test_with_generators_changes_the_metric() -> None:
    G = cyclic(12).with_generators([1, 5])
    assert G.diameter < cyclic(12).diameter
    assert np.array_equal(G.mul(3, 4), cyclic(12).mul(3, 4))
