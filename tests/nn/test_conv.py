"""GMConv: the definition (eq. 2), its dense matrix, both fast paths, layouts and bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import given
from hypothesis import strategies as st
from tests.nn.families import FAMILIES
from tests.nn.reference import dense_forward, kernels_on_group, layer_reference
from tests.strategies import groups

from gmcnn.groups import (
    FiniteGroup,
    cyclic,
    dihedral,
    direct_product,
    permutation_group,
    symmetric,
)
from gmcnn.nn import GMConv, grid_form
from gmcnn.nn import functional as gmf
from gmcnn.nn.fourier import FourierSpec

DOUBLE = {"rtol": 1e-10, "atol": 1e-12}


@st.composite
def layers(draw: st.DrawFn) -> tuple[FiniteGroup, GMConv]:
    G = draw(groups())
    radius = draw(st.integers(0, min(G.diameter, 2)))
    layer = GMConv(
        G,
        draw(st.integers(1, 3)),
        draw(st.integers(1, 3)),
        radius=radius,
        channel_mixing=draw(st.sampled_from(["full", "shared"])),
        bias=draw(st.booleans()),
        implementation=draw(
            st.sampled_from(["conv", "fft", "gather"] if grid_form(G) else ["gather"])
        ),
    ).double()
    return G, layer


@given(layers())
def test_layer_is_the_group_convolution_of_eq2(case: tuple[FiniteGroup, GMConv]) -> None:
    G, layer = case
    x = torch.randn(2, layer.in_channels, G.order, dtype=torch.float64)
    psi = kernels_on_group(G, layer.weight, layer.kernel_elements, layer.in_channels)
    expected = layer_reference(G, x, psi, layer.bias)
    torch.testing.assert_close(layer(x), torch.from_numpy(expected), **DOUBLE)


@given(layers())
def test_dense_matrix_is_the_layer(case: tuple[FiniteGroup, GMConv]) -> None:
    G, layer = case
    x = torch.randn(3, layer.in_channels, G.order, dtype=torch.float64)
    torch.testing.assert_close(layer(x), dense_forward(layer, x), **DOUBLE)


@given(layers())
def test_gradients_match_the_dense_path(case: tuple[FiniteGroup, GMConv]) -> None:
    G, layer = case
    x = torch.randn(2, layer.in_channels, G.order, dtype=torch.float64, requires_grad=True)
    probe = torch.randn(2, layer.out_channels, G.order, dtype=torch.float64)
    leaves = (x, *layer.parameters())
    fast = torch.autograd.grad((layer(x) * probe).sum(), leaves)
    slow = torch.autograd.grad((dense_forward(layer, x) * probe).sum(), leaves)
    for a, b in zip(fast, slow, strict=True):
        torch.testing.assert_close(a, b, **DOUBLE)


@pytest.mark.parametrize("channels", [1, 2, 5])  # single channel; gather first; mix first
def test_gather_functions_pass_gradcheck(channels: int) -> None:
    G = symmetric(3)
    layer = GMConv(G, channels, 3, radius=1, implementation="gather").double()
    assert layer.source is not None and layer.target is not None
    x = torch.randn(2, channels, G.order, dtype=torch.float64, requires_grad=True)
    w = torch.randn(3, channels, layer.kernel_size, dtype=torch.float64, requires_grad=True)
    b = torch.randn(3, dtype=torch.float64, requires_grad=True)
    source, target = layer.source, layer.target
    assert torch.autograd.gradcheck(
        lambda *t: gmf.group_conv(*t[:2], source, target, t[2]), (x, w, b)
    )


PAPER_SIZED = [
    (direct_product(cyclic(28), cyclic(28)), 3, "shared"),
    (direct_product(cyclic(28), cyclic(28)), 3, "full"),
    (direct_product(dihedral(14), dihedral(14)), 2, "shared"),
    (direct_product(dihedral(14), dihedral(14)), 2, "full"),
    (direct_product(cyclic(64), cyclic(64)), 1, "full"),
    (direct_product(dihedral(31), cyclic(23)), 1, "full"),
]


@pytest.mark.parametrize("path", ["conv", "fft"])
@pytest.mark.parametrize(("G", "radius", "mixing"), PAPER_SIZED, ids=lambda p: str(p))
def test_grid_paths_match_the_gather_path_on_the_paper_groups(
    G: FiniteGroup, radius: int, mixing: str, path: str
) -> None:
    """float32, forward and backward, against the gather path (rtol 1e-5)."""
    fast = GMConv(G, 3, 4, radius=radius, channel_mixing=mixing, implementation=path)
    gather = GMConv(G, 3, 4, radius=radius, channel_mixing=mixing, implementation="gather")
    gather.load_state_dict(fast.state_dict(), strict=False)
    assert fast.implementation == path and gather.implementation == "gather"
    x = torch.randn(2, 3, *G.shape, requires_grad=True)  # type: ignore[attr-defined]
    y, expected = fast(x), gather(x)
    torch.testing.assert_close(y, expected, rtol=1e-5, atol=1e-5)
    probe = torch.randn_like(y)
    grads = torch.autograd.grad((y * probe).sum(), (x, *fast.parameters()))
    reference = torch.autograd.grad((expected * probe).sum(), (x, *gather.parameters()))
    for a, b in zip(grads, reference, strict=True):
        # Weight gradients sum B·N float32 products: tolerance relative to the largest entry.
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5 * float(b.abs().max()))


GRID_FAMILIES = [name for name, (G, _) in FAMILIES.items() if grid_form(G) is not None]


@pytest.mark.parametrize("name", GRID_FAMILIES)
@pytest.mark.parametrize("mixing", ["full", "shared"])
def test_fourier_path_is_exact_on_every_grid_family(name: str, mixing: str) -> None:
    """float64, forward and all gradients, against the dense matrix of the layer."""
    G = FAMILIES[name][0]
    layer = GMConv(G, 3, 2, radius=2, channel_mixing=mixing, implementation="fft").double()
    assert layer.implementation == "fft"
    x = torch.randn(2, 3, G.order, dtype=torch.float64, requires_grad=True)
    y, expected = layer(x), dense_forward(layer, x)
    torch.testing.assert_close(y, expected, **DOUBLE)
    probe = torch.randn_like(y)
    leaves = (x, *layer.parameters())
    fast = torch.autograd.grad((y * probe).sum(), leaves)
    slow = torch.autograd.grad((expected * probe).sum(), leaves)
    for a, b in zip(fast, slow, strict=True):
        torch.testing.assert_close(a, b, **DOUBLE)


@pytest.mark.parametrize(
    "G",
    [
        dihedral(5),  # one axis, odd: no Nyquist frequency
        direct_product(dihedral(3), cyclic(4)),  # two blocks, even last axis
        direct_product(cyclic(2), dihedral(2), cyclic(3)),  # three axes
        direct_product(cyclic(2), cyclic(2), cyclic(3), cyclic(2)),  # four axes
    ],
    ids=lambda g: g.name,
)
def test_fourier_function_passes_gradcheck(G: FiniteGroup) -> None:
    layer = GMConv(G, 2, 3, radius=1, implementation="fft").double()
    assert isinstance(layer.spec, FourierSpec)
    assert layer.members is not None and layer.turns is not None
    x = torch.randn(1, 2, G.order, dtype=torch.float64, requires_grad=True)
    w = torch.randn(3, 2, layer.kernel_size, dtype=torch.float64, requires_grad=True)
    b = torch.randn(3, dtype=torch.float64, requires_grad=True)
    members, turns, spec = layer.members, layer.turns, layer.spec
    layout, position = layer.layout, layer.position
    assert torch.autograd.gradcheck(
        lambda *t: gmf.fourier_group_conv(t[0], t[1], members, turns, spec, layout, position, t[2]),
        (x, w, b),
        fast_mode=True,
    )


def test_cyclic_product_is_circular_conv2d_with_the_flipped_kernel() -> None:
    n, r = 10, 2
    G = direct_product(cyclic(n), cyclic(n))
    layer = GMConv(G, 3, 5, radius=r).double()
    x = torch.randn(2, 3, n, n, dtype=torch.float64)
    # ψ(a, b) = weight[..., k] for kernel element k = (a, b); conv2d correlates, reading
    # x[p + s - r], so the stencil holds ψ(δ) at s = r - δ.
    a, b = (np.where(part > n // 2, part - n, part) for part in G.split(layer.kernel_elements))
    stencil = torch.zeros(5, 3, 2 * r + 1, 2 * r + 1, dtype=torch.float64)
    stencil[:, :, r - a, r - b] = layer.weight.detach()
    expected = TF.conv2d(TF.pad(x, (r, r, r, r), mode="circular"), stencil, layer.bias)
    torch.testing.assert_close(layer(x), expected, **DOUBLE)


def test_image_layout_is_kept_and_equals_the_flat_layout() -> None:
    G = direct_product(dihedral(4), cyclic(5))
    layer = GMConv(G, 2, 3, radius=1).double()
    x = torch.randn(2, 2, 8, 5, dtype=torch.float64)
    y = layer(x)
    assert y.shape == (2, 3, 8, 5)
    torch.testing.assert_close(y.flatten(2), layer(x.flatten(2)), **DOUBLE)


def test_explicit_kernel_elements_in_any_order() -> None:
    G = dihedral(6)
    elements = np.array([7, 0, 3, 11])
    layer = GMConv(G, 2, 2, kernel_elements=elements).double()
    assert layer.kernel_elements.tolist() == elements.tolist()
    x = torch.randn(2, 2, G.order, dtype=torch.float64)
    psi = kernels_on_group(G, layer.weight, layer.kernel_elements, 2)
    torch.testing.assert_close(layer(x), torch.from_numpy(layer_reference(G, x, psi, layer.bias)))


def test_path_selection() -> None:
    # Few channels: the transforms cost more than the direct convolution saves.
    assert GMConv(direct_product(cyclic(8), cyclic(8)), 1, 1, radius=1).implementation == "conv"
    assert GMConv(direct_product(dihedral(5), dihedral(5)), 1, 1, radius=1).implementation == "conv"
    # Many channels: the per-frequency products need fewer operations (docs/performance.md).
    C28, D14 = cyclic(28), dihedral(14)
    assert GMConv(direct_product(C28, C28), 120, 120, radius=3).implementation == "fft"
    assert GMConv(direct_product(D14, D14), 120, 120, radius=2).implementation == "fft"
    assert GMConv(direct_product(dihedral(31), cyclic(23)), 128, 128, radius=1).implementation == (
        "fft"
    )
    assert GMConv(symmetric(4), 1, 1, radius=1).implementation == "gather"
    shared = GMConv(direct_product(cyclic(8), cyclic(8)), 2, 1, radius=1, channel_mixing="shared")
    assert shared.implementation == "gather"
    random_perms = permutation_group([[1, 2, 0, 3], [0, 1, 3, 2]])
    assert GMConv(random_perms, 1, 1, radius=1).implementation == "gather"
    # A very sparse stencil is cheaper gathered.
    assert GMConv(cyclic(50), 1, 1, kernel_elements=[0, 25]).implementation == "gather"
    assert GMConv(cyclic(50), 1, 1, kernel_elements=[0, 25], implementation="conv").spec
    assert GMConv(cyclic(50), 1, 1, kernel_elements=[0, 25], implementation="fft").spec


@pytest.mark.parametrize(
    ("G", "axes"),
    [
        (direct_product(cyclic(3), cyclic(4), cyclic(5)), 3),  # conv3d
        (direct_product(dihedral(2), cyclic(3), dihedral(3)), 3),
        (direct_product(cyclic(2), cyclic(2), cyclic(3), cyclic(2)), 4),  # 4 axes: no conv4d, FFT
    ],
    ids=lambda p: str(p),
)
def test_products_of_three_and_four_factors(G: FiniteGroup, axes: int) -> None:
    layer = GMConv(G, 2, 3, radius=1).double()
    assert layer.spec is not None and len(layer.spec.shape) == axes
    assert layer.implementation == ("fft" if axes > 3 else "conv")
    x = torch.randn(2, 2, *G.shape, dtype=torch.float64)  # type: ignore[attr-defined]
    torch.testing.assert_close(layer(x).flatten(2), dense_forward(layer, x.flatten(2)), **DOUBLE)


def test_gather_path_saves_no_kernel_sized_copy_for_backward() -> None:
    G = direct_product(cyclic(12), cyclic(12))
    layer = GMConv(G, 8, 8, radius=3, implementation="gather")  # 49 kernel elements
    x = torch.randn(4, 8, G.order, requires_grad=True)
    saved: list[int] = []

    def pack(t: torch.Tensor) -> torch.Tensor:
        saved.append(t.numel())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        layer(x).sum().backward()
    assert max(saved) <= max(x.numel(), layer.source.numel())


def test_buffers_follow_the_module_and_the_state_dict_round_trips() -> None:
    G = direct_product(dihedral(3), cyclic(4))
    layer = GMConv(G, 2, 3, radius=1, channel_mixing="shared", implementation="conv")
    buffers = dict(layer.named_buffers())
    assert {"kernel_elements", "taps", "layout", "position"} <= set(buffers)
    copy = GMConv(G, 2, 3, radius=1, channel_mixing="shared", implementation="conv")
    copy.load_state_dict(layer.state_dict())
    x = torch.randn(1, 2, 6, 4)
    torch.testing.assert_close(copy(x), layer(x))
    assert layer.double().weight.dtype == torch.float64
    assert "D3 × C4, 2, 3, kernel_size=18, channel_mixing='shared'" in repr(layer)


def test_fourier_buffers_follow_the_module_and_the_phases_follow_the_dtype() -> None:
    G = direct_product(dihedral(3), cyclic(4))
    layer = GMConv(G, 2, 3, radius=1, implementation="fft")
    assert {"kernel_elements", "members", "turns", "layout", "position"} <= set(
        dict(layer.named_buffers())
    )
    copy = GMConv(G, 2, 3, radius=1, implementation="fft")
    copy.load_state_dict(layer.state_dict())
    x = torch.randn(1, 2, 6, 4)
    torch.testing.assert_close(copy(x), layer(x))
    assert layer.turns is not None and layer.turns.dtype == torch.int64  # exact phases
    double = layer.double()
    assert double(x.double()).dtype == torch.float64
    assert "implementation='fft'" in repr(layer)


def test_a_state_dict_loads_into_a_layer_on_another_path() -> None:
    """Index buffers are derived, not saved: checkpoints hold parameters, kernel elements and
    the error positions."""
    G = direct_product(dihedral(3), cyclic(4))
    layers = {
        path: GMConv(G, 2, 3, radius=1, relaxation="error_addition", implementation=path)
        for path in ("conv", "fft", "gather")
    }
    state = layers["conv"].state_dict()
    assert set(state) == {"kernel_elements", "weight", "bias", "error_weight", "error_positions"}
    x = torch.randn(2, 2, 6, 4, dtype=torch.float64)
    expected = layers["conv"].double()(x)
    for path in ("fft", "gather"):
        layers[path].load_state_dict(state)
        torch.testing.assert_close(layers[path].double()(x), expected)


@pytest.mark.parametrize("in_channels", [1, 2])
@pytest.mark.parametrize("mixing", ["full", "shared"])
@pytest.mark.parametrize("path", ["conv", "fft", "gather"])
def test_mixed_precision(mixing: str, path: str, in_channels: int) -> None:
    """Under CPU autocast the single-channel gather path (shared mixing or one input channel)
    computes in bfloat16, within bfloat16 rounding of float32; the other paths in float32.
    Gradients reach the float32 parameters in float32 either way."""
    torch.manual_seed(0)
    G = direct_product(dihedral(3), cyclic(4))
    layer = GMConv(G, in_channels, 3, radius=1, channel_mixing=mixing, implementation=path)
    x = torch.randn(2, in_channels, 6, 4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = layer(x.bfloat16())
    expected = layer(x.bfloat16().float())
    if path == "gather" and (mixing == "shared" or in_channels == 1):
        assert y.dtype == torch.bfloat16
        torch.testing.assert_close(y.float(), expected, rtol=2e-2, atol=2e-2)
    else:
        assert y.dtype == torch.float32
        torch.testing.assert_close(y, expected)
    y.float().sum().backward()
    assert layer.weight.grad is not None and layer.weight.grad.dtype == torch.float32


def test_parameter_shapes() -> None:
    G = direct_product(cyclic(28), cyclic(28))
    assert GMConv(G, 120, 120, radius=3).weight.shape == (120, 120, 49)
    assert GMConv(G, 120, 120, radius=3, channel_mixing="shared").weight.shape == (120, 1, 49)
    assert GMConv(G, 1, 4, radius=0, bias=False).bias is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"radius": 9}, "radius 9 exceeds the diameter"),
        ({"radius": -1}, "radius must be a non-negative integer"),
        ({}, "give exactly one of radius and kernel_elements"),
        ({"radius": 1, "kernel_elements": [0]}, "give exactly one"),
        ({"kernel_elements": [0, 99]}, "kernel element label 99 is out of range"),
        ({"kernel_elements": [1, 1]}, "kernel element 1 is repeated"),
        ({"kernel_elements": []}, "non-empty"),
        ({"radius": 1, "rank": -1}, "rank must be a non-negative integer, got -1"),
        ({"radius": 1, "channel_mixing": "mixed"}, "channel_mixing must be one of"),
        ({"radius": 1, "relaxation": "noise"}, "relaxation must be one of"),
        ({"radius": 1, "relaxation": "low_rank"}, "needs rank >= 1"),
        ({"radius": 1, "relaxation": "error_addition", "rank": 2}, "rank must be 0 or 1"),
        ({"radius": 1, "implementation": "winograd"}, "implementation must be one of"),
    ],
)
def test_bad_construction_is_a_value_error(kwargs: dict[str, object], message: str) -> None:
    G = direct_product(cyclic(6), cyclic(6))  # diameter 3
    with pytest.raises(ValueError, match=message):
        GMConv(G, 2, 2, **kwargs)  # type: ignore[arg-type]


def test_bad_channels_groups_and_paths() -> None:
    with pytest.raises(ValueError, match="in_channels must be a positive integer, got 0"):
        GMConv(cyclic(4), 0, 1, radius=1)
    with pytest.raises(TypeError, match=r"group must be a gmcnn\.groups\.FiniteGroup"):
        GMConv("C4", 1, 1, radius=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="implementation='conv' needs a block-and-grid form"):
        GMConv(symmetric(4), 1, 1, radius=1, implementation="conv")
    with pytest.raises(ValueError, match="implementation='fft' needs a block-and-grid form"):
        GMConv(symmetric(4), 1, 1, radius=1, implementation="fft")
    four_axes = direct_product(cyclic(2), cyclic(2), cyclic(3), cyclic(2))
    with pytest.raises(ValueError, match=r"implementation='conv' needs .* at most three axes"):
        GMConv(four_axes, 1, 1, radius=1, implementation="conv")


@pytest.mark.parametrize("shape", [(2, 3, 36), (2, 3, 6, 6), (2, 2, 4, 9), (3, 36), (2, 2, 35)])
def test_bad_input_shape_is_a_value_error(shape: tuple[int, ...]) -> None:
    layer = GMConv(direct_product(cyclic(6), cyclic(6)), 2, 2, radius=1)
    with pytest.raises(ValueError, match=r"expected \(batch, 2, 36\) or \(batch, 2, 6, 6\)"):
        layer(torch.randn(shape))


def test_dense_matrix_refuses_large_layers() -> None:
    layer = GMConv(direct_product(cyclic(64), cyclic(65)), 2, 2, radius=1)
    with pytest.raises(ValueError, match="dense_matrix"):
        layer.dense_matrix()
