"""Layers, pooling, cosets and homogeneous spaces build on groups of 16,384–65,536 elements
without ``|G|²`` or ``|G|×|K|`` arrays: under 256 MiB each (tracemalloc; no timing asserts —
docs/performance.md records the times).

The groups themselves (word distances) are built first: their cost is the foundation's,
tested in ``tests/groups/test_scale.py``.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from functools import cache

import pytest
import torch
import torch.nn.functional as TF

from gmcnn.groups import FiniteGroup, Subgroup, cyclic, dihedral, direct_product, symmetric
from gmcnn.models import GMCNNClassifier, GMCNNRegressor
from gmcnn.nn import (
    CosetSpace,
    GMConv,
    GMPool,
    GMStride,
    GMUnpool,
    HomogeneousGMConv,
    PaddedGMConv,
)

LIMIT_MIB = 256


@cache
def groups() -> dict[str, tuple[FiniteGroup, Subgroup]]:
    """``name -> (G, K)``: C₂₅₆² (65,536) by 2C₂₅₆², C₂₅₆² by a subgroup of order 2, D₁₂₈²
    (65,536) by ⟨r², f⟩², C₁₂₈² (16,384), and S₈ (40,320, no grid form) by ⟨(0 1)⟩."""
    C256, C128, D128, S8 = cyclic(256), cyclic(128), dihedral(128), symmetric(8)
    G, P, D = direct_product(C256, C256), direct_product(C128, C128), direct_product(D128, D128)
    half = D128.subgroup([2, 128, 130, 254])
    out = {
        "C256²/2C256²": (G, G.product_subgroup(C256.subgroup([2]), C256.subgroup([2]))),
        "C256²/order 2": (G, G.subgroup([G.combine(128, 0)])),
        "D128²/half": (D, D.product_subgroup(half, half)),
        "C128²/2C128²": (P, P.product_subgroup(C128.subgroup([2]), C128.subgroup([2]))),
        "S8/transposition": (S8, S8.subgroup(S8.generators[:1])),
    }
    for group, _ in out.values():
        group.word_distance()
    return out


def layer_cases() -> dict[str, Callable[[], object]]:
    g = groups()
    G, K = g["C256²/2C256²"]
    _, small = g["C256²/order 2"]
    D, KD = g["D128²/half"]
    P, _ = g["C128²/2C128²"]
    S8, KS = g["S8/transposition"]
    return {
        "GMConv C256² r3 shared (gather)": lambda: GMConv(
            G, 4, 4, radius=3, channel_mixing="shared"
        ),
        "GMConv C256² r3 conv": lambda: GMConv(G, 4, 4, radius=3, implementation="conv"),
        "GMConv C256² r3 fft": lambda: GMConv(G, 4, 4, radius=3, implementation="fft"),
        "GMConv C256² r3 gather": lambda: GMConv(G, 4, 4, radius=3, implementation="gather"),
        "GMConv D128² r2 shared (gather)": lambda: GMConv(
            D, 4, 4, radius=2, channel_mixing="shared"
        ),
        "GMConv D128² r2 fft": lambda: GMConv(D, 4, 4, radius=2, implementation="fft"),
        "GMConv C256² r1 error addition": lambda: GMConv(
            G, 4, 4, radius=1, relaxation="error_addition"
        ),
        "GMConv C256² r1 rank 2": lambda: GMConv(G, 4, 4, radius=1, rank=2),
        "GMConv C256² r1 output scaling": lambda: GMConv(
            G, 4, 4, radius=1, relaxation="output_scaling"
        ),
        "GMConv S8 r1 (gather)": lambda: GMConv(S8, 4, 4, radius=1),
        "GMPool C256²/2C256²": lambda: GMPool(G, K),
        "GMPool C256² by labels": lambda: GMPool(G, K.elements),
        "GMPool C256²/order 2": lambda: GMPool(G, small),
        "GMPool D128²/half": lambda: GMPool(D, KD),
        "GMPool S8/transposition": lambda: GMPool(S8, KS),
        "GMStride C256²/2C256²": lambda: GMStride(G, K),
        "GMUnpool C256²/2C256²": lambda: GMUnpool(G, K, mode="max"),
        "CosetSpace C256²/2C256²": lambda: CosetSpace(G, K),
        "CosetSpace C256²/order 2": lambda: CosetSpace(G, small),
        "HomogeneousGMConv C256²/2C256² r1": lambda: HomogeneousGMConv(G, K, 2, 2, radius=1),
        "HomogeneousGMConv C256²/order 2 r1": lambda: HomogeneousGMConv(G, small, 2, 2, radius=1),
        "HomogeneousGMConv S8/transposition r1": lambda: HomogeneousGMConv(S8, KS, 2, 2, radius=1),
        "PaddedGMConv 256×256 r3": lambda: PaddedGMConv(2, 2, (256, 256), radius=3),
        "GMCNNClassifier C128² P+E": lambda: GMCNNClassifier(
            P, 1, 10, channels=(44, 44, 56), radius=1, pool_after=(1,), relaxation="error_addition"
        ),
        "GMCNNRegressor C256²": lambda: GMCNNRegressor(G, 20, 2),
    }


@pytest.mark.parametrize("name", list(layer_cases()))
def test_construction_on_large_groups_stays_under_256_mib(name: str) -> None:
    build = layer_cases()[name]
    tracemalloc.start()
    try:
        build()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < LIMIT_MIB * 2**20, f"{name}: peak {peak / 2**20:.0f} MiB"


def test_pooling_on_a_large_product_is_max_pool2d() -> None:
    """Right cosets of 2C₂₅₆² computed on 65,536 elements: the windows are 2×2 pixels (this
    also guards against numpy's wrong ``unravel_index`` for ``(N, 1)`` arrays, issue 31980)."""
    G, K = groups()["C256²/2C256²"]
    x = torch.randn(1, 2, 256, 256)
    torch.testing.assert_close(GMPool(G, K)(x), TF.max_pool2d(x, 2))


def test_gather_path_on_a_large_product_is_the_circular_convolution() -> None:
    G, _ = groups()["C256²/2C256²"]
    gather = GMConv(G, 1, 2, radius=2, implementation="gather").double()
    conv = GMConv(G, 1, 2, radius=2, implementation="conv").double()
    conv.load_state_dict(gather.state_dict())
    x = torch.randn(1, 1, 256, 256, dtype=torch.float64)
    torch.testing.assert_close(gather(x), conv(x))
