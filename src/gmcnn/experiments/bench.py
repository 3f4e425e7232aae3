"""``gmcnn bench``: one AdamW step, this project's GMConv vs. the public code's algorithm.

Both networks are the same model with the same parameters; the only difference is the layer
algorithm (:mod:`gmcnn.experiments.reference`). The public algorithm's ``(B, C, K, N)``
gather needs gigabytes at batch 256 (18 GB per layer for ``D₁₄ × D₁₄``), so its step
accumulates gradients over micro-batches that fit ``memory_budget``: the same update, and
smaller gathers only make it faster, so the ratio is if anything an underestimate. The fast
model's time is the median of ``2·repeats`` steps timed before and after the public one,
the public model's the faster of two steps.
Both networks share everything but the layer, including the fused block tails of
:func:`gmcnn.models.layers.norm_prelu_residual` (compiled by ``torch.compile`` in the
warm-up step unless ``GMCNN_COMPILE=0``), and run in one process whose ``malloc`` keeps
freed memory (:mod:`gmcnn.experiments.memory`; ``GMCNN_MALLOC=system`` to compare). The
fast model is also timed under CPU autocast to bfloat16 (``trainer.precision=bf16-mixed``:
float32 parameters and optimiser, bfloat16 activations); the public algorithm runs in
float32, its own precision.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from gmcnn.experiments.config import load_config
from gmcnn.experiments.memory import keep_freed_memory, keeps_freed_memory
from gmcnn.experiments.reference import with_public_layers
from gmcnn.metrics import parameter_count
from gmcnn.models.layers import compiled_tail_enabled
from gmcnn.models.registry import InputSpec, build_model
from gmcnn.nn import GMConv

#: The models of the speed target (Table 3's GM (n=3) on Rectangles and Rotated MNIST).
BENCH_CASES: dict[str, InputSpec] = {
    "rectangles/gm-n3": InputSpec("classification", 1, (28, 28), 2),
    "rot-mnist/gm-n3": InputSpec("classification", 1, (28, 28), 10),
}


def adamw_step_seconds(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    micro_batch: int | None = None,
    bf16: bool = False,
) -> float:
    """Wall-clock seconds of one AdamW step (forward, backward, update) on ``(x, y)``.

    With ``micro_batch`` the gradient is accumulated over slices of that size (each slice's
    mean loss weighted by its share of the batch): the same gradient as one full pass. With
    ``bf16`` the forward pass runs under CPU autocast to bfloat16, as Lightning's
    ``bf16-mixed`` precision does.
    """
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.0153)
    size = micro_batch or x.shape[0]
    start = time.perf_counter()
    optimizer.zero_grad(set_to_none=True)
    for lo in range(0, x.shape[0], size):
        xs, ys = x[lo : lo + size], y[lo : lo + size]
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = F.cross_entropy(model(xs), ys) * (xs.shape[0] / x.shape[0])
        loss.backward()  # type: ignore[no-untyped-call]
    optimizer.step()
    return time.perf_counter() - start


def _micro_batch(model: nn.Module, budget: int) -> int:
    """Largest micro-batch whose biggest ``(C, K, N)`` gather stays under ``budget`` bytes."""
    per_example = max(
        m.in_channels * m.kernel_size * m.group.order * 4
        for m in model.modules()
        if isinstance(m, GMConv)
    )
    return max(1, budget // per_example)


def bench_case(
    name: str,
    inputs: InputSpec,
    batch_size: int = 256,
    repeats: int = 3,
    memory_budget: int = 1 << 30,
) -> dict[str, Any]:
    """Time the fast (float32 and bf16-mixed) and the public-algorithm model of experiment
    ``name``; return one row."""
    keep_freed_memory()
    config = load_config(name)
    torch.manual_seed(0)
    model = build_model(config.model.name, inputs, **config.model.options)
    public = with_public_layers(model)
    x = torch.randn(batch_size, inputs.channels, *inputs.shape)
    y = torch.randint(0, inputs.outputs, (batch_size,))
    with torch.no_grad():
        if not torch.allclose(model(x[:4]), public(x[:4]), rtol=1e-4, atol=1e-5):
            raise RuntimeError(f"{name}: the two implementations disagree")
    for bf16 in (False, True):  # warm-up (and compilation) in both precisions
        adamw_step_seconds(model, x, y, bf16=bf16)
    # The fast steps are timed before and after the slow one, alternating precisions, so that
    # a change in the load of a shared machine affects all sides alike.
    times: dict[bool, list[float]] = {False: [], True: []}

    def time_fast() -> None:
        for _ in range(repeats):
            for bf16 in (False, True):
                times[bf16].append(adamw_step_seconds(model, x, y, bf16=bf16))

    time_fast()
    micro = min(batch_size, _micro_batch(public, memory_budget))
    # The faster of two public steps (its first also warms up its allocations): a ratio that
    # errs towards the public algorithm.
    slow = min(adamw_step_seconds(public, x, y, micro_batch=micro) for _ in range(2))
    time_fast()
    fast, fast_bf16 = statistics.median(times[False]), statistics.median(times[True])
    return {
        "experiment": name,
        "parameters": parameter_count(model),
        "batch_size": batch_size,
        "fast_seconds": fast,
        "fast_bf16_seconds": fast_bf16,
        "public_seconds": slow,
        "public_micro_batch": micro,
        "speedup": slow / fast,
        "speedup_bf16": slow / fast_bf16,
        "threads": torch.get_num_threads(),
        "compiled_tails": compiled_tail_enabled(),
        "keeps_freed_memory": keeps_freed_memory(),
    }


def run_bench(
    names: Sequence[str], batch_size: int = 256, repeats: int = 3
) -> list[dict[str, Any]]:
    """:func:`bench_case` for each of ``names`` (keys of :data:`BENCH_CASES`)."""
    for what, value in (("batch size", batch_size), ("repeats", repeats)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{what} {value!r}: expected a positive integer")
    for name in names:
        if name not in BENCH_CASES:
            raise ValueError(f"no benchmark for {name!r}: choose from {', '.join(BENCH_CASES)}")
    rows = []
    for name in names:
        rows.append(bench_case(name, BENCH_CASES[name], batch_size, repeats))
    return rows


def format_bench(rows: Sequence[dict[str, Any]], batch_size: int) -> str:
    """The benchmark table, with the speed-up of each model."""
    threads = rows[0]["threads"] if rows else "?"
    tails = "torch.compile" if rows and rows[0].get("compiled_tails") else "eager"
    malloc = "keeps freed memory" if rows and rows[0].get("keeps_freed_memory") else "system"
    lines = [
        f"one AdamW step at batch {batch_size} ({threads} threads; fused block tails: {tails}; "
        f"malloc: {malloc})",
        "| model | parameters | gmcnn float32 (s) | gmcnn bf16-mixed (s) | "
        "public gather+einsum, float32 (s) | speed-up float32 | speed-up bf16-mixed |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['experiment']} | {r['parameters']:,} | {r['fast_seconds']:.3f} | "
            f"{r['fast_bf16_seconds']:.3f} | "
            f"{r['public_seconds']:.2f} (micro-batch {r['public_micro_batch']}) | "
            f"{r['speedup']:.1f}× | {r['speedup_bf16']:.1f}× |"
        )
    return "\n".join(lines)


def run_layer_benchmark() -> int:
    """Run the layer benchmark ``benchmarks/run.py`` of a source checkout."""
    script = Path(__file__).resolve().parents[3] / "benchmarks" / "run.py"
    if not script.is_file():
        raise FileNotFoundError(f"the layer benchmark {script} is not in this installation")
    return subprocess.call([sys.executable, str(script)])
