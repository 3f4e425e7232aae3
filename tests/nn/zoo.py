"""One small instance of every layer and path, with an input: for the tests that must hold
for all of them (bad input, export, half precision, compilation)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from gmcnn.groups import cyclic, dihedral, direct_product, symmetric
from gmcnn.nn import GMConv, GMPool, GMStride, GMUnpool, HomogeneousGMConv, PaddedGMConv

Case = tuple[nn.Module, Tensor]


def _product() -> object:
    return direct_product(dihedral(3), cyclic(4))  # two blocks on a 3×4 grid, image 6×4


def _conv(**options: object) -> Callable[[], Case]:
    def build() -> Case:
        layer = GMConv(_product(), 2, 3, radius=1, **options)  # type: ignore[arg-type]
        with torch.no_grad():  # relaxations start exact: make their terms count
            for name, p in layer.named_parameters():
                if name != "weight":
                    p.add_(0.1 * torch.randn_like(p))
        return layer, torch.randn(2, 2, 6, 4)

    return build


def _pooling(kind: str) -> Callable[[], Case]:
    def build() -> Case:
        C8 = cyclic(8)
        G = direct_product(C8, C8)
        K = G.product_subgroup(C8.subgroup([2]), C8.subgroup([2]))
        if kind == "stride":
            return GMStride(G, K), torch.randn(2, 2, 8, 8)
        if kind == "unpool":
            return GMUnpool(G, K, mode="mean"), torch.randn(2, 2, 4, 4)
        return GMPool(G, K, mode=kind), torch.randn(2, 2, 8, 8)

    return build


def _homogeneous() -> Case:
    S4 = symmetric(4)
    return HomogeneousGMConv(S4, S4.subgroup([1]), 2, 3, radius=1), torch.randn(2, 2, 12)


def _padded() -> Case:
    return PaddedGMConv(2, 3, (6, 5), radius=1), torch.randn(2, 2, 6, 5)


LAYERS: dict[str, Callable[[], Case]] = {
    **{
        f"{path}-{mixing}": _conv(implementation=path, channel_mixing=mixing)
        for path in ("conv", "fft", "gather")
        for mixing in ("full", "shared")
    },
    "gather-mix-first": lambda: (GMConv(symmetric(4), 5, 2, radius=1), torch.randn(2, 5, 24)),
    "low-rank": _conv(rank=2),
    "error-addition": _conv(relaxation="error_addition"),
    "output-scaling": _conv(relaxation="output_scaling", implementation="fft"),
    "pool-max": _pooling("max"),
    "pool-mean": _pooling("mean"),
    "stride": _pooling("stride"),
    "unpool-mean": _pooling("unpool"),
    "homogeneous": _homogeneous,
    "padded": _padded,
}

# Layers with parameters (whose dtype an input must have).
PARAMETRIC = [name for name in LAYERS if not name.startswith(("pool", "stride", "unpool"))]
