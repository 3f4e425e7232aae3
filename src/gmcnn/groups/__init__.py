"""Finite groups as integer arrays (MATH.md §1).

Every element is an integer label ``0 … N-1``; products and inverses are vectorised over
label arrays; Cayley tables are built only on demand and only for small groups.
"""

from gmcnn.groups.base import (
    MAX_TABLE_ORDER,
    FiniteGroup,
    Labels,
    Subgroup,
    as_labels,
    check_integer,
)
from gmcnn.groups.families import (
    CyclicGroup,
    DihedralGroup,
    PermutationGroup,
    cyclic,
    dihedral,
    permutation_group,
    symmetric,
)
from gmcnn.groups.products import (
    DirectProduct,
    SemidirectProduct,
    direct_product,
    semidirect_product,
)

__all__ = [
    "MAX_TABLE_ORDER",
    "CyclicGroup",
    "DihedralGroup",
    "DirectProduct",
    "FiniteGroup",
    "Labels",
    "PermutationGroup",
    "SemidirectProduct",
    "Subgroup",
    "as_labels",
    "check_integer",
    "cyclic",
    "dihedral",
    "direct_product",
    "permutation_group",
    "semidirect_product",
    "symmetric",
]
