"""Products never materialise an N×N table: C₂₅₆ × C₂₅₆ against a ball of radius 3."""

from __future__ import annotations

import tracemalloc

import numpy as np

from gmcnn.groups import cyclic, direct_product


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
    # Spot-check against coordinates: (i, j)·(a, b) = (i + a, j + b) mod 256.
    i, j = G.split(products[1234])
    a, b = G.split(ball)
    i0, j0 = G.split(1234)
    assert np.array_equal(i, (i0 + a) % 256)
    assert np.array_equal(j, (j0 + b) % 256)
