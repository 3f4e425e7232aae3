"""Baseline configs train end to end through ``gmcnn.experiments`` on tiny generated data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

training = pytest.importorskip("gmcnn.experiments.training")
config_module = pytest.importorskip("gmcnn.experiments.config")
data = pytest.importorskip("gmcnn.data")

QUICK = [
    "trainer.max_epochs=1",
    "trainer.progress_bar=false",
    "evaluation.equivariance_elements=2",
    "evaluation.equivariance_examples=4",
]
TIMES = "{train: [0, 4], valid: [4, 5], test-future: [5, 6], test-domain: [0, 2]}"


@pytest.fixture(autouse=True)
def isolated_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GMCNN_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("GMCNN_RUNS", str(tmp_path / "runs"))


@pytest.fixture
def jetflow(tmp_path: Path) -> None:
    """24 JetFlow-format files of 20 frames of a drifting random field, prepared."""
    raw = tmp_path / "jetflow-raw"
    raw.mkdir()
    generator = torch.Generator().manual_seed(0)
    for i in range(1, 4):
        for j in range(1, 9):
            base = torch.randn(2, 62, 23, generator=generator)
            torch.save(
                torch.stack([torch.roll(base, t, 1) for t in range(20)]),
                raw / f"raw_data_{i}_{j}.pt",
            )
    data.prepare("jetflow", "files", os.environ["GMCNN_DATA"], raw_dir=raw, progress=False)


@pytest.mark.parametrize(
    ("experiment", "parameters"),
    [("rectangles/circulant", 2354), ("rectangles/ldr-td-r1", 7842), ("rectangles/fastfood", 3922)],
)
def test_structured_baselines_train(experiment: str, parameters: int, tmp_path: Path) -> None:
    config = config_module.load_config(
        experiment,
        ["data.options={train: 96, valid: 32, test: 32, seed: 0}", "data.batch_size=32", *QUICK],
    )
    summary = training.train(config, tmp_path / "run")
    assert summary is not None
    assert summary["parameters"] == parameters


@pytest.mark.parametrize(
    ("experiment", "options"),
    [
        ("jetflow-rotation/e2cnn", ["model.hidden_fields=2", "model.num_layers=2"]),
        ("jetflow-translation/rgroup", ["model.hidden_channels=4", "model.num_layers=2"]),
        (
            "jetflow-rotation/rsteer",
            ["model.hidden_fields=2", "model.basis=grid", "model.group=D4"],
        ),
    ],
)
def test_dynamics_baselines_train(
    experiment: str, options: list[str], jetflow: None, tmp_path: Path
) -> None:
    config = config_module.load_config(
        experiment,
        [
            f"data.options={{target_frames: 2, times: {TIMES}}}",
            "data.batch_size=8",
            *QUICK,
            *options,
        ],
    )
    summary = training.train(config, tmp_path / "run")
    assert summary is not None
    for split in ("test-future", "test-domain"):
        assert summary["test"][split]["rmse"] > 0
