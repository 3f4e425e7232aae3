"""Plume generation: the compiled engine against the original eager generator (issue 10).

    python benchmarks/plumes.py [--cases translation,rotation,scaling] [--large-eager-steps 20]
                                [--out FILE.json]

Each case simulates with both engines of ``gmcnn.data.plumes.simulate`` in this process and
reports wall seconds per simulation, the speed-ups, and how far the frames of the two engines
drift apart (per-frame relative L2 difference, max over the first 30, 100 and 310 steps).
The compiled engine is timed twice: on the first simulation of a box size in a process (its
tracing and XLA compilation included) and on a second simulation of the same recipe, which
reuses the compiled step, as every further simulation of a set does in a worker.
``translation`` (48_10, then 32_20) and ``rotation`` (27_2, then 6_1) run all 310 steps of a
64 × 64 box. ``scaling`` runs simulation 30 (``s = 4``, a 256 × 256 box, compiled once per
simulation since every simulation of the set has its own box): the compiled engine all 310
steps, the eager one only the first ``--large-eager-steps`` (several seconds per step), whose
time is scaled to 310 steps and marked as extrapolated.

As a control, the 64 × 64 cases also run the eager engine once more with the buoyancy
multiplied by ``1 + 1e-12`` (a change at rounding level): how far *that* drifts from the
eager frames is how far any two exact solvers can drift on the same recipe, since the plume
amplifies rounding differences.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from gmcnn.data import plumes

#: recipe, simulation timed first, a second simulation of the same box (or None)
CASES = {
    "translation": ("translation", "48_10", "32_20"),
    "rotation": ("rotation", "27_2", "6_1"),
    "scaling": ("scaling", "30", None),
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
    recipe, key, second = CASES[name]
    sims = {s.key: s for s in plumes.RECIPES[recipe].simulations}
    sim = sims[key]
    jit, jit_first = _timed(sim, STEPS, "jit")
    jit_next = _timed(sims[second], STEPS, "jit")[1] if second else None
    eager_steps = STEPS if sim.scale == 1.0 else large_eager_steps
    eager, eager_seconds = _timed(sim, eager_steps, "eager")
    eager_per_simulation = eager_seconds * STEPS / eager_steps
    drift = _drift(jit[:eager_steps], eager)
    control = None
    if sim.scale == 1.0:
        nudged = dataclasses.replace(
            sim,
            buoyancy_left=tuple(b * (1 + 1e-12) for b in sim.buoyancy_left),
            buoyancy_right=tuple(b * (1 + 1e-12) for b in sim.buoyancy_right),
        )
        control = _drift(_timed(nudged, STEPS, "eager")[0], eager)
    return {
        "case": f"{recipe} {key} ({int(64 * sim.scale)}²)",
        "eager_steps": eager_steps,
        "eager_s": round(eager_per_simulation, 2),
        "jit_first_s": round(jit_first, 2),
        "jit_next_s": None if jit_next is None else round(jit_next, 2),
        "speed_up_first": round(eager_per_simulation / jit_first, 1),
        "speed_up_next": None if jit_next is None else round(eager_per_simulation / jit_next, 1),
        "drift_at": {
            str(s): float(drift[:s].max())
            for s in sorted({30, 100, STEPS, eager_steps})
            if s <= eager_steps
        },
        "control_drift_at": {}
        if control is None
        else {str(s): float(control[:s].max()) for s in (30, 100, STEPS)},
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
    print(
        "| simulation | eager s / sim | jit s, first sim (compile) | jit s, next sims "
        "| speed-up first / next | max frame drift jit vs eager | control: eager vs eager, "
        "buoyancy × (1 + 1e-12) |"
    )
    print("|---|---|---|---|---|---|---|")
    rows = []
    for name in names:
        row = run_case(name, args.large_eager_steps)
        rows.append(row)
        eager = f"{row['eager_s']}"
        if row["eager_steps"] != STEPS:
            eager += f" (extrapolated from {row['eager_steps']} steps)"
        following = "—" if row["jit_next_s"] is None else f"{row['jit_next_s']}"
        ratio_next = "—" if row["speed_up_next"] is None else f"{row['speed_up_next']}×"
        drift = ", ".join(f"≤{s}: {v:.1e}" for s, v in dict(row["drift_at"]).items())
        control = ", ".join(f"≤{s}: {v:.1e}" for s, v in dict(row["control_drift_at"]).items())
        print(
            f"| {row['case']} | {eager} | {row['jit_first_s']} | {following} "
            f"| {row['speed_up_first']}× / {ratio_next} | {drift} | {control or '—'} |",
            flush=True,
        )
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
