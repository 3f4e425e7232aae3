"""Dynamics metrics read back from ``summary.json`` (keys sorted by name) are shown Future
before Domain, as the paper's column next to them, in every table and line."""

from __future__ import annotations

from pathlib import Path

from gmcnn.experiments.compare import _one_line
from gmcnn.experiments.files import write_json
from gmcnn.experiments.report import collect_summaries, format_results, report_table


def _summary() -> dict[str, object]:
    per_step = [0.1, 0.2]
    return {
        "experiment": "plumes-rotation/gm",
        "task": "dynamics",
        "status": "completed",
        "parameters": 10,
        "epochs": 1,
        "test": {
            "test-future": {"rmse": 0.9, "rmse_per_step": per_step},
            "test-domain": {"rmse": 0.4, "rmse_per_step": per_step},
        },
        "paper": {"rmse_future": 0.93, "rmse_domain": 0.79},
    }


def test_future_comes_before_domain_after_a_round_trip(tmp_path: Path) -> None:
    write_json(tmp_path / "run" / "summary.json", _summary())
    text = (tmp_path / "run" / "summary.json").read_text()
    assert text.index('"test-domain"') < text.index('"test-future"')  # sorted by name on disk
    (summary,) = collect_summaries([tmp_path / "run"])
    table = report_table([summary])
    assert "| 0.900 / 0.400 | 0.93 / 0.79 |" in table
    assert "rollout RMSE (test-future / test-domain)" in table
    assert _one_line(summary).startswith("test-future rmse 0.9000, test-domain rmse 0.4000")
    lines = format_results(summary).splitlines()
    assert lines[0].startswith("test-future rmse") and lines[1].startswith("test-domain rmse")
