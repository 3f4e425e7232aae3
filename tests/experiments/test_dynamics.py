"""The dynamics path end to end: JetFlow-format files → windows → GM-CNN rollout → RMSE."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from gmcnn.data import prepare
from gmcnn.experiments.config import load_config
from gmcnn.experiments.tasks import rollout
from gmcnn.experiments.training import train

TIMES = "{train: [0, 4], valid: [4, 5], test-future: [5, 6], test-domain: [0, 2]}"


@pytest.fixture
def jetflow(tmp_path: Path) -> None:
    """The 24 JetFlow sub-region files, 20 frames each of a smooth random field, prepared."""
    raw = tmp_path / "jetflow-raw"
    raw.mkdir()
    generator = torch.Generator().manual_seed(0)
    for i in range(1, 4):
        for j in range(1, 9):
            base = torch.randn(2, 62, 23, generator=generator)
            frames = torch.stack([torch.roll(base, t, dims=1) for t in range(20)])
            torch.save(frames, raw / f"raw_data_{i}_{j}.pt")
    prepare("jetflow", "files", os.environ["GMCNN_DATA"], raw_dir=raw, progress=False)


def test_gm_cnn_trains_on_jetflow_and_reports_rmse_per_step(jetflow: None, tmp_path: Path) -> None:
    config = load_config(
        "jetflow-rotation/gm",
        [
            f"data.options={{target_frames: 2, times: {TIMES}}}",
            "model.hidden_channels=6",
            "model.layers=2",
            "trainer.max_epochs=2",
            "trainer.progress_bar=false",
            "data.batch_size=8",
            "evaluation.equivariance_elements=2",
            "evaluation.equivariance_examples=4",
        ],
    )
    summary = train(config, tmp_path / "run")
    assert summary is not None
    for split in ("test-future", "test-domain"):
        metrics = summary["test"][split]
        assert len(metrics["rmse_per_step"]) == 2 and metrics["rmse"] > 0
    assert summary["equivariance"]["group"] == "D31 × C23"
    assert summary["splits"] == {"train": 72, "valid": 18, "test-future": 18, "test-domain": 12}


def test_rollout_feeds_predictions_back() -> None:
    class Last(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x[:, -2:] + 1

    out = rollout(Last(), torch.zeros(3, 6, 4, 4), steps=3)
    assert out.shape == (3, 3, 2, 4, 4)
    assert torch.equal(out[:, 2], torch.full((3, 2, 4, 4), 3.0))
