"""Benchmark GMConv's fast paths against the public code's gather+einsum (issue 3).

    python benchmarks/run.py [--device cpu|cuda] [--budget SECONDS] [--only SUBSTRING]
                             [--no-memory]

Forward + backward (input and weight gradients) at batch 64 on the paper's configurations
(``cases.py``). For each configuration one process times all implementations *interleaved*
— one step of each in turn, so that a busy machine slows them alike — and reports the best
of the repetitions that fit ``--budget`` seconds per implementation (at least 2 and at most
50, after one warm-up). Peak memory is measured separately, one process per cell, so that
each peak is its own: on CPU the growth of the resident set over a warm-up and a step, on
CUDA ``torch.cuda.max_memory_allocated``. Prints a Markdown table and the issue's targets.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch

from cases import CASES, METHODS, Case, applicable

COLUMNS = ["fast", "direct", "gather", "dense", "conv2d", "matmul"]
MAX_REPS = 50
Cell = dict[str, float] | str


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_case(
    case: Case, methods: list[str], device: torch.device, budget: float
) -> dict[str, float]:
    """Best time (ms) of one step of each method, the methods interleaved."""
    steps = {m: METHODS[m](case, device) for m in methods}
    first = {}
    for m, step in steps.items():
        start = time.perf_counter()
        step()
        _sync(device)
        first[m] = time.perf_counter() - start
    wanted = {m: max(2, min(MAX_REPS, int(budget / max(t, 1e-6)))) for m, t in first.items()}
    best = {m: float("inf") for m in steps}
    for rep in range(max(wanted.values())):
        for m, step in steps.items():
            if rep < wanted[m]:
                start = time.perf_counter()
                step()
                _sync(device)
                best[m] = min(best[m], time.perf_counter() - start)
    return {m: 1e3 * t for m, t in best.items()}


def peak_memory(case: Case, method: str, device: torch.device) -> float:
    """Peak memory (MiB) of a warm-up step and a step, over what the inputs already hold.

    On CPU the memory process runs with a fixed ``malloc`` mmap threshold (see
    :func:`measure_row`), so large tensors go back to the system when freed and the resident
    set follows the live tensors.
    """
    step = METHODS[method](case, device)
    gc.collect()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
    else:
        base = _rss_bytes()
    step()
    step()
    _sync(device)
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated(device) - base
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base
    return max(peak, 0) / 2**20


def _subprocess(*args: str, env: dict[str, str] | None = None) -> object:
    command = [sys.executable, str(Path(__file__).resolve()), *args]
    merged = {**os.environ, **(env or {})}
    done = subprocess.run(command, capture_output=True, text=True, timeout=3600, env=merged)
    if done.returncode != 0:
        last = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode
        return f"failed: {last}"
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure_row(index: int, device: str, budget: float, memory: bool = True) -> dict[str, Cell]:
    case = CASES[index]
    reasons = {m: applicable(case, m) for m in COLUMNS}
    runnable = [m for m in COLUMNS if reasons[m] is None]
    times = _subprocess(
        "--time", str(index), ",".join(runnable), "--device", device, "--budget", str(budget)
    )
    row: dict[str, Cell] = {}
    for m in COLUMNS:
        reason = reasons[m]
        if reason is not None:
            row[m] = reason
        elif isinstance(times, str):
            row[m] = times
        elif not memory:
            ms = float(times[m]) if isinstance(times, dict) else float("nan")
            row[m] = {"ms": ms, "mib": float("nan")}
        else:
            # Large blocks straight from and back to the system: the resident set is live memory.
            fixed_mmap = {"MALLOC_MMAP_THRESHOLD_": str(1 << 17)}
            mib = _subprocess("--memory", str(index), m, "--device", device, env=fixed_mmap)
            ms = float(times[m]) if isinstance(times, dict) else float("nan")
            row[m] = {"ms": ms, "mib": mib if isinstance(mib, float) else float("nan")}
    return row


def _cell(result: Cell | None) -> str:
    if result is None:
        return "—"
    if isinstance(result, str):
        return result
    return f"{result['ms']:.1f}"


def _ratio(a: Cell | None, b: Cell | None, fmt: str) -> str:
    """``a / b`` of two timed cells, formatted, or ``—``."""
    if isinstance(a, dict) and isinstance(b, dict):
        return format(a["ms"] / b["ms"], fmt)
    return "—"


def table(results: dict[str, dict[str, Cell]]) -> str:
    """One row per configuration; ratios are of times measured in the same process."""
    header = (
        "| configuration | fast path | fast ms | fast MiB | direct conv ms | gather+einsum ms "
        "| gather MiB | speed-up | dense ms | conv2d ms | fast / conv2d | matmul ms "
        "| FLOP rate vs matmul | speed-up at matmul's rate |"
    )
    lines = [header, "|" + "---|" * 14]
    for case in CASES:
        row = results.get(case.name)
        if row is None:
            continue
        fast, gather, matmul = row.get("fast"), row.get("gather"), row.get("matmul")
        mib = [
            f"{c['mib']:.0f}" if isinstance(c, dict) and c["mib"] == c["mib"] else "—"
            for c in (fast, gather)
        ]  # NaN (--no-memory): not measured
        cells = [
            case.name,
            case.layer().implementation,
            _cell(fast),
            mib[0],
            _cell(row.get("direct")),
            _cell(gather),
            mib[1],
            _ratio(gather, fast, ".1f") + "×",
            _cell(row.get("dense")),
            _cell(row.get("conv2d")),
            _ratio(fast, row.get("conv2d"), ".2f"),
            _cell(matmul),
            _ratio(matmul, fast, ".0%"),
            _ratio(gather, matmul, ".1f") + ("×" if isinstance(matmul, dict) else ""),
        ]
        lines.append("| " + " | ".join(c.replace("—×", "—") for c in cells) + " |")
    return "\n".join(lines)


def _ratios(results: dict[str, dict[str, Cell]], num: str, den: str) -> dict[str, float]:
    """``time(num) / time(den)`` for every configuration where both were timed."""
    out = {}
    for name, row in results.items():
        a, b = row.get(num), row.get(den)
        if isinstance(a, dict) and isinstance(b, dict):
            out[name] = a["ms"] / b["ms"]
    return out


def targets(results: dict[str, dict[str, Cell]]) -> list[str]:
    """The issue's four targets, each with its measured numbers."""

    def verdict(ok: bool) -> str:
        return "met" if ok else "NOT met"

    out = []
    speedups = _ratios(results, "gather", "fast")
    shared = "C28×C28 r3 shared"
    if shared in speedups:
        s = speedups[shared]
        out.append(f"C28×C28 shared ≥ 50× faster than gather+einsum: {s:.1f}× — {verdict(s >= 50)}")
    if speedups:
        worst = min(speedups, key=speedups.__getitem__)
        out.append(
            f"every fast path ≥ 5× faster than gather+einsum: lowest {speedups[worst]:.1f}× "
            f"({worst}) — {verdict(speedups[worst] >= 5)}"
        )
        bound = _ratios(results, "gather", "matmul")
        below = [f"{n} {bound[n]:.1f}×" for n, v in speedups.items() if v < 5 and n in bound]
        if below:
            out.append(
                "  gather+einsum / a plain matmul of the same FLOPs, i.e. the speed-up of any "
                f"implementation running at matmul's FLOP rate: {', '.join(below)}"
            )
    ratios = _ratios(results, "fast", "conv2d")
    if ratios:
        worst = max(ratios, key=ratios.__getitem__)
        out.append(
            f"cyclic fast paths within 1.5× of plain conv2d: highest {ratios[worst]:.2f}× "
            f"({worst}) — {verdict(ratios[worst] <= 1.5)}"
        )
    rates = _ratios(results, "matmul", "fast")
    if rates:
        worst = min(rates, key=rates.__getitem__)
        out.append(
            f"full mixing ≥ 30% of torch.matmul's FLOP rate: lowest {rates[worst]:.0%} "
            f"({worst}) — {verdict(rates[worst] >= 0.3)}"
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--budget", type=float, default=4.0, help="seconds of repetitions per cell")
    parser.add_argument(
        "--only", default="", help="run the configurations whose name contains this"
    )
    parser.add_argument(
        "--no-memory",
        action="store_true",
        help="time only: skip the peak-memory processes (one per cell; quicker)",
    )
    parser.add_argument("--time", nargs=2, metavar=("CASE", "METHODS"), help=argparse.SUPPRESS)
    parser.add_argument("--memory", nargs=2, metavar=("CASE", "METHOD"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    device = torch.device(args.device)
    if args.time:
        case = CASES[int(args.time[0])]
        print(json.dumps(time_case(case, args.time[1].split(","), device, args.budget)))
        return
    if args.memory:
        print(json.dumps(peak_memory(CASES[int(args.memory[0])], args.memory[1], device)))
        return
    name = torch.cuda.get_device_name() if device.type == "cuda" else platform.processor() or "cpu"
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"torch {torch.__version__}, {args.device} ({name}), {torch.get_num_threads()} threads, "
        f"load average {load}; batch 64, forward + backward; best of interleaved runs\n"
    )
    results: dict[str, dict[str, Cell]] = {}
    for index, case in enumerate(CASES):
        if args.only in case.name:
            results[case.name] = measure_row(index, args.device, args.budget, not args.no_memory)
            print(f"  measured {case.name}", file=sys.stderr, flush=True)
    print(table(results))
    print()
    for line in targets(results):
        print(line if line.startswith(" ") else f"- {line}")


if __name__ == "__main__":
    main()
