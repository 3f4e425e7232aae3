"""Group construction and kernel index arrays: gmcnn against the string-table approach.

The paper's public code writes a group matrix as an ``N×N`` array of element *names* and
finds each kernel element's positions with ``np.where``. This script times, for image groups
``C_n × C_n``, building the index arrays a radius-``r`` kernel needs: gmcnn's vectorised
``mul`` over the ball versus that approach (reimplemented here), and the large
``C₂₅₆ × C₂₅₆`` case that the string table cannot reach. Prints a table; ratios matter more
than absolute times on a shared machine.

    python benchmarks/groups.py
"""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable

import numpy as np

from gmcnn.groups import CyclicGroup, DirectProduct


def string_table_indices(n: int, radius: int) -> np.ndarray:
    """The string approach: name every entry ``g⁻¹g'`` of the group matrix, then search."""
    coords = [(i, j) for i in range(n) for j in range(n)]
    names = np.array([[f"{(b[0] - a[0]) % n},{(b[1] - a[1]) % n}" for b in coords] for a in coords])
    kernel = [
        f"{i % n},{j % n}" for i in range(-radius, radius + 1) for j in range(-radius, radius + 1)
    ]
    cols = np.empty((n * n, len(kernel)), dtype=np.int64)
    for k, name in enumerate(kernel):
        rows, c = np.where(names == name)
        cols[rows, k] = c
    return cols


def gmcnn_indices(n: int, radius: int) -> np.ndarray:
    """From scratch: the factory cache is bypassed, so the word metric is recomputed."""
    G = DirectProduct((CyclicGroup(n), CyclicGroup(n)))
    return G.mul(G.labels[:, None], G.ball(radius)[None, :])


def timed(fn: Callable[..., np.ndarray], *args: int) -> tuple[float, np.ndarray]:
    """Best of three wall-clock times, and the result."""
    times = []
    for _ in range(3):
        start = time.perf_counter()
        out = fn(*args)
        times.append(time.perf_counter() - start)
    return min(times), out


def main() -> None:
    print("kernel index arrays for C_n × C_n (each column: g ↦ g·h for one kernel element h)")
    print(f"{'group':<12}{'r':>3}{'gmcnn s':>12}{'strings s':>12}{'speed-up':>10}")
    for n, r in [(14, 1), (28, 3), (32, 3)]:
        t_ours, ours = timed(gmcnn_indices, n, r)
        t_str, theirs = timed(string_table_indices, n, r)
        # Same sets of columns (the orders of kernel elements differ between the two).
        assert np.array_equal(np.sort(ours, axis=1), np.sort(theirs, axis=1))
        print(
            f"C{n} × C{n}".ljust(12) + f"{r:>3}{t_ours:>12.4f}{t_str:>12.3f}{t_str / t_ours:>9.0f}×"
        )

    tracemalloc.start()
    start = time.perf_counter()
    G = DirectProduct((CyclicGroup(256), CyclicGroup(256)))
    ball = G.ball(3)
    products = G.mul(G.labels[:, None], ball[None, :])
    elapsed = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(
        f"\nC256 × C256: {G.order} elements; build + word distance + ball(3) + "
        f"{products.size:,} products: {elapsed:.3f} s, peak {peak / 2**20:.1f} MiB "
        "(a Cayley table would need 32 GiB)"
    )


if __name__ == "__main__":
    main()
