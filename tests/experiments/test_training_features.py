"""Training features on tiny configs: mixed precision on CPU and TensorBoard event files."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest

from gmcnn.experiments.config import load_config
from gmcnn.experiments.runs import RunFolder
from gmcnn.experiments.training import train


def _finite_metrics(run: RunFolder) -> list[dict[str, str]]:
    with run.metrics.open() as handle:
        rows = list(csv.DictReader(handle))
    assert rows, "no epoch was logged"
    for row in rows:
        for key in ("train/loss", "valid/loss", "valid/accuracy"):
            assert math.isfinite(float(row[key])), (key, row)
    return rows


@pytest.mark.parametrize(
    ("experiment", "precision"),
    [("tiny/cnn", "bf16-mixed"), ("tiny/gm", "bf16-mixed"), ("tiny/gm", "64-true")],
)
def test_other_precisions_train_and_evaluate_on_cpu(
    experiment: str, precision: str, tiny_configs: Path, tmp_path: Path
) -> None:
    """``trainer.precision=bf16-mixed`` runs Lightning's CPU autocast and stays finite;
    ``64-true`` trains a float64 model, which the evaluation after training (test metrics,
    equivariance error) feeds float64 data."""
    overrides = [f"trainer.precision={precision}", "trainer.max_epochs=1"]
    config = load_config(experiment, overrides)
    assert config.trainer.precision == precision
    run = RunFolder(tmp_path / precision)
    summary = train(config, run.path)
    assert summary is not None and summary["status"] == "completed"
    assert _finite_metrics(run)[-1]["epoch"] == "0"
    assert math.isfinite(summary["best_valid_loss"])
    assert 0.0 <= summary["test"]["test"]["accuracy"] <= 1.0


def test_tensorboard_event_files_next_to_the_csv_metrics(
    tiny_configs: Path, tmp_path: Path
) -> None:
    """A run writes event files beside ``metrics.csv``."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = RunFolder(tmp_path / "tb")
    summary = train(load_config("tiny/gm", ["trainer.max_epochs=2"]), run.path)
    assert summary is not None and summary["status"] == "completed"
    rows = _finite_metrics(run)
    events = sorted((run.path / "tensorboard").rglob("events.out.tfevents.*"))
    assert events and run.metrics.parent == run.path
    accumulator = EventAccumulator(str(events[0].parent)).Reload()
    scalars = accumulator.Tags()["scalars"]
    assert "valid/loss" in scalars and "train/loss" in scalars
    logged = [event.value for event in accumulator.Scalars("valid/loss")]
    assert len(logged) == len(rows)
    assert logged[-1] == pytest.approx(float(rows[-1]["valid/loss"]), rel=1e-6)
