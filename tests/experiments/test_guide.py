"""docs/guide.md: every ``python`` code block runs, in order, in one namespace."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "guide.md"


def test_guide_code_blocks_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = re.findall(r"```python\n(.*?)```", GUIDE.read_text(encoding="utf-8"), re.DOTALL)
    assert len(blocks) >= 8
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "guide"}
    for index, block in enumerate(blocks):
        exec(compile(block, f"{GUIDE.name}[block {index}]", "exec"), namespace)
    summary = namespace["summary"]
    assert isinstance(summary, dict) and summary["status"] == "completed"
    assert (tmp_path / "runs" / "guide-report" / "report.md").is_file()
