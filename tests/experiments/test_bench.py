"""``gmcnn bench``: the public algorithm computes the same function and the same update."""

from __future__ import annotations

import copy

import pytest
import torch

from gmcnn.experiments.bench import BENCH_CASES, adamw_step_seconds, bench_case, format_bench
from gmcnn.experiments.reference import GatherEinsumGMConv, with_public_layers
from gmcnn.groups import dihedral, direct_product
from gmcnn.nn import GMConv


@pytest.mark.parametrize(
    "options",
    [
        {"channel_mixing": "shared"},
        {"channel_mixing": "full"},
        {"channel_mixing": "shared", "relaxation": "error_addition"},
        {"channel_mixing": "full", "relaxation": "output_scaling"},
    ],
)
def test_public_layer_computes_the_same_function(options: dict[str, str]) -> None:
    G = direct_product(dihedral(3), dihedral(2))
    conv = GMConv(G, 3, 5, radius=1, **options).double()  # type: ignore[arg-type]
    with torch.no_grad():
        for p in conv.parameters():
            p.normal_()
    x = torch.randn(2, 3, 6, 4, dtype=torch.float64)
    assert torch.allclose(GatherEinsumGMConv(conv)(x), conv(x), atol=1e-10)


def test_micro_batches_give_the_same_adamw_update() -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 3)).double()
    twin = copy.deepcopy(model)
    x, y = torch.randn(8, 3, 4, dtype=torch.float64), torch.randint(0, 3, (8,))
    adamw_step_seconds(model, x, y)
    adamw_step_seconds(twin, x, y, micro_batch=3)
    for a, b in zip(model.parameters(), twin.parameters(), strict=True):
        assert torch.allclose(a, b, atol=1e-12)


def test_bench_case_reports_a_speedup() -> None:
    row = bench_case(
        "rectangles/gm-n3",
        BENCH_CASES["rectangles/gm-n3"],
        batch_size=4,
        repeats=1,
        memory_budget=40 << 20,
    )
    assert row["parameters"] == 12_483 and row["public_micro_batch"] == 2
    assert row["fast_seconds"] > 0 and row["speedup"] == row["public_seconds"] / row["fast_seconds"]
    assert row["speedup_bf16"] == row["public_seconds"] / row["fast_bf16_seconds"]
    table = format_bench([row], 4)
    assert "rectangles/gm-n3 | 12,483" in table and "bf16-mixed" in table


def test_with_public_layers_leaves_the_model_alone() -> None:
    conv = GMConv(dihedral(4), 2, 2, radius=1)
    model = torch.nn.Sequential(conv)
    twin = with_public_layers(model)
    assert model[0] is conv and isinstance(twin[0], GatherEinsumGMConv)
