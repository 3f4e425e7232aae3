"""``gmcnn demo`` (the main job), on a few examples and one epoch: the same code path."""

from __future__ import annotations

from pathlib import Path

import pytest

from gmcnn.cli import main

QUICK = [
    "data.max_examples=64",
    "trainer.max_epochs=1",
    "model.channels=[4, 4, 4]",
    "evaluation.equivariance_examples=8",
]


def test_demo_trains_both_models_and_writes_the_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "demo"
    assert main(["demo", *QUICK, "--output", str(output), "--tour"]) == 0
    out = capsys.readouterr().out
    assert "C256 × C256" in out
    assert "| GM-CNN (n=1, P+E) |" in out and "| plain CNN |" in out
    for name in (
        "report.md",
        "demo.md",
        "accuracy_vs_parameters.png",
        "gm-cnn/summary.json",
        "cnn/summary.json",
        "gm-cnn/checkpoints/best.ckpt",
    ):
        assert (output / name).is_file(), name
    assert "equivariance error" in (output / "demo.md").read_text()
    assert main(["demo", *QUICK, "--output", str(output)]) == 2
    assert "already exists" in capsys.readouterr().err
