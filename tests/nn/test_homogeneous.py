"""HomogeneousGMConv on G/K (App. D.1, eq. 18–20): definition, representatives, equivariance."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from tests.nn.reference import eq2_convolution
from tests.strategies import groups

from gmcnn.groups import FiniteGroup, Subgroup, cyclic, dihedral, direct_product
from gmcnn.nn import CosetSpace, GMConv, HomogeneousGMConv
from gmcnn.testing import assert_equivariant


@st.composite
def setups(draw: st.DrawFn) -> tuple[FiniteGroup, Subgroup, int]:
    G = draw(groups())
    K = G.subgroup(draw(st.lists(st.integers(0, G.order - 1), min_size=1, max_size=2)))
    return G, K, draw(st.integers(0, min(G.diameter, 2)))


def _reference(layer: HomogeneousGMConv, x: torch.Tensor) -> np.ndarray:
    """Lift, convolve on G with the right-K-invariant kernel ψ̄ (eq. 18), read at representatives."""
    G, space = layer.group, layer.space
    f = x.double().numpy()[:, :, space.coset_of]  # f̃(g) = f(gK)
    w = layer.weight.detach().double().numpy()
    w = np.broadcast_to(w, (w.shape[0], layer.in_channels, w.shape[2]))
    psi = np.zeros((w.shape[0], layer.in_channels, G.order))
    for c, coset in enumerate(layer.kernel_cosets.tolist()):
        psi[:, :, space.coset_of == coset] = w[:, :, c : c + 1]
    y = np.stack(
        [
            sum(eq2_convolution(G, f[:, i], psi[o, i]) for i in range(psi.shape[1]))
            for o in range(psi.shape[0])
        ],
        axis=1,
    )
    # y is again right-K-invariant: a signal on G/K.
    for coset in range(space.order):
        members = np.flatnonzero(space.coset_of == coset)
        np.testing.assert_allclose(
            y[..., members], y[..., members[:1]].repeat(members.size, -1), atol=1e-9
        )
    bias = 0 if layer.bias is None else layer.bias.detach().double().numpy()[None, :, None]
    return np.asarray(y[..., space.representatives] + bias)


@given(setups(), st.sampled_from(["full", "shared"]))
def test_layer_is_eq18(setup: tuple[FiniteGroup, Subgroup, int], mixing: str) -> None:
    G, K, radius = setup
    layer = HomogeneousGMConv(G, K, 2, 3, radius=radius, channel_mixing=mixing).double()  # type: ignore[arg-type]
    x = torch.randn(2, 2, layer.space.order, dtype=torch.float64)
    torch.testing.assert_close(layer(x), torch.from_numpy(_reference(layer, x)))


@given(setups(), st.integers(0, 2**31 - 1))
def test_output_does_not_depend_on_the_representatives(
    setup: tuple[FiniteGroup, Subgroup, int], seed: int
) -> None:
    G, K, radius = setup
    default = HomogeneousGMConv(G, K, 2, 2, radius=radius).double()
    space = default.space
    rng = np.random.default_rng(seed)
    reps = np.array([rng.choice(np.flatnonzero(space.coset_of == j)) for j in range(space.order)])
    other = HomogeneousGMConv(G, K, 2, 2, radius=radius, representatives=reps).double()
    other.load_state_dict(default.state_dict(), strict=False)
    x = torch.randn(3, 2, space.order, dtype=torch.float64)
    torch.testing.assert_close(other(x), default(x), rtol=1e-12, atol=1e-12)
    assert_equivariant(other, G, input_space=other.space, output_space=other.space)


def test_trivial_subgroup_gives_gmconv() -> None:
    G = dihedral(5)
    homogeneous = HomogeneousGMConv(G, [G.identity], 2, 3, radius=1).double()
    conv = GMConv(G, 2, 3, radius=1).double()
    conv.load_state_dict(homogeneous.state_dict(), strict=False)
    x = torch.randn(2, 2, G.order, dtype=torch.float64)
    torch.testing.assert_close(homogeneous(x), conv(x))


def test_kernel_has_one_parameter_per_coset_met_by_the_ball() -> None:
    C = cyclic(8)
    G = direct_product(C, C)
    K = G.product_subgroup(C.subgroup([0]), C.subgroup([4]))  # {e} × {0, 4}: X ≅ C8 × C4
    layer = HomogeneousGMConv(G, K, 1, 1, radius=1)
    assert layer.space.order == 32
    assert layer.weight.shape == (1, 1, 9)  # the 3×3 ball meets 9 of the 32 cosets


def test_bad_representatives_and_inputs_are_value_errors() -> None:
    G = dihedral(4)
    K = G.subgroup([4])  # {e, f}
    space = CosetSpace(G, K)
    with pytest.raises(ValueError, match="must hold one element of each of the 4 cosets"):
        CosetSpace(G, K, representatives=space.representatives[::-1])
    with pytest.raises(ValueError, match="not a subgroup"):
        HomogeneousGMConv(G, [0, 1], 1, 1, radius=1)
    layer = HomogeneousGMConv(G, K, 2, 1, radius=1)
    with pytest.raises(ValueError, match=r"expected \(batch, 2, 4\)"):
        layer(torch.randn(1, 2, 8))
