"""``benchmarks/gpu.sh``, the GPU checks of issue 11: its syntax always; in CPU mode
(``GMCNN_GPU_SCRIPT_CPU=1``: every stage tiny, on the CPU) end to end in a slow test."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu.sh"
STAGES = ("env", "tests", "bench", "data", "gm", "rsteer")


def test_the_script_parses() -> None:
    done = subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed")
def test_shellcheck_finds_nothing() -> None:
    done = subprocess.run(["shellcheck", str(SCRIPT)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout


@pytest.mark.slow  # a tiny plume set, the device tests, one benchmark row, two 1-epoch runs
def test_every_stage_runs_tiny_on_the_cpu(tmp_path: Path) -> None:
    out = tmp_path / "gpu"
    env = {
        **os.environ,
        "GMCNN_GPU_SCRIPT_CPU": "1",
        "GMCNN_GPU_SECONDS": "900",
        "OUT": str(out),
        "GMCNN_DATA": str(tmp_path / "data"),
    }
    env.pop("GMCNN_RUNS", None)
    done = subprocess.run(
        ["bash", str(SCRIPT)], capture_output=True, text=True, env=env, timeout=1200
    )
    assert done.returncode == 0, done.stderr
    summary = (out / "summary.txt").read_text(encoding="utf-8")
    status = {line.split()[0]: line.split()[1] for line in summary.splitlines() if line.strip()}
    for stage in STAGES:
        assert status.get(stage) == "ok", summary
    assert "S5×C8 r1 shared" in (out / "bench.md").read_text(encoding="utf-8")
    for name in ("gm", "rsteer"):
        assert (out / "runs" / name / "summary.json").is_file()
    assert "passed" in (out / "tests.log").read_text(encoding="utf-8")
