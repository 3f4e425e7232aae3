"""Training end to end on tiny configs: run folders, checkpoints, evaluation, reports, errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
from torch import nn

from gmcnn.cli import main
from gmcnn.experiments.config import ConfigError, load_config
from gmcnn.experiments.report import write_report
from gmcnn.experiments.runs import RunFolder, RunFolderError
from gmcnn.experiments.saved import evaluate_saved
from gmcnn.experiments.tasks import NonFiniteLossError
from gmcnn.experiments.training import CheckpointError, dry_run, train
from gmcnn.models import InputSpec, register_model


def test_train_writes_a_complete_run_folder(tiny_configs: Path, tmp_path: Path) -> None:
    config = load_config("tiny/gm")
    run = RunFolder(tmp_path / "run")
    summary = train(config, run.path)
    assert summary is not None and summary["status"] == "completed"
    assert summary["parameters"] > 0 and summary["flops_per_example"] > 0
    assert summary["epochs"] == 3 and summary["seconds_per_epoch"] > 0
    assert 0.0 <= summary["test"]["test"]["accuracy"] <= 1.0
    assert summary["equivariance"]["elements"] == 3
    assert run.best.is_file() and run.last.is_file() and run.config.is_file()
    assert json.loads(run.summary.read_text())["status"] == "completed"
    with run.metrics.open() as handle:
        rows = list(csv.DictReader(handle))
    assert [row["epoch"] for row in rows] == ["0", "1", "2"]
    assert {"valid/loss", "valid/accuracy", "train/loss", "lr"} <= set(rows[-1])
    assert not list(run.path.rglob("*.tmp"))

    with pytest.raises(RunFolderError, match="--overwrite"):
        train(config, run.path)
    with pytest.raises(ConfigError, match="'seed' differs"):
        train(load_config("tiny/gm", ["seed=4"]), run.path, resume=True)

    results = evaluate_saved(run.path)
    assert results["test"]["test"]["accuracy"] == summary["test"]["test"]["accuracy"]
    assert evaluate_saved(run.best)["parameters"] == summary["parameters"]
    with pytest.raises(CheckpointError, match="does not fit this architecture"):
        evaluate_saved(run.best, experiment="tiny/cnn")

    report = write_report([tmp_path], tmp_path / "report")
    text = report.read_text()
    assert "tiny/gm" in text and "99.60" in text and "12,483" in text
    assert (tmp_path / "report" / "accuracy_vs_parameters.png").stat().st_size > 1000

    summary2 = train(config, run.path, overwrite=True)
    assert summary2 is not None
    assert summary2["test"] == summary["test"], "a CPU run with a fixed seed is repeatable"


def test_resume_needs_a_checkpoint(tiny_configs: Path, tmp_path: Path) -> None:
    with pytest.raises(RunFolderError, match="nothing to resume"):
        train(load_config("tiny/gm"), tmp_path / "empty", resume=True)
    with pytest.raises(RunFolderError, match="not both"):
        train(load_config("tiny/gm"), tmp_path / "empty", resume=True, overwrite=True)


def test_a_failed_start_leaves_no_run_folder(tiny_configs: Path, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="gmcnn data prepare cifar10"):
        train(load_config("tiny/gm", ["data.name=cifar10"]), tmp_path / "run")
    with pytest.raises(ConfigError, match="radius 30 exceeds"):
        train(load_config("tiny/gm", ["model.radius=30"]), tmp_path / "run")
    assert not (tmp_path / "run").exists()


class NanAfter(nn.Module):
    """A linear classifier whose output turns NaN after ``steps`` training forwards."""

    def __init__(self, inputs: InputSpec, steps: int) -> None:
        super().__init__()
        self.linear = nn.Linear(inputs.channels * 28 * 28, inputs.outputs)
        self.steps = steps
        self.register_buffer("calls", torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            self.calls += 1
        y = self.linear(x.flatten(1))
        return y * float("nan") if self.calls > self.steps else y


@register_model("test-nan-after", "classification", "diverges after some steps (tests)")
def nan_after(inputs: InputSpec, steps: int = 8) -> nn.Module:
    return NanAfter(inputs, steps)


def test_a_diverging_loss_stops_the_run_and_keeps_the_last_good_checkpoint(
    tiny_configs: Path, tmp_path: Path
) -> None:
    config = load_config("tiny/gm", ["model={name: test-nan-after, steps: 8}"])
    run = RunFolder(tmp_path / "nan")
    with pytest.raises(NonFiniteLossError, match="training loss is nan at epoch 1"):
        train(config, run.path)
    checkpoint = torch.load(run.last, weights_only=False)
    assert checkpoint["epoch"] == 0
    assert all(torch.isfinite(v).all() for v in checkpoint["state_dict"].values())
    summary = json.loads(run.summary.read_text())
    assert summary["status"] == "failed" and "nan" in summary["error"]


def test_dry_run_and_cli(
    tiny_configs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    info = dry_run(load_config("tiny/gm"))
    assert info["splits"] == {"train": 96, "valid": 32, "test": 32}
    assert main(["train", "tiny/gm", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert f"parameters: {info['parameters']}" in out and "flops per example:" in out
    assert main(["train", "tiny/gm", "trainer.max_epoch=1", "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'trainer.max_epoch'" in err
    assert main(["train", "tiny/gm", "data.name=cifar10", "--dry-run"]) == 2
    assert "gmcnn data prepare cifar10" in capsys.readouterr().err
    assert main(["train", "--list"]) == 0
    assert "rectangles/gm-n3" in capsys.readouterr().out
    assert main(["evaluate", str(tmp_path / "nothing")]) == 2
    assert "neither a run folder nor a checkpoint" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["train", "evaluate", "report", "bench", "demo", "data"])
def test_every_command_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert "usage: gmcnn" in capsys.readouterr().out


def test_resume_accepts_a_saved_config_missing_a_key_at_its_default(
    tiny_configs: Path, tmp_path: Path
) -> None:
    """A run started before a config key existed resumes when the key keeps its default."""
    import yaml

    run = RunFolder(tmp_path / "old")
    config = load_config("tiny/gm")
    run.prepare(config, resume=False, overwrite=False)
    saved = run.saved_config()
    del saved["optimizer"]["relaxation_weight"]
    run.config.write_text(yaml.safe_dump(saved), encoding="utf-8")
    run.check_config(config)
    with pytest.raises(ConfigError, match=r"'optimizer\.relaxation_weight' differs"):
        run.check_config(load_config("tiny/gm", ["optimizer.relaxation_weight=0.5"]))
