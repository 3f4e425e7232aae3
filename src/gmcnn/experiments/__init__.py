"""Experiments: configs, training with Lightning, evaluation, reports and the benchmark.

- :func:`load_config` — ``configs/DATASET/METHOD.yaml`` with ``key=value`` overrides
- :func:`train` — train an experiment into a run folder; :func:`fit` — your model, your data
- :func:`dry_run` — build data and model, count parameters and FLOPs
- :func:`evaluate_saved` — test metrics of a run folder or checkpoint
- :func:`write_report` — markdown table and plots of finished runs
- :func:`compare` — several methods of one dataset trained alike, one table (``gmcnn compare``)

Names are imported on first use, so that ``gmcnn --help`` does not load Lightning.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "compare": "gmcnn.experiments.compare",
    "ConfigError": "gmcnn.experiments.config",
    "ExperimentConfig": "gmcnn.experiments.config",
    "list_experiments": "gmcnn.experiments.config",
    "load_config": "gmcnn.experiments.config",
    "evaluate_saved": "gmcnn.experiments.saved",
    "write_report": "gmcnn.experiments.report",
    "RunFolder": "gmcnn.experiments.runs",
    "RunFolderError": "gmcnn.experiments.runs",
    "NonFiniteLossError": "gmcnn.experiments.errors",
    "CheckpointError": "gmcnn.experiments.training",
    "dry_run": "gmcnn.experiments.training",
    "fit": "gmcnn.experiments.training",
    "train": "gmcnn.experiments.training",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'gmcnn.experiments' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
