"""Run folders: where one training run keeps its config, checkpoints, metrics and summary.

Layout of ``runs/DATASET/METHOD[,key=value…]/``::

    config.yaml          the resolved config (resuming checks the command against it)
    checkpoints/best.ckpt, checkpoints/last.ckpt
    metrics.csv          per-epoch metrics
    summary.json         parameters, FLOPs, test metrics, equivariance error, time per epoch

Every file is written atomically. A folder is never replaced without ``overwrite``, and
``overwrite`` replaces only a folder that is a gmcnn run (:meth:`RunFolder.foreign_content`):
one holding anything else (a user's ``thesis.txt``) is refused.
"""

from __future__ import annotations

import os
import re
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


#: The entries a run folder may hold: what :class:`RunFolder` and the trainer write.
RUN_ENTRIES = frozenset(
    {"config.yaml", "checkpoints", "metrics.csv", "summary.json", "tensorboard"}
)


#: An atomic write's temporary file, ``.NAME.PID.tmp``, left behind by a killed run.
_TEMPORARY = re.compile(r"^\..+\.\d+\.tmp$")
#: What Lightning's TensorBoard logger writes into ``tensorboard/``.
_TENSORBOARD = re.compile(r"^(events\.out\.tfevents\..+|hparams\.yaml)$")


def _is_temporary(name: str) -> bool:
    return _TEMPORARY.match(name) is not None


def _writable_parent(path: Path) -> None:
    """Raise :class:`RunFolderError` unless ``path`` can be created as a folder."""
    ancestor = path
    while not ancestor.exists() and not ancestor.is_symlink():
        if ancestor.parent == ancestor:
            break
        ancestor = ancestor.parent
    if ancestor == path:
        if not path.is_dir():
            raise RunFolderError(f"run folder {path} exists and is not a folder")
        return
    if not ancestor.is_dir():
        raise RunFolderError(f"cannot create run folder {path}: {ancestor} is a file, not a folder")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise RunFolderError(f"cannot create run folder {path}: {ancestor} is not writable")


def launched_as_rank_zero() -> bool:
    """Whether this process is the first of a (possibly distributed) launch."""
    return all(os.environ.get(var, "0") == "0" for var in ("RANK", "LOCAL_RANK", "NODE_RANK"))


def runs_root() -> Path:
    """``$GMCNN_RUNS`` or ``./runs``."""
    return Path(os.environ.get(RUNS_ENV, "runs"))


def default_run_dir(experiment: str, overrides: Sequence[str] = ()) -> Path:
    """``runs/DATASET/METHOD``, with the overrides appended (``…/gm-n3,seed=1``)."""
    name = Path(experiment).stem if experiment.endswith((".yaml", ".yml")) else experiment
    suffix = "".join("," + o.replace("/", "_") for o in sorted(overrides))
    return runs_root() / f"{name}{suffix}"


