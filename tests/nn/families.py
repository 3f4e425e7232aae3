"""One small group of every family, each with a proper subgroup to pool over."""

from __future__ import annotations

import numpy as np
from tests.strategies import multiplicative_action

from gmcnn.groups import (
    FiniteGroup,
    Subgroup,
    cyclic,
    dihedral,
    direct_product,
    permutation_group,
    semidirect_product,
    symmetric,
)


def _random_permutation_group() -> FiniteGroup:
    rng = np.random.default_rng(3)
    return permutation_group([rng.permutation(5), rng.permutation(5)])


def _pooled() -> Subgroup:
    C8 = cyclic(8)
    return direct_product(C8, C8).product_subgroup(C8.subgroup([2]), C8.subgroup([2]))


def families() -> dict[str, tuple[FiniteGroup, Subgroup]]:
    """``name -> (G, K)``: cyclic, dihedral, symmetric, random permutation, direct and
    semidirect products, and a subgroup left by pooling (itself pooled further)."""
    perms = _random_permutation_group()
    D3C4 = direct_product(dihedral(3), cyclic(4))
    C7C3 = semidirect_product(cyclic(7), cyclic(3), multiplicative_action(7, 3, 2))
    pooled = _pooled()
    S4 = symmetric(4)
    return {
        "cyclic": (cyclic(9), cyclic(9).subgroup([3])),
        "dihedral": (dihedral(6), dihedral(6).subgroup([2, 6])),
        "symmetric": (S4, S4.subgroup(S4.generators[:1])),
        "permutation": (perms, perms.subgroup(perms.generators[:1])),
        "direct": (D3C4, D3C4.product_subgroup(dihedral(3), cyclic(4).subgroup([2]))),
        "semidirect": (C7C3, C7C3.subgroup([3])),
        "pooled": (pooled, pooled.subgroup([2, 8])),
    }


FAMILIES = families()
