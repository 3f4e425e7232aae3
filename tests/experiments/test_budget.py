"""``--budget DURATION``: the same wall-clock training budget for ``gmcnn train`` / ``compare``.

Trainings here are the tiny configs with budgets of a couple of seconds and an epoch limit
they cannot reach; nothing asserts how long anything took.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml

from gmcnn.cli import main
from gmcnn.experiments.budget import budget_overrides, format_duration, parse_duration
from gmcnn.experiments.compare import compare
from gmcnn.experiments.config import ConfigError, load_config
from gmcnn.experiments.training import train

#: An epoch limit no tiny run reaches within its budget, and no early stopping.
UNBOUNDED = ["trainer.max_epochs=100000", "trainer.early_stopping_patience=100000"]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("20m", 1200), ("1h", 3600), ("1h30m", 5400), ("1.5h", 5400), (" 2M ", 120)],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0s", "not a positive duration"),
        ("0m0s", "not a positive duration"),
        ("-5m", "not a duration"),
        ("20", "not a duration"),
        ("twenty minutes", "not a duration"),
        ("5x", "not a duration"),
        ("", "not a duration"),
        ("m", "not a duration"),
        ("1h 30", "not a duration"),
    ],
)
def test_bad_durations_are_one_line_errors_naming_the_text(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        parse_duration(text)
    assert repr(text) in str(caught.value) and "\n" not in str(caught.value)


def test_the_budget_becomes_trainer_max_minutes() -> None:
    assert budget_overrides("90s", ["seed=1"]) == ["seed=1", "trainer.max_minutes=1.5"]
    assert budget_overrides(None, ["seed=1"]) == ["seed=1"]
    assert format_duration(5400) == "1h30m" and format_duration(90) == "1m30s"
    assert format_duration(7.0) == "7s" and format_duration(2.5) == "2.5s"
    for given in ("trainer.max_minutes=3", "gm:trainer.max_minutes=3"):
        with pytest.raises(ConfigError, match="both set the training budget"):
            budget_overrides("20m", [given])


@pytest.mark.parametrize("budget", ["0s", "-1m", "soon"])
def test_cli_refuses_a_bad_budget_before_anything_trains(
    budget: str, tiny_configs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir, output = tmp_path / "run", tmp_path / "cmp"
    given = f"--budget={budget}"  # a leading "-" needs the "=" form in argparse
    assert main(["train", "tiny/gm", given, "--run-dir", str(run_dir)]) == 2
    assert main(["compare", "tiny", given, "--output", str(output)]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 2 and all(f"--budget {budget!r}" in line for line in errors)
    assert not run_dir.exists() and not output.exists()


def test_a_budgeted_run_stops_evaluates_and_resumes_with_the_remaining_time(
    tiny_configs: Path, tmp_path: Path
) -> None:
    config = load_config("tiny/gm", budget_overrides("2s", UNBOUNDED))
    run_dir = tmp_path / "run"
    summary = train(config, run_dir)
    assert summary is not None and summary["status"] == "completed"
    assert summary["stopped_by_budget"] is True and summary["budget_seconds"] == 2.0
    assert summary["budget_used_seconds"] >= 2.0
    assert 1 <= summary["epochs"] < 100000
    assert 0.0 <= summary["test"]["test"]["accuracy"] <= 1.0  # validation and test still ran
    saved = yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8"))
    assert saved["trainer"]["max_minutes"] == pytest.approx(2 / 60)

    # The budget is spent: resuming continues with the remaining time, i.e. none.
    last = run_dir / "checkpoints" / "last.ckpt"
    steps = torch.load(last, weights_only=False)["global_step"]
    resumed = train(config, run_dir, resume=True)
    assert resumed is not None and resumed["status"] == "completed"
    assert resumed["epochs"] == summary["epochs"] and resumed["stopped_by_budget"] is True
    assert torch.load(last, weights_only=False)["global_step"] == steps  # no step trained


def test_compare_gives_every_method_the_same_budget_and_reports_epochs(
    tiny_configs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "cmp"
    options = ["--methods", "gm,cnn", "--budget", "2s", "--output", str(output)]
    code = main(["compare", "tiny", *options, *UNBOUNDED])
    assert code == 0
    capsys.readouterr()
    summaries = [
        json.loads((output / m / "summary.json").read_text(encoding="utf-8")) for m in ("gm", "cnn")
    ]
    assert all(s["stopped_by_budget"] and s["budget_seconds"] == 2.0 for s in summaries)
    text = (output / "compare.md").read_text(encoding="utf-8")
    assert "training budget: 2s of wall-clock time per method" in text
    for method, summary in zip(("gm", "cnn"), summaries, strict=True):
        assert f"- {method}: {summary['epochs']} epochs (budget spent)" in text
    record = json.loads((output / "compare.json").read_text(encoding="utf-8"))
    assert record["budget"] == "2s" and record["budget_seconds"] == 2.0
    assert "--budget" in record["command"]

    # the same with the Python API, and a method's own budget is refused as a difference
    with pytest.raises(ConfigError, match="both set the training budget"):
        compare("tiny", ["gm"], ["gm:trainer.max_minutes=1"], output=output, budget="2s")
