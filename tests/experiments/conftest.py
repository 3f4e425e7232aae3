"""Experiment tests run in their own data, config and run folders, on tiny configs.

``tiny_configs`` is a folder of configs ``tiny/*`` on a small generated Rectangles set
(64 / 32 / 32 images) with a GM-CNN of a few channels, so each training takes seconds.
"""

from __future__ import annotations

from pathlib import Path

import pytest

TINY = {
    "tiny/gm.yaml": """\
description: tiny GM-CNN on a small Rectangles set (tests)
seed: 3
data:
  name: rectangles
  options: {train: 96, valid: 32, test: 32, seed: 0}
  batch_size: 16
  eval_batch_size: 32
model:
  name: gm-cnn-classifier
  groups: [C28, C28]
  radius: 1
  channels: [4, 6]
  relaxation: error_addition
  pool_after: [0]
trainer:
  max_epochs: 3
  progress_bar: false
evaluation:
  equivariance_elements: 3
  equivariance_examples: 8
paper:
  table: "3"
  accuracy: 99.6
  parameters: 12483
""",
    "tiny/cnn.yaml": """\
extends: tiny/gm
model:
  name: cnn-classifier
  channels: [4, 4]
""",
}


@pytest.fixture(autouse=True)
def isolated_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``$GMCNN_DATA`` and ``$GMCNN_RUNS`` inside ``tmp_path`` for every test."""
    monkeypatch.setenv("GMCNN_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("GMCNN_RUNS", str(tmp_path / "runs"))


@pytest.fixture
def tiny_configs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A config folder holding the ``tiny/*`` experiments, put first on the search path."""
    folder = tmp_path / "configs"
    for name, text in TINY.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text, encoding="utf-8")
    monkeypatch.setenv("GMCNN_CONFIG_PATH", str(folder))
    return folder
