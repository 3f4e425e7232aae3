"""Run folders: where one training run keeps its config, checkpoints, metrics and summary.

Layout of ``runs/DATASET/METHOD[,key=value…]/``::

    config.yaml          the resolved config (resuming checks the command against it)
    checkpoints/best.ckpt, checkpoints/last.ckpt
    metrics.csv          per-epoch metrics
    summary.json         parameters, FLOPs, test metrics, equivariance error, time per epoch

Every file is written atomically. A folder is never replaced without ``overwrite``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gmcnn.experiments.config import (
    ConfigError,
    ExperimentConfig,
    config_from_dict,
    differences,
)
from gmcnn.experiments.files import read_json, write_json, write_text

RUNS_ENV = "GMCNN_RUNS"


class RunFolderError(ValueError):
    """A run folder cannot be used as asked (exists, nothing to resume, wrong config)."""


def runs_root() -> Path:
    """``$GMCNN_RUNS`` or ``./runs``."""
    return Path(os.environ.get(RUNS_ENV, "runs"))


def default_run_dir(experiment: str, overrides: Sequence[str] = ()) -> Path:
    """``runs/DATASET/METHOD``, with the overrides appended (``…/gm-n3,seed=1``)."""
    name = Path(experiment).stem if experiment.endswith((".yaml", ".yml")) else experiment
    suffix = "".join("," + o.replace("/", "_") for o in sorted(overrides))
    return runs_root() / f"{name}{suffix}"


@dataclass(frozen=True)
class RunFolder:
    """The paths of one run."""

    path: Path

    @property
    def config(self) -> Path:
        return self.path / "config.yaml"

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def last(self) -> Path:
        return self.checkpoints / "last.ckpt"

    @property
    def best(self) -> Path:
        return self.checkpoints / "best.ckpt"

    @property
    def metrics(self) -> Path:
        return self.path / "metrics.csv"

    @property
    def summary(self) -> Path:
        return self.path / "summary.json"

    def check_available(self, config: ExperimentConfig, resume: bool, overwrite: bool) -> None:
        """Raise :class:`RunFolderError` unless the run may start (or resume) here."""
        if resume and overwrite:
            raise RunFolderError("choose either --resume or --overwrite, not both")
        if resume:
            if not self.last.is_file():
                raise RunFolderError(
                    f"nothing to resume in {self.path}: {self.last} does not exist"
                )
            self.check_config(config)
        elif not overwrite and self.path.exists() and any(self.path.iterdir()):
            raise RunFolderError(
                f"run folder {self.path} already exists; pass --overwrite to replace it or "
                "--resume to continue it"
            )

    def prepare(self, config: ExperimentConfig, resume: bool, overwrite: bool) -> None:
        """Create the folder for a new run, or check it for ``resume``; write ``config.yaml``."""
        self.check_available(config, resume, overwrite)
        if resume:
            return
        if self.path.exists():
            shutil.rmtree(self.path)
        self.checkpoints.mkdir(parents=True, exist_ok=True)
        write_text(self.config, yaml.safe_dump(config.to_dict(), sort_keys=False))

    def saved_config(self) -> dict[str, Any]:
        """The config this run was started with."""
        if not self.config.is_file():
            raise RunFolderError(f"{self.path} is not a run folder: {self.config} is missing")
        data = yaml.safe_load(self.config.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise RunFolderError(f"{self.config} does not hold a config mapping")
        return data

    def check_config(self, config: ExperimentConfig) -> None:
        """Refuse to resume with a config other than the one the run started with."""
        # Read the saved config through today's schema, so that a key added since the run
        # started compares equal when the new run leaves it at its default.
        saved = config_from_dict(self.saved_config(), str(self.config)).to_dict()
        changed = list(differences(saved, config.to_dict()))
        if changed:
            raise ConfigError(
                f"cannot resume {self.path} with a different config: key {changed[0]!r} "
                f"differs from {self.config}"
            )

    def write_summary(self, summary: dict[str, Any]) -> None:
        write_json(self.summary, summary)

    def read_summary(self) -> dict[str, Any]:
        data = read_json(self.summary)
        if not isinstance(data, dict):
            raise RunFolderError(f"{self.summary} does not hold a summary mapping")
        return data
