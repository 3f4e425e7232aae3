"""Products never materialise an N×N table: C₂₅₆ × C₂₅₆ against a ball, and its cosets."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable

import numpy as np
import pytest

from gmcnn.groups import Subgroup, cyclic, direct_product


def test_large_product_mul_against_a_ball_stays_small() -> None:
    tracemalloc.start()
    try:
        G = direct_product(cyclic(256), cyclic(256))
        ball = G.ball(3)
        products = G.mul(G.labels[:, None], ball[None, :])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert G.order == 65536
    assert ball.size == 49
    assert products.shape == (65536, 49)
    assert peak < 100 * 2**20, f"peak memory {peak / 2**20:.1f} MiB"
    # Every row against coordinates: (i, j)·(a, b) = (i + a, j + b) mod 256. (numpy 2.4's
    # unravel_index gets (N, 1) arrays of more than 8192 elements wrong, numpy issue 31980.)
    i, j = G.split(products)
    a, b = G.split(ball)
    i0, j0 = G.split(G.labels[:, None])
    assert np.array_equal(i, (i0 + a) % 256)
    assert np.array_equal(j, (j0 + b) % 256)
    assert np.array_equal(G.right_translations(ball), products.T)


def _peak_mib(build: Callable[[], object]) -> float:
    tracemalloc.start()
    try:
        build()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak / 2**20


@pytest.mark.parametrize("index", [2, 4, 16384, 32768], ids=lambda i: f"index-{i}")
def test_cosets_of_a_large_product_need_no_group_by_subgroup_table(index: int) -> None:
    """Right and left cosets, and a subgroup checked from its elements, on C₂₅₆ × C₂₅₆ for
    subgroups of 32,768 down to 2 elements: ``O(|G|)`` memory, never ``|G|×|K|`` or
    ``|K|²`` (which would be up to 8 GiB)."""
    C256 = cyclic(256)
    G = direct_product(C256, C256)
    step = {2: (1, 2), 4: (2, 2), 16384: (128, 128), 32768: (128, 0)}[index]
    K = G.product_subgroup(*(C256.subgroup([s % 256]) for s in step))
    assert G.order // K.order == index
    G.word_distance()  # the group's own cache, not the helpers' cost
    results: dict[str, object] = {}

    def build() -> None:
        results["reps"] = G.right_coset_representatives(K)
        results["left"] = G.left_coset_labels(K)
        results["checked"] = G.subgroup_from_elements(K.elements)

    assert _peak_mib(build) < 256
    reps, left, checked = results["reps"], results["left"], results["checked"]
    assert isinstance(reps, np.ndarray) and reps.size == index
    assert isinstance(left, np.ndarray) and int(left.max()) + 1 == index
    assert isinstance(checked, Subgroup) and np.array_equal(checked.elements, K.elements)
    # Spot checks: g and g·k share a left coset; the representatives lie in distinct cosets.
    g = np.arange(0, G.order, 997)
    k = K.elements[np.arange(g.size) % K.order]
    assert np.array_equal(left[g], left[G.mul(g, k)])
    _, c_index = G.coset_decomposition(K)
    assert np.array_equal(np.unique(c_index[reps]), np.arange(index))
