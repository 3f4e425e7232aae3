"""Group matrices and their displacement theory (paper §2–§3, eq. 1–13; MATH.md §2–§6).

numpy in and out. Group diagonals are index arrays; dense ``N×N`` matrices are built only on
request and only for small groups.
"""

from gmcnn.structured.basis import (
    distance_to_group_matrices,
    from_diagonal_basis,
    project_to_group_matrices,
    to_diagonal_basis,
)
from gmcnn.structured.diagonals import (
    MAX_DENSE_ORDER,
    group_convolution,
    group_diagonal,
    group_diagonal_matrix,
    group_matrix,
    is_group_matrix,
    product_group_diagonal,
    relative_positions,
    semidirect_group_diagonal,
)
from gmcnn.structured.displacement import (
    cyclic_shifts,
    displacement,
    displacement_dimension,
    displacement_rank,
)

__all__ = [
    "MAX_DENSE_ORDER",
    "cyclic_shifts",
    "displacement",
    "displacement_dimension",
    "displacement_rank",
    "distance_to_group_matrices",
    "from_diagonal_basis",
    "group_convolution",
    "group_diagonal",
    "group_diagonal_matrix",
    "group_matrix",
    "is_group_matrix",
    "product_group_diagonal",
    "project_to_group_matrices",
    "relative_positions",
    "semidirect_group_diagonal",
    "to_diagonal_basis",
]
