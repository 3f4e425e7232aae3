"""Per-layer parameter counts reproduce Table 3 (EXPERIMENTS.md)."""

from __future__ import annotations

from torch import nn

from gmcnn.groups import cyclic, dihedral, direct_product
from gmcnn.nn import GMConv, GMPool


def count(*modules: nn.Module) -> int:
    return sum(p.numel() for m in modules for p in m.parameters())


C28 = cyclic(28)
IMAGE = direct_product(C28, C28)
PROJECTION = [IMAGE.identity]  # a 1×1 "convolution": the identity as the only kernel element


def test_shared_c28_radius_3_layer_is_120x49_plus_bias() -> None:
    assert count(GMConv(IMAGE, 120, 120, radius=3, channel_mixing="shared")) == 120 * 49 + 120
    assert count(GMConv(IMAGE, 1, 120, radius=3, channel_mixing="shared")) == 120 * 49 + 120


def test_rectangles_gm_n3_is_12483() -> None:
    layers = [
        GMConv(IMAGE, 1, 120, radius=3, channel_mixing="shared"),
        GMConv(IMAGE, 1, 120, kernel_elements=PROJECTION, channel_mixing="shared"),  # 1·120+120
        GMConv(IMAGE, 120, 120, radius=3, channel_mixing="shared"),
        nn.PReLU(),
        nn.Linear(120, 2),
    ]
    assert count(*layers) == 12_483


def test_error_addition_doubles_the_kernel_parameters() -> None:
    layer = GMConv(IMAGE, 120, 120, radius=3, channel_mixing="shared", relaxation="error_addition")
    assert count(layer) == 120 * 49 * 2 + 120
    head = [nn.PReLU(), nn.Linear(120, 2)]
    projection = GMConv(IMAGE, 1, 120, kernel_elements=PROJECTION, channel_mixing="shared")
    assert 2 * count(layer) + count(projection, *head) == 24_243  # Table 3: 24,244


def test_pooled_gm_n1_p_e_is_5915() -> None:
    pool = GMPool(IMAGE, IMAGE.product_subgroup(C28.subgroup([2]), C28.subgroup([2])))
    K = pool.output_group
    shared_e = {"channel_mixing": "shared", "relaxation": "error_addition"}
    layers = [
        GMConv(IMAGE, 1, 44, radius=1, **shared_e),  # type: ignore[arg-type]
        GMConv(IMAGE, 1, 44, kernel_elements=PROJECTION, channel_mixing="shared"),
        pool,
        GMConv(K, 44, 44, radius=1, **shared_e),  # type: ignore[arg-type]
        GMConv(K, 44, 56, radius=1, **shared_e),  # type: ignore[arg-type]
        GMConv(K, 44, 56, kernel_elements=[K.identity]),  # full 1×1 projection: 44·56+56
        nn.PReLU(),
        nn.Linear(56, 10),
    ]
    assert count(*layers) == 5_915


def test_rotated_mnist_d14_radius_3_is_48731() -> None:
    D = direct_product(dihedral(14), dihedral(14))
    conv = GMConv(D, 120, 120, radius=3, channel_mixing="shared")
    assert conv.kernel_size == 196
    projection = GMConv(D, 1, 120, kernel_elements=[D.identity], channel_mixing="shared")
    assert 2 * count(conv) + count(projection, nn.PReLU(), nn.Linear(120, 10)) == 48_731