def resume_run_dir(experiment: str, overrides: Sequence[str] = ()) -> Path:
    """The default run folder to ``--resume``, allowing a larger ``trainer.max_epochs``.

    :func:`default_run_dir` names a folder after its overrides, so a resume that raises
    ``trainer.max_epochs`` names another folder; this finds the run of the same experiment
    and other overrides (its ``trainer.max_epochs`` read from its ``config.yaml``). More
    than one such run is a :class:`RunFolderError` asking for ``--run-dir``.
    """
    exact = default_run_dir(experiment, overrides)
    if RunFolder(exact).last.is_file():
        return exact
    others = [o for o in overrides if o.partition("=")[0].strip() != "trainer.max_epochs"]
    if len(others) == len(overrides) and not exact.parent.is_dir():
        return exact
    found = []
    for folder in sorted(exact.parent.iterdir()) if exact.parent.is_dir() else []:
        run = RunFolder(folder)
        if not run.last.is_file() or not run.config.is_file():
            continue
        try:
            epochs = run.saved_config().get("trainer", {}).get("max_epochs")
        except (RunFolderError, yaml.YAMLError):
            continue
        names = {
            default_run_dir(experiment, others).name,
            default_run_dir(experiment, [*others, f"trainer.max_epochs={epochs}"]).name,
        }
        if folder.name in names:
            found.append(folder)
    if len(found) > 1:
        raise RunFolderError(
            f"several runs of {experiment} could be resumed ({', '.join(map(str, found))}); "
            "say which with --run-dir"
        )
    return found[0] if found else exact


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

    def foreign_content(self) -> str | None:
        """Why this folder is not a gmcnn run that ``overwrite`` may replace, or ``None``.

        A run folder holds only :data:`RUN_ENTRIES` (and temporaries of atomic writes), its
        ``config.yaml`` is a gmcnn config and ``checkpoints/`` holds only ``.ckpt`` files. A
        folder that does not exist, or holds nothing but empty run sub-folders (a start that
        was killed before writing ``config.yaml``), may be replaced too.
        """
        if self.path.is_symlink():
            return "it is a symbolic link"
        if not self.path.exists():
            return None
        if not self.path.is_dir():
            return "it is a file, not a folder"
        entries = sorted(self.path.iterdir())
        for entry in entries:
            if entry.name not in RUN_ENTRIES and not _is_temporary(entry.name):
                return f"it holds {entry.name!r}, which is not part of a gmcnn run"
        if self.checkpoints.is_dir():
            for entry in sorted(self.checkpoints.iterdir()):
                if entry.suffix != ".ckpt" and not _is_temporary(entry.name):
                    return f"its checkpoints folder holds {entry.name!r}, which is not a checkpoint"
        board = self.path / "tensorboard"
        if board.is_dir():
            for entry in sorted(board.iterdir()):
                if not (entry.is_file() and _TENSORBOARD.match(entry.name)):
                    return f"its tensorboard folder holds {entry.name!r}, which gmcnn did not write"
        for entry in entries:
            if entry.name in ("metrics.csv", "summary.json", "config.yaml") and not entry.is_file():
                return f"its {entry.name!r} is not a file"
        if not self.config.is_file():
            if all(e.is_dir() and not any(e.iterdir()) for e in entries):
                return None
            return "it has no config.yaml"
        try:
            saved = self.saved_config()
        except (RunFolderError, yaml.YAMLError, UnicodeDecodeError):
            return f"its {self.config.name} is not a gmcnn config"
        # The sections every config gmcnn writes has (train and fit() alike), not just two
        # common key names that other tools' configs share.
        sections = all(isinstance(saved.get(k), dict) for k in ("data", "optimizer", "trainer"))
        if not (
            sections
            and {"task", "model", "seed"} <= set(saved)
            and "batch_size" in saved["data"]
            and "max_epochs" in saved["trainer"]
            and "lr" in saved["optimizer"]
        ):
            return f"its {self.config.name} is not a gmcnn config"
        return None

    def check_replaceable(self) -> None:
        """Raise :class:`RunFolderError` unless ``overwrite`` may delete this folder."""
        reason = self.foreign_content()
        if reason is not None:
            raise RunFolderError(
                f"refusing to replace {self.path}: {reason}; --overwrite replaces only a gmcnn "
                "run folder (choose another --run-dir, or move the folder away yourself)"
            )

    def check_available(self, config: ExperimentConfig, resume: bool, overwrite: bool) -> None:
        """Raise :class:`RunFolderError` unless the run may start (or resume) here."""
        if resume and overwrite:
            raise RunFolderError("choose either --resume or --overwrite, not both")
        _writable_parent(self.path)
        if resume:
            if not self.last.is_file():
                raise RunFolderError(
                    f"nothing to resume in {self.path}: {self.last} does not exist"
                )
            self.check_config(config)
        elif overwrite:
            self.check_replaceable()
        elif self.path.exists() and any(self.path.iterdir()):
            raise RunFolderError(
                f"run folder {self.path} already exists; pass --overwrite to replace it or "
                "--resume to continue it"
            )

    def prepare(self, config: ExperimentConfig, resume: bool, overwrite: bool) -> None:
        """Create the folder for a new run, or check it for ``resume``; write ``config.yaml``.

        Resuming with a larger ``trainer.max_epochs`` records the new value in ``config.yaml``.
        """
        self.check_available(config, resume, overwrite)
        if resume:
            if self.saved_config().get("trainer", {}).get("max_epochs") != (
                config.trainer.max_epochs
            ):
                write_text(self.config, yaml.safe_dump(config.to_dict(), sort_keys=False))
            return
        if self.path.exists():
            self.check_replaceable()  # never delete anything but a run
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
        """Refuse to resume with a config other than the one the run started with.

        Only ``trainer.max_epochs`` may change, and only upwards: a finished or interrupted
        run is extended to the new number of epochs.
        """
        # Read the saved config through today's schema, so that a key added since the run
        # started compares equal when the new run leaves it at its default.
        saved = config_from_dict(self.saved_config(), str(self.config)).to_dict()
        changed = [k for k in differences(saved, config.to_dict()) if k != "trainer.max_epochs"]
        if changed:
            raise ConfigError(
                f"cannot resume {self.path} with a different config: key {changed[0]!r} "
                f"differs from {self.config} (only trainer.max_epochs may grow)"
            )
        before, after = saved["trainer"]["max_epochs"], config.trainer.max_epochs
        if after < before:
            raise ConfigError(
                f"cannot resume {self.path} with trainer.max_epochs={after}: it was started "
                f"with {before}; resuming may only raise it"
            )

    def write_summary(self, summary: dict[str, Any]) -> None:
        write_json(self.summary, summary)

    def read_summary(self) -> dict[str, Any]:
        data = read_json(self.summary)
        if not isinstance(data, dict):
            raise RunFolderError(f"{self.summary} does not hold a summary mapping")
        return data
