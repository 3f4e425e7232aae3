"""Long end-to-end runs (``make test-slow``); fast tests cover the same code paths on tiny
configs (test_demo.py, test_bench.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gmcnn.demo import run_demo
from gmcnn.experiments.bench import run_bench

pytestmark = pytest.mark.slow


def test_full_demo_beats_chance_by_far(tmp_path: Path) -> None:
    folder = run_demo(tmp_path / "demo")
    gm = json.loads((folder / "gm-cnn" / "summary.json").read_text())
    assert gm["parameters"] == 5_915
    assert gm["test"]["test"]["accuracy"] > 0.5  # 10 classes: chance is 0.1


def test_speedup_over_the_public_algorithm_at_batch_256() -> None:
    rows = {row["experiment"]: row for row in run_bench(["rot-mnist/gm-n3"], batch_size=256)}
    assert rows["rot-mnist/gm-n3"]["speedup"] > 10
