"""Plume generation: the compiled engine against the original eager generator (issue 10).

    python benchmarks/plumes.py [--cases translation,rotation,scaling] [--large-eager-steps 20]
                                [--out FILE.json]

Each case simulates one simulation with both engines of ``gmcnn.data.plumes.simulate`` in
this process, one after the other, and reports wall seconds per simulation (compilation
included, as a user waits for it), the speed-up, and how far the frames of the two engines
drift apart (per-frame relative L2 difference). ``translation`` (48_10) and ``rotation``
(27_2) run all 310 steps of a 64 × 64 box with both engines. ``scaling`` runs simulation 30
(``s = 4``, a 256 × 256 box): the compiled engine all 310 steps, the eager one only the first
``--large-eager-steps`` (it needs several seconds per step there), whose time is scaled to
310 steps and marked as extrapolated; the frame differences cover the common steps.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from gmcnn.data import plumes

CASES = {
    "translation": ("translation", "48_10"),
    "rotation": ("rotation", "27_2"),
    "scaling": ("scaling", "30"),
}
STEPS = 310


def _timed(sim: plumes.PlumeSimulation, steps: int, engine: str) -> tuple[np.ndarray, float]:
    start = time.perf_counter()
    frames = plumes.simulate(sim, plumes.RECIPE_RESOLUTION, steps, engine=engine)
    return frames, time.perf_counter() - start


def _drift(new: np.ndarray, old: np.ndarray) -> np.ndarray:
    steps = old.shape[0]
    diff = np.linalg.norm((new - old).reshape(steps, -1), axis=1)
    norm = np.linalg.norm(old.reshape(steps, -1), axis=1)
    return diff / np.maximum(norm, np.finfo(np.float32).tiny)


def run_case(name: str, large_eager_steps: int) -> dict[str, object]:
    """Time one case with both engines; return its row."""
    recipe, key = CASES[name]
    sim = {s.key: s for s in plumes.RECIPES[recipe].simulations}[key]
    jit, jit_seconds = _timed(sim, STEPS, "jit")
    eager_steps = STEPS if sim.scale == 1.0 else large_eager_steps
    eager, eager_seconds = _timed(sim, eager_steps, "eager")
    eager_per_simulation = eager_seconds * STEPS / eager_steps
    drift = _drift(jit[:eager_steps], eager)
    checkpoints = [s for s in (30, 100, STEPS) if s <= eager_steps]
    return {
        "case": f"{recipe} {key} ({int(64 * sim.scale)}²)",
        "eager_steps": eager_steps,
        "eager_s": round(eager_per_simulation, 2),
        "eager_extrapolated": eager_steps != STEPS,
        "jit_s": round(jit_seconds, 2),
        "speed_up": round(eager_per_simulation / jit_seconds, 1),
        "max_drift": float(drift.max()),
        "drift_at": {str(s): float(drift[:s].max()) for s in checkpoints},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", default="translation,rotation,scaling")
    parser.add_argument("--large-eager-steps", type=int, default=20)
    parser.add_argument("--out", help="also write the rows as JSON")
    args = parser.parse_args()
    names = args.cases.split(",")
    unknown = [n for n in names if n not in CASES]
    if unknown:
        parser.error(f"unknown case(s) {unknown}: choose from {', '.join(CASES)}")
    load = os.getloadavg()
    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"load average {load[0]:.1f} at start"
    )
    print("| simulation | eager s / sim | jit s / sim | speed-up | max frame drift |")
    print("|---|---|---|---|---|")
    rows = []
    for name in names:
        row = run_case(name, args.large_eager_steps)
        rows.append(row)
        eager = f"{row['eager_s']}" + (
            f" (extrapolated from {row['eager_steps']} steps)" if row["eager_extrapolated"] else ""
        )
        drift = ", ".join(f"≤{s}: {v:.1e}" for s, v in dict(row["drift_at"]).items())
        print(
            f"| {row['case']} | {eager} | {row['jit_s']} | {row['speed_up']}× | {drift} |",
            flush=True,
        )
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
