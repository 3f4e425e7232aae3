"""Multi-process training through Lightning's DDP strategy: two CPU processes over gloo."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def test_ddp_with_two_cpu_processes(tiny_configs: Path, tmp_path: Path) -> None:
    run = tmp_path / "ddp"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "gmcnn",
            "train",
            "tiny/gm",
            "--run-dir",
            str(run),
            "trainer.max_epochs=2",
            "trainer.accelerator=cpu",
            "trainer.devices=2",
            "trainer.strategy=ddp",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["epochs"] == 2
    assert summary["world_size"] == 2
    assert (run / "checkpoints" / "best.ckpt").is_file()
