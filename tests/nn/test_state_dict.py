"""What a state dict holds, and that a layer computes with the labels it loads.

Saved: the parameters and the labels that define a layer's kernel — ``kernel_elements``
(GMConv, with ``error_positions``), ``kernel_cosets`` (HomogeneousGMConv), ``offsets``
(PaddedGMConv). Not saved: the index arrays derived from them, which loading rebuilds. So
a checkpoint with other labels of the same count is computed with, not just displayed;
invalid labels are an error of ``load_state_dict``. Pooling layers have no free labels:
their windows are derived from the group and subgroup, saved for the checkpoints that
hold them, and ones of another subgroup are refused.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tests.nn.reference import kernels_on_group, layer_reference

from gmcnn.groups import cyclic, dihedral, direct_product, symmetric
from gmcnn.nn import GMConv, GMPool, GMStride, HomogeneousGMConv, PaddedGMConv

G = direct_product(dihedral(3), cyclic(4))  # a grid form: every path


@pytest.mark.parametrize("relaxation", [None, "error_addition"])
@pytest.mark.parametrize("path", ["conv", "fft", "gather"])
def test_gmconv_computes_with_the_kernel_elements_it_loads(
    path: str, relaxation: str | None
) -> None:
    source = GMConv(G, 2, 3, kernel_elements=[0, 5, 9, 14], relaxation=relaxation).double()
    layer = GMConv(
        G, 2, 3, kernel_elements=[0, 1, 2, 3], relaxation=relaxation, implementation=path
    ).double()
    with torch.no_grad():
        if source.error_weight is not None:
            source.error_weight.normal_()
    layer.load_state_dict(source.state_dict())
    assert layer.kernel_elements.tolist() == [0, 5, 9, 14]
    assert layer.implementation == path
    x = torch.randn(2, 2, G.order, dtype=torch.float64)
    torch.testing.assert_close(layer(x), source(x))
    if relaxation is None:  # and against the definition (eq. 2)
        psi = kernels_on_group(G, layer.weight, layer.kernel_elements, 2)
        expected = torch.from_numpy(layer_reference(G, x, psi, layer.bias))
        torch.testing.assert_close(layer(x), expected)


def test_gmconv_state_dict_holds_parameters_and_labels_only() -> None:
    layer = GMConv(G, 2, 3, radius=1, relaxation="error_addition", implementation="gather")
    assert set(layer.state_dict()) == {
        "weight",
        "bias",
        "error_weight",
        "kernel_elements",
        "error_positions",
    }
    assert {"source", "target", "error_source"} <= {n for n, _ in layer.named_buffers()}


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ([0, 1, 2, 99], "kernel element label 99 is out of range"),
        ([0, 1, 1, 2], "kernel element 1 is repeated"),
        ([0.0, 1.0, 2.0, 3.0], "kernel element labels must be integers, got dtype float"),
    ],
)
def test_invalid_kernel_elements_in_a_checkpoint_are_refused(
    labels: list[float], message: str
) -> None:
    layer = GMConv(G, 2, 3, kernel_elements=[0, 5, 9, 14])
    x = torch.randn(1, 2, G.order)
    before = layer(x)
    state = layer.state_dict()
    state["kernel_elements"] = torch.tensor(labels)
    with pytest.raises(RuntimeError, match=rf"kernel_elements of the checkpoint: {message}"):
        layer.load_state_dict(state)
    assert layer.kernel_elements.tolist() == [0, 5, 9, 14]  # it keeps its own, consistently
    torch.testing.assert_close(layer(x), before)


def test_a_different_kernel_size_is_torchs_size_mismatch() -> None:
    small, large = GMConv(G, 2, 3, radius=0), GMConv(G, 2, 3, radius=1)
    with pytest.raises(RuntimeError, match="size mismatch for kernel_elements"):
        small.load_state_dict(large.state_dict())


def test_homogeneous_layer_computes_with_the_kernel_cosets_it_loads() -> None:
    S4 = symmetric(4)
    K = S4.subgroup([1])
    source = HomogeneousGMConv(S4, K, 2, 3, kernel_elements=[0, 5, 9]).double()
    layer = HomogeneousGMConv(S4, K, 2, 3, kernel_elements=[0, 2, 7]).double()
    assert set(source.state_dict()) == {"weight", "bias", "kernel_cosets"}
    assert not torch.equal(layer.kernel_cosets, source.kernel_cosets)
    layer.load_state_dict(source.state_dict())
    x = torch.randn(2, 2, layer.space.order, dtype=torch.float64)
    torch.testing.assert_close(layer(x), source(x))
    legacy = {**source.state_dict(), "index": source.index}  # saved by older versions
    layer.load_state_dict(legacy)
    bad = {**source.state_dict(), "kernel_cosets": torch.tensor([0, 0, 1])}
    with pytest.raises(RuntimeError, match=r"kernel_cosets of the checkpoint: .* repeat"):
        layer.load_state_dict(bad)


def test_padded_layer_computes_with_the_offsets_it_loads() -> None:
    offsets = np.array([[0, 0], [2, -1], [-3, 1]])
    source = PaddedGMConv(2, 3, (6, 5), offsets=offsets).double()
    layer = PaddedGMConv(2, 3, (6, 5), offsets=[[0, 0], [1, 0], [0, 1]]).double()
    assert set(source.state_dict()) == {"weight", "bias", "offsets"}
    layer.load_state_dict({**source.state_dict(), "taps": source.taps})  # legacy key too
    assert layer.box == source.box and layer.padding == source.padding
    x = torch.randn(2, 2, 6, 5, dtype=torch.float64)
    torch.testing.assert_close(layer(x), source(x))
    with pytest.raises(RuntimeError, match="offsets of the checkpoint: offsets must be distinct"):
        layer.load_state_dict({**source.state_dict(), "offsets": torch.zeros(3, 2).long()})


def test_pooling_windows_of_another_subgroup_are_refused() -> None:
    C8 = cyclic(8)
    P = direct_product(C8, C8)
    rows = GMPool(P, P.product_subgroup(C8.subgroup([2]), C8))
    columns = GMPool(P, P.product_subgroup(C8, C8.subgroup([2])))
    assert set(rows.state_dict()) == {"windows"}
    rows.load_state_dict(GMPool(P, rows.subgroup).state_dict())  # the same subgroup loads
    with pytest.raises(RuntimeError, match="windows of the checkpoint belongs to another"):
        rows.load_state_dict(columns.state_dict())
    x = torch.randn(1, 1, 8, 8)
    torch.testing.assert_close(rows(x), GMPool(P, rows.subgroup)(x))  # unchanged
    stride = GMStride(P, rows.subgroup)
    with pytest.raises(RuntimeError, match="rows of the checkpoint belongs to another"):
        stride.load_state_dict(GMStride(P, columns.subgroup).state_dict())
