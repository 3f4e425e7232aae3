"""Every data test works in its own data folder: ``$GMCNN_DATA`` points into ``tmp_path``."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def gmcnn_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh ``$GMCNN_DATA`` for each test, so nothing is written to the home cache."""
    root = tmp_path / "gmcnn-data"
    monkeypatch.setenv("GMCNN_DATA", str(root))
    return root
