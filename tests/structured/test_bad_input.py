"""Bad input to the structured-matrix functions: one-line errors naming the value.

Non-finite entries are a ``ValueError`` (a rank of a matrix with NaN has no meaning, and
LAPACK would fail with "SVD did not converge"), non-numeric input a ``TypeError``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from gmcnn.groups import FiniteGroup, cyclic
from gmcnn.structured import (
    displacement,
    displacement_dimension,
    displacement_rank,
    distance_to_group_matrices,
    from_diagonal_basis,
    group_convolution,
    group_diagonal,
    group_matrix,
    is_group_matrix,
    project_to_group_matrices,
    to_diagonal_basis,
)

G = cyclic(4)
Matrix = Callable[[FiniteGroup, np.ndarray], object]

MATRIX_FUNCTIONS: dict[str, Matrix] = {
    "displacement_rank": displacement_rank,
    "displacement": displacement,
    "displacement_dimension": lambda G, M: displacement_dimension(G, [M, np.eye(G.order)]),
    "distance_to_group_matrices": distance_to_group_matrices,
    "project_to_group_matrices": project_to_group_matrices,
    "to_diagonal_basis": to_diagonal_basis,
    "from_diagonal_basis": from_diagonal_basis,
    "is_group_matrix": is_group_matrix,
}
FUNCTION_FUNCTIONS: dict[str, Matrix] = {
    "group_matrix": group_matrix,
    "group_convolution (f)": lambda G, f: group_convolution(G, f, np.ones(G.order)),
    "group_convolution (psi)": lambda G, psi: group_convolution(G, np.ones(G.order), psi),
}


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf], ids=str)
@pytest.mark.parametrize("name", MATRIX_FUNCTIONS)
def test_non_finite_matrices_are_a_value_error(name: str, bad: float) -> None:
    M = np.eye(G.order)
    M[1, 2] = bad
    message = rf"has the non-finite value {bad} at index \((0, )?1, 2\)"  # (0, …): a stack
    with pytest.raises(ValueError, match=message):
        MATRIX_FUNCTIONS[name](G, M)


@pytest.mark.parametrize("name", FUNCTION_FUNCTIONS)
def test_non_finite_functions_are_a_value_error(name: str) -> None:
    f = np.ones(G.order)
    f[3] = np.nan
    with pytest.raises(ValueError, match=r"has the non-finite value nan at index \(3,\)"):
        FUNCTION_FUNCTIONS[name](G, f)


def test_complex_non_finite_entries_are_refused_too() -> None:
    M = np.eye(G.order, dtype=complex)
    M[0, 0] = complex(0, np.inf)
    with pytest.raises(ValueError, match="non-finite value"):
        displacement_rank(G, M)


@pytest.mark.parametrize("name", [*MATRIX_FUNCTIONS, *FUNCTION_FUNCTIONS])
def test_non_numeric_input_is_a_type_error(name: str) -> None:
    function = {**MATRIX_FUNCTIONS, **FUNCTION_FUNCTIONS}[name]
    shape = (G.order, G.order) if name in MATRIX_FUNCTIONS else (G.order,)
    with pytest.raises(TypeError, match="must be a numeric array, got dtype"):
        function(G, np.full(shape, "x"))
    with pytest.raises(TypeError, match="must be a numeric array"):
        function(G, np.array([None] * G.order))


def test_integer_and_boolean_matrices_are_numbers() -> None:
    assert displacement_rank(G, np.eye(G.order, dtype=int)) == 0
    assert is_group_matrix(G, np.eye(G.order, dtype=bool))


def test_bad_tolerances_and_permutations() -> None:
    M = np.eye(G.order)
    with pytest.raises(ValueError, match="tol must be a finite non-negative number, got nan"):
        displacement_rank(G, M, tol=float("nan"))
    with pytest.raises(ValueError, match="tol must be a finite non-negative number, got -1"):
        displacement_dimension(G, [M], tol=-1)
    with pytest.raises(TypeError, match="tol must be a non-negative real number or None"):
        displacement_rank(G, M, tol="0.1")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="sigma must hold integer labels of C4, got dtype float64"):
        displacement(G, M, sigma=np.array([1.0, 2.0, 3.0, 0.0]))
    with pytest.raises(TypeError, match="labels must be integers, got dtype bool"):
        group_diagonal(G, True)  # type: ignore[arg-type]
