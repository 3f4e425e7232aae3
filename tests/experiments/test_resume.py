"""Reliability: SIGKILL a run mid-epoch, ``--resume`` it, and reach the uninterrupted result.

Runs the real command line in subprocesses on a tiny config (CPU, fixed seed).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

COMMAND = [
    sys.executable,
    "-m",
    "gmcnn",
    "train",
    "tiny/gm",
    "trainer.max_epochs=5",
    "data.options.train=192",
]


def _run(run_dir: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*COMMAND, "--run-dir", str(run_dir), *extra],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )


def test_sigkill_mid_epoch_then_resume_matches_an_uninterrupted_run(
    tiny_configs: Path, tmp_path: Path
) -> None:
    whole = tmp_path / "whole"
    done = _run(whole)
    assert done.returncode == 0, done.stderr

    killed = tmp_path / "killed"
    process = subprocess.Popen(
        [*COMMAND, "--run-dir", str(killed)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    last = killed / "checkpoints" / "last.ckpt"
    deadline = time.monotonic() + 240
    while not last.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL, "the run finished before it could be killed"
    assert not (killed / "summary.json").exists()
    assert torch.load(last, weights_only=False)["epoch"] < 4

    resumed = _run(killed, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    a = json.loads((whole / "summary.json").read_text())
    b = json.loads((killed / "summary.json").read_text())
    assert b["test"] == a["test"]
    assert b["best_valid_loss"] == a["best_valid_loss"]
    assert b["epochs"] == a["epochs"] == 5
    wa = torch.load(whole / "checkpoints" / "last.ckpt", weights_only=False)["state_dict"]
    wb = torch.load(last, weights_only=False)["state_dict"]
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    rows = (killed / "metrics.csv").read_text().splitlines()
    assert len(rows) == len((whole / "metrics.csv").read_text().splitlines()) == 1 + 5
