"""``gmcnn demo``: a short, real tour of the core (groups, group matrices, displacement)."""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np

from gmcnn.groups import cyclic, dihedral, direct_product
from gmcnn.structured import (
    displacement_rank,
    distance_to_group_matrices,
    from_diagonal_basis,
    group_matrix,
    is_group_matrix,
    to_diagonal_basis,
)


def run(seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    np.set_printoptions(linewidth=120, precision=2, suppress=True)

    D4 = dihedral(4)
    print(f"{D4.name}: order {D4.order}; labels 0-3 are r^k, 4-7 are f·r^k")
    print("Cayley table (row a, column b: a·b):")
    print(D4.cayley_table())

    G = direct_product(D4, cyclic(3))
    print(f"\n{G.name}: order {G.order}, {G.generators.size} generators, diameter {G.diameter}")
    print("ball sizes |B_r|:", [G.ball(r).size for r in range(G.diameter + 1)])

    psi = np.zeros(G.order)
    ball = G.ball(1)
    psi[ball] = rng.integers(1, 10, ball.size)
    M = group_matrix(G, psi)
    print(f"\ngroup matrix M[g, g'] = psi(g⁻¹g') of a kernel on B_1 ({ball.size} taps);")
    print("its top-left 8×8 block:")
    print(M[:8, :8])
    print(
        f"is a group matrix: {is_group_matrix(G, M)}; displacement rank {displacement_rank(G, M)}"
        f"; distance to group matrices {distance_to_group_matrices(G, M):.3f}"
    )

    V = to_diagonal_basis(G, M)
    u = rng.normal(size=G.order)
    V[:, ball] += 0.1 * np.outer(u, rng.normal(size=ball.size))
    P = from_diagonal_basis(G, V)
    print("\nafter a rank-one perturbation V += 0.1·u·φᵀ in the group-diagonal basis (eq. 7):")
    print(
        f"is a group matrix: {is_group_matrix(G, P)}; displacement rank {displacement_rank(G, P)}"
        f"; distance to group matrices {distance_to_group_matrices(G, P):.3f}"
    )

    start = time.perf_counter()
    big = direct_product(cyclic(256), cyclic(256))
    b3 = big.ball(3)
    products = big.mul(big.labels[:, None], b3[None, :])
    elapsed = time.perf_counter() - start
    print(
        f"\n{big.name}: {big.order} elements; built, ball B_3 ({b3.size} = 7² taps) and "
        f"{products.size:,} products in {elapsed:.3f} s, no {big.order}² table"
    )


def _main(args: Any) -> int:
    run(seed=args.seed)
    return 0


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "demo", help="a short demonstration of groups, group matrices and displacement rank"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.set_defaults(func=_main)
