"""The planar groups C4 and D4: axioms, actions on fields, and equivariant kernel bases."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from gmcnn.baselines.planar import (
    e2cnn_kernel_basis,
    grid_kernel_basis,
    grid_permutations,
    invariant_vectors,
    planar_group,
    transform_fields,
)

GROUPS = ["C4", "D4"]
REPS = ["trivial", "vector", "regular"]


@pytest.mark.parametrize("name", GROUPS)
def test_group_axioms(name: str) -> None:
    g = planar_group(name)
    table = g.cayley
    assert g is planar_group(name)
    assert (table[0] == np.arange(g.order)).all() and (table[:, 0] == np.arange(g.order)).all()
    for row in table:
        assert sorted(row) == list(range(g.order))
    assert (table[np.arange(g.order), g.inverse] == 0).all()
    a, b, c = np.meshgrid(*[np.arange(g.order)] * 3, indexing="ij")
    assert (table[table[a, b], c] == table[a, table[b, c]]).all()


@pytest.mark.parametrize(("name", "rep"), list(itertools.product(GROUPS, REPS)))
def test_representations_are_homomorphisms(name: str, rep: str) -> None:
    g = planar_group(name)
    rho = g.representation(rep)  # type: ignore[arg-type]
    for a, b in itertools.product(range(g.order), repeat=2):
        np.testing.assert_allclose(rho[a] @ rho[b], rho[g.cayley[a, b]])


@pytest.mark.parametrize(("name", "size"), list(itertools.product(GROUPS, [1, 4, 5])))
def test_grid_action_is_a_group_action(name: str, size: int) -> None:
    g = planar_group(name)
    perms = grid_permutations(g, size)
    for a, b in itertools.product(range(g.order), repeat=2):
        # (a·(b·u))[p] = (b·u)[perm_a[p]] = u[perm_b[perm_a[p]]]
        assert (perms[b][perms[a]] == perms[g.cayley[a, b]]).all()


@pytest.mark.parametrize(("name", "rep", "y_down"), list(itertools.product(GROUPS, REPS, [0, 1])))
def test_transform_fields_is_an_action(name: str, rep: str, y_down: int) -> None:
    g = planar_group(name)
    x = torch.randn(2, 3 * {"trivial": 1, "vector": 2, "regular": g.order}[rep], 6, 6)
    for a, b in itertools.product(range(g.order), repeat=2):
        twice = transform_fields(
            transform_fields(x, g, b, rep, bool(y_down)),  # type: ignore[arg-type]
            g,
            a,
            rep,  # type: ignore[arg-type]
            bool(y_down),
        )
        once = transform_fields(x, g, g.cayley[a, b], rep, bool(y_down))  # type: ignore[arg-type]
        torch.testing.assert_close(twice, once)


def test_rotation_is_rot90_and_rotates_vectors() -> None:
    g = planar_group("C4")
    x = torch.randn(1, 2, 5, 5)
    out = transform_fields(x, g, 1, "vector")
    turned = torch.rot90(x, 1, dims=(-2, -1))
    torch.testing.assert_close(out, torch.stack([-turned[:, 1], turned[:, 0]], dim=1))
    # with y along rows, a rotation turns the y component the other way
    out = transform_fields(x, g, 1, "vector", y_down=True)
    torch.testing.assert_close(out, torch.stack([turned[:, 1], -turned[:, 0]], dim=1))


@pytest.mark.parametrize("rep", ["vector", "regular", "trivial"])
def test_c4_action_is_e2cnns(rep: str) -> None:
    e2cnn = pytest.importorskip("e2cnn")
    gspace = e2cnn.gspaces.Rot2dOnR2(4)
    e2_rep = {"vector": gspace.irrep(1), "regular": gspace.regular_repr}.get(
        rep, gspace.trivial_repr
    )
    field_type = e2cnn.nn.FieldType(gspace, [e2_rep] * 3)
    x = torch.randn(2, field_type.size, 7, 7)
    for element in range(4):
        theirs = e2cnn.nn.GeometricTensor(x, field_type).transform(element).tensor
        ours = transform_fields(x, planar_group("C4"), element, rep)  # type: ignore[arg-type]
        torch.testing.assert_close(ours, theirs)


def _constraint_error(name: str, basis: torch.Tensor, rep_in: str, rep_out: str) -> float:
    g = planar_group(name)
    size = basis.shape[-1]
    rho_in = torch.as_tensor(g.representation(rep_in), dtype=basis.dtype)  # type: ignore[arg-type]
    rho_out = torch.as_tensor(g.representation(rep_out), dtype=basis.dtype)  # type: ignore[arg-type]
    perms = torch.as_tensor(grid_permutations(g, size))
    flat = basis.flatten(-2)
    worst = 0.0
    for a in range(g.order):
        # ρ_out(a) K(a⁻¹y) ρ_in(a)⁻¹ must equal K(y)
        moved = torch.einsum("pq,bqrs,rt->bpts", rho_out[a], flat[..., perms[a]], rho_in[a].T)
        worst = max(worst, (moved - flat).abs().max().item())
    return worst


@pytest.mark.parametrize(("name", "rep_in", "rep_out"), list(itertools.product(GROUPS, REPS, REPS)))
def test_grid_basis_is_an_orthonormal_basis_of_equivariant_kernels(
    name: str, rep_in: str, rep_out: str
) -> None:
    basis = grid_kernel_basis(planar_group(name), rep_in, rep_out, 3)  # type: ignore[arg-type]
    flat = basis.flatten(1).double()
    torch.testing.assert_close(flat @ flat.T, torch.eye(len(flat), dtype=torch.float64))
    assert _constraint_error(name, basis, rep_in, rep_out) < 1e-6


def test_grid_basis_dimensions() -> None:
    c4, d4 = planar_group("C4"), planar_group("D4")
    # regular → regular: a free kernel on G × grid (group convolution)
    assert len(grid_kernel_basis(c4, "regular", "regular", 3)) == 4 * 9
    assert len(grid_kernel_basis(d4, "regular", "regular", 5)) == 8 * 25
    # trivial → trivial: kernels constant on the group's orbits of the 3×3 grid
    assert len(grid_kernel_basis(c4, "trivial", "trivial", 3)) == 3
    assert len(grid_kernel_basis(d4, "trivial", "trivial", 5)) == 6


@pytest.mark.parametrize(
    ("rep_in", "rep_out"), [("vector", "regular"), ("regular", "regular"), ("regular", "vector")]
)
def test_e2cnn_basis_is_equivariant_and_matches_r2conv(rep_in: str, rep_out: str) -> None:
    e2cnn = pytest.importorskip("e2cnn")
    c4 = planar_group("C4")
    basis = e2cnn_kernel_basis(c4, rep_in, rep_out, 3)  # type: ignore[arg-type]
    assert _constraint_error("C4", basis, rep_in, rep_out) < 1e-5
    # a random e2cnn R2Conv filter lies in the span of the basis
    gspace = e2cnn.gspaces.Rot2dOnR2(4)
    reps = {"vector": gspace.irrep(1), "regular": gspace.regular_repr}
    conv = e2cnn.nn.R2Conv(
        e2cnn.nn.FieldType(gspace, [reps[rep_in]]),
        e2cnn.nn.FieldType(gspace, [reps[rep_out]]),
        3,
        bias=False,
    )
    conv.train()
    weight = conv.basisexpansion(conv.weights).reshape(-1).detach().double()
    flat = basis.flatten(1).double()
    coefficients = torch.linalg.lstsq(flat.T, weight[:, None]).solution
    torch.testing.assert_close(flat.T @ coefficients, weight[:, None], atol=1e-5, rtol=1e-5)


def test_e2cnn_basis_refuses_d4() -> None:
    with pytest.raises(ValueError, match="C4 only"):
        e2cnn_kernel_basis(planar_group("D4"), "regular", "regular", 3)


def test_invariant_vectors() -> None:
    c4 = planar_group("C4")
    assert invariant_vectors(c4, "vector").shape == (2, 0)
    ones = invariant_vectors(c4, "regular")
    assert ones.shape == (4, 1)
    torch.testing.assert_close(ones.abs(), torch.full((4, 1), 0.5))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: planar_group("C8"), "not supported"),
        (lambda: grid_kernel_basis(planar_group("C4"), "vector", "regular", 4), "odd"),
        (lambda: planar_group("C4").representation("spin"), "representation"),  # type: ignore[arg-type]
        (
            lambda: transform_fields(torch.ones(1, 2, 4, 5), planar_group("C4"), 1, "vector"),
            "square",
        ),
        (
            lambda: transform_fields(torch.ones(1, 3, 4, 4), planar_group("C4"), 1, "vector"),
            "whole number",
        ),
    ],
)
def test_bad_arguments_raise(call: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()  # type: ignore[operator]
