"""The classifier's training step with and without the fused last blocks (issue 12).

    python benchmarks/last_blocks.py [--experiments NAME …] [--repeats 7] [--batch-size 256]

One AdamW step of a ``gmcnn bench`` model (``gmcnn.experiments.bench``), in float32 and in
bf16-mixed, with the last two blocks as :class:`gmcnn.models.pooled_block.TailSharedConvTailMax`
(the default where the last GMConv has fewer kernel elements than output channels) against
the same model with those blocks as modules (the previous block's compiled tail, the GMConv,
and the last block's compiled tail with the max pooling: ``pooled_block._last_block_dtype``
answering ``None``). The two paths compute the same function (checked on the batch first)
and are timed in one process, one step of each in turn, so that a change in the machine's
load affects both alike. Prints the median step of each and their ratio.
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Callable
from contextlib import contextmanager
from typing import Any

import torch

import gmcnn.models.pooled_block as pooled_block
from gmcnn.experiments.bench import BENCH_CASES, adamw_step_seconds
from gmcnn.experiments.config import load_config
from gmcnn.experiments.memory import keep_freed_memory
from gmcnn.models.registry import build_model


@contextmanager
def modules_path() -> Any:
    """Run the last blocks as modules (the path before the fused function)."""
    original: Callable[..., Any] = pooled_block._last_block_dtype
    pooled_block._last_block_dtype = lambda block, x: None  # type: ignore[assignment]
    try:
        yield
    finally:
        pooled_block._last_block_dtype = original  # type: ignore[assignment]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--experiments", nargs="+", default=["rectangles/gm-n3"])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--batch-size", type=int, default=256)
    args = parser.parse_args()
    keep_freed_memory()
    print(f"one AdamW step at batch {args.batch_size}, {torch.get_num_threads()} threads")
    print("| model | precision | fused last blocks (ms) | modules (ms) | speed-up |")
    print("|---|---|---|---|---|")
    for name in args.experiments:
        inputs, config = BENCH_CASES[name], load_config(name)
        torch.manual_seed(0)
        model = build_model(config.model.name, inputs, **config.model.options)
        x = torch.randn(args.batch_size, inputs.channels, *inputs.shape)
        y = torch.randint(0, inputs.outputs, (args.batch_size,))
        with torch.no_grad():
            fused = model(x)
            with modules_path():
                plain = model(x)
        torch.testing.assert_close(fused, plain, rtol=1e-4, atol=1e-5)
        for bf16 in (False, True):
            times: dict[bool, list[float]] = {True: [], False: []}
            for _ in range(args.repeats + 1):  # the first pair warms up (and compiles)
                times[True].append(adamw_step_seconds(model, x, y, bf16=bf16))
                with modules_path():
                    times[False].append(adamw_step_seconds(model, x, y, bf16=bf16))
            fast, slow = (statistics.median(times[k][1:]) for k in (True, False))
            precision = "bf16-mixed" if bf16 else "float32"
            row = (name, precision, f"{fast * 1e3:.1f}", f"{slow * 1e3:.1f}", f"{slow / fast:.2f}×")
            print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
