"""``gmcnn compare``: several methods of one dataset, trained alike, in one table (issue 6).

The paper's claim is comparative (Tables 1–3): GM-CNNs match approximately equivariant and
structured-matrix networks with far fewer parameters. :func:`compare` trains each method
``configs/DATASET/METHOD.yaml`` with the same trainer (:func:`gmcnn.experiments.training.train`)
on the same data, split, seed and epoch budget — the shared ``key=value`` overrides apply to
every method, ``METHOD:key=value`` to one — each into its own run folder under one compare
folder::

    runs/compare/DATASET/            (--output)
        METHOD/                      one run folder per method (config, checkpoints, summary)
        level-L/METHOD/              with --levels (App. E equivariance-test sets)
        compare.md                   the table (metric, parameters, FLOPs, s/epoch, equivariance)
        compare.json                 what was compared, with which overrides
        accuracy_vs_parameters.png   or rmse_vs_parameters.png
        model_vs_data_equivariance_error.png   with --levels

Everything a user can get wrong (a method name, an override, a level, a run folder in the
way, methods whose configs disagree on data, seed or epochs) is refused before anything
trains. A method that fails while training (a diverging loss, an error of its own) is
recorded as failed in its run folder and in the table, and the others still run.
``resume`` skips methods whose run folder holds a summary (completed or failed) and
continues interrupted ones from their last checkpoint.

``budget`` (``--budget 20m``) gives every method the same wall-clock training budget
(:mod:`gmcnn.experiments.budget`: ``trainer.max_minutes`` for all); ``trainer.max_epochs``
stays an upper bound, and ``compare.md`` says how many epochs each method reached and
whether the budget stopped it.
"""

from __future__ import annotations

import shlex
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gmcnn.experiments.budget import budget_overrides, budget_seconds, format_duration
from gmcnn.experiments.config import (
    ConfigError,
    ExperimentConfig,
    differences,
    list_experiments,
    load_config,
    parse_override,
)
from gmcnn.experiments.files import write_json, write_text
from gmcnn.experiments.report import ordered_splits, plot_summaries, report_table, run_label
from gmcnn.experiments.runs import RunFolder, runs_root

#: Config names left out of ``all``: the demo's own variants (name them to include them).
EXCLUDED_PREFIXES = ("demo-",)
#: Config keys that must agree between the compared methods (same data, split, seed, budget).
SHARED_KEYS = (
    "data.name",
    "data.source",
    "data.root",
    "data.options",
    "data.max_examples",
    "seed",
    "trainer.max_epochs",
    "trainer.max_minutes",
)


class CompareError(ValueError):
    """A comparison cannot run as asked; the message names the bad method, key or folder."""


@dataclass(frozen=True)
class PlannedRun:
    """One method (at one App. E level) of a comparison and where it trains."""

    method: str
    level: int | None
    config: ExperimentConfig
    run_dir: Path
    action: str = "train"  # train | resume | skip | overwrite

    @property
    def label(self) -> str:
        return self.method if self.level is None else f"{self.method} @ level {self.level}"


@dataclass
class Comparison:
    """The outcome: one summary per planned run, in plan order, and the files written."""

    dataset: str
    runs: list[PlannedRun]
    summaries: list[dict[str, Any]]
    table: str
    files: list[Path] = field(default_factory=list)

    @property
    def failed(self) -> list[tuple[PlannedRun, dict[str, Any]]]:
        return [
            (run, s)
            for run, s in zip(self.runs, self.summaries, strict=True)
            if s.get("status") != "completed"
        ]


# --- what to compare ------------------------------------------------------------------------


def dataset_methods(dataset: str) -> list[str]:
    """The METHOD of every ``configs/DATASET/METHOD.yaml`` (all config folders), sorted."""
    prefix = dataset.rstrip("/") + "/"
    return [
        name[len(prefix) :]
        for name in list_experiments()
        if name.startswith(prefix) and "/" not in name[len(prefix) :]
    ]


def _datasets() -> list[str]:
    return sorted({name.split("/")[0] for name in list_experiments() if "/" in name})


def select_methods(dataset: str, requested: Sequence[str] | None = None) -> list[str]:
    """The methods to compare: ``requested`` (``all`` / nothing: every non-demo config).

    Raises :class:`CompareError` naming the first unknown method and listing the available
    ones, or the datasets that have configs when ``dataset`` has none.
    """
    available = dataset_methods(dataset)
    if not available:
        raise CompareError(
            f"unknown experiment {dataset!r}: no configs/{dataset}/*.yaml; datasets with "
            "configs: " + ", ".join(_datasets())
        )
    default = [m for m in available if not m.startswith(EXCLUDED_PREFIXES)]
    chosen: list[str] = []
    for name in requested or ["all"]:
        name = name.strip()
        if not name:
            continue
        for method in default if name == "all" else [name]:
            if method not in available:
                raise CompareError(
                    f"unknown method {method!r} for {dataset}: available: "
                    + ", ".join(available)
                    + " (or all)"
                )
            if method not in chosen:
                chosen.append(method)
    if not chosen:
        raise CompareError(f"no methods given for {dataset}; available: {', '.join(available)}")
    return chosen


def parse_methods(text: str | None) -> list[str] | None:
    """``"gm,ldr-td-r1, circulant"`` → the names; ``None`` for nothing given."""
    if text is None:
        return None
    return [part.strip() for part in text.split(",") if part.strip()]


def parse_levels(text: str | None) -> list[int] | None:
    """``"0,2,4"`` → ``[0, 2, 4]``; a bad entry is a :class:`CompareError` naming it."""
    if text is None:
        return None
    levels: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            level = int(part)
        except ValueError:
            raise CompareError(f"--levels entry {part!r} is not an integer (e.g. 0,2,4)") from None
        if level not in levels:
            levels.append(level)
    if not levels:
        raise CompareError(f"--levels {text!r} names no level (e.g. 0,2,4)")
    return levels


def split_overrides(
    overrides: Sequence[str], methods: Sequence[str]
) -> tuple[list[str], dict[str, list[str]]]:
    """Shared ``key=value`` overrides, and per-method ``METHOD:key=value`` ones."""
    shared: list[str] = []
    own: dict[str, list[str]] = {m: [] for m in methods}
    for text in overrides:
        key = text.partition("=")[0]
        method, colon, _ = key.partition(":")
        if not colon:
            parse_override(text)  # checks the form
            shared.append(text)
            continue
        if method not in own:
            raise CompareError(
                f"override {text!r} names method {method!r}, which is not compared; compared: "
                + ", ".join(methods)
            )
        override = text[len(method) + 1 :]
        parse_override(override)
        own[method].append(override)
    return shared, own


def _value(config: ExperimentConfig, key: str) -> Any:
    node: Any = config.to_dict()
    for part in key.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def check_shared(runs: Sequence[PlannedRun]) -> None:
    """Refuse methods that disagree on :data:`SHARED_KEYS` (at the same level)."""
    for level in dict.fromkeys(run.level for run in runs):
        group = [run for run in runs if run.level == level]
        first = group[0]
        for run in group[1:]:
            for key in SHARED_KEYS:
                a, b = _value(first.config, key), _value(run.config, key)
                if a != b:
                    raise CompareError(
                        f"methods {first.method!r} and {run.method!r} differ in {key!r} "
                        f"({a!r} vs {b!r}); a comparison needs the same data, split, seed and "
                        f"epoch budget: set it for every method with {key}=VALUE"
                    )


def _level_option(config: ExperimentConfig) -> bool:
    from gmcnn.data import dataset_spec

    return "level" in dataset_spec(config.data.name).view_defaults


def _availability(run_dir: Path, config: ExperimentConfig, resume: bool, overwrite: bool) -> str:
    """What to do with ``run_dir``: ``train``, ``resume``, ``skip`` or ``overwrite``."""
    folder = RunFolder(run_dir)
    occupied = run_dir.exists() and any(run_dir.iterdir())
    if not occupied:
        return "train"
    if overwrite:
        folder.check_replaceable()  # a folder that is not a gmcnn run is never replaced
        return "overwrite"
    if not resume:
        raise CompareError(
            f"run folder {run_dir} already exists; pass --overwrite to replace the comparison "
            "or --resume to skip finished methods"
        )
    if folder.summary.is_file():
        if folder.config.is_file():
            _check_trained_config(folder, config)
        return "skip"
    if folder.last.is_file():
        folder.check_config(config)  # the trainer resumes only the very same config
        return "resume"
    folder.check_replaceable()
    return "overwrite"


def _check_trained_config(folder: RunFolder, config: ExperimentConfig) -> None:
    """Refuse to reuse a finished run trained otherwise; the paper's numbers and the
    description (which do not change training) may have been edited since."""
    changed = [
        key
        for key in differences(folder.saved_config(), config.to_dict())
        if not key.startswith(("paper.", "description"))
    ]
    if changed:
        raise ConfigError(
            f"cannot reuse {folder.path} with a different config: key {changed[0]!r} differs "
            f"from {folder.config}; pass --overwrite to retrain"
        )


def default_output(dataset: str) -> Path:
    """``runs/compare/DATASET`` (under ``$GMCNN_RUNS``)."""
    return runs_root() / "compare" / dataset.rstrip("/")


def plan(
    dataset: str,
    methods: Sequence[str] | None = None,
    overrides: Sequence[str] = (),
    *,
    output: Path | None = None,
    levels: Sequence[int] | None = None,
    resume: bool = False,
    overwrite: bool = False,
    budget: str | None = None,
) -> list[PlannedRun]:
    """Load and check every config and run folder of a comparison; train nothing.

    ``budget`` (e.g. ``"20m"``) sets ``trainer.max_minutes`` for every method; a bad
    duration, or a budget given twice, is a :class:`ConfigError`.
    """
    if resume and overwrite:
        raise CompareError("choose either --resume or --overwrite, not both")
    dataset = dataset.rstrip("/")
    overrides = budget_overrides(budget, overrides)
    chosen = select_methods(dataset, methods)
    shared, own = split_overrides(overrides, chosen)
    folder = output if output is not None else default_output(dataset)
    previous = [folder / name for name in ("compare.md", "compare.json")]
    if not (resume or overwrite) and any(path.is_file() for path in previous):
        raise CompareError(
            f"comparison {folder} already exists; pass --overwrite to replace it or --resume "
            "to skip finished methods (or --output DIR for a new one)"
        )
    if levels:
        from gmcnn.data.plume_equivariance import level_simulations

        for asked in levels:
            try:
                level_simulations(asked)
            except ValueError as error:
                raise CompareError(f"--levels: {error}") from None
    runs: list[PlannedRun] = []
    each_level: list[int | None] = list(levels) if levels else [None]
    for level in each_level:
        extra = [] if level is None else [f"data.options.level={level}"]
        for method in chosen:
            config = load_config(f"{dataset}/{method}", [*shared, *own[method], *extra])
            if level is not None and not _level_option(config):
                raise CompareError(
                    f"--levels needs a dataset with equivariance levels (plumes-equivariance); "
                    f"{dataset}/{method} trains on {config.data.name}"
                )
            run_dir = folder / method if level is None else folder / f"level-{level}" / method
            runs.append(PlannedRun(method, level, config, run_dir))
    check_shared(runs)
    return [
        PlannedRun(
            r.method,
            r.level,
            r.config,
            r.run_dir,
            _availability(r.run_dir, r.config, resume, overwrite),
        )
        for r in runs
    ]


# --- running --------------------------------------------------------------------------------


def _failed_summary(run: PlannedRun, error: BaseException) -> dict[str, Any]:
    return {
        "experiment": run.config.name,
        "task": run.config.task,
        "dataset": run.config.data.name,
        "model": run.config.model.name,
        "status": "failed",
        "error": f"{type(error).__name__}: {error}",
        "run_dir": str(run.run_dir),
        "paper": {k: v for k, v in vars(run.config.paper).items() if v not in (None, "")},
    }


def _train_one(run: PlannedRun, argv: Sequence[str] | None) -> dict[str, Any]:
    """Train ``run`` (or read it back when skipped); never raises for a failing method."""
    from gmcnn.experiments.training import train

    folder = RunFolder(run.run_dir)
    if run.action == "skip":
        return folder.read_summary()
    try:
        summary = train(
            run.config,
            run.run_dir,
            resume=run.action == "resume",
            overwrite=run.action == "overwrite",
            argv=argv,
        )
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as error:  # a method's own failure is reported, the others still run
        if folder.summary.is_file():  # the trainer recorded it (e.g. a diverging loss)
            recorded = folder.read_summary()
            if recorded.get("status") == "failed":
                return recorded
        summary = _failed_summary(run, error)
        folder.write_summary(summary)
        return summary
    if summary is None:  # a non-zero rank of a distributed launch
        raise CompareError("gmcnn compare runs its methods one after another in one process")
    return summary


def _one_line(summary: dict[str, Any]) -> str:
    if summary.get("status") != "completed":
        return f"failed: {summary.get('error', '?')}"
    parts = []
    for split, metrics in ordered_splits(summary.get("test", {})):
        if "accuracy" in metrics:
            parts.append(f"{split} accuracy {100 * metrics['accuracy']:.2f}%")
        elif "rmse" in metrics:
            parts.append(f"{split} rmse {metrics['rmse']:.4f}")
    parts.append(f"{summary.get('parameters', 0):,} parameters")
    if summary.get("epochs") is not None:
        spent = " (budget spent)" if summary.get("stopped_by_budget") else ""
        parts.append(f"{summary['epochs']} epochs{spent}")
    if summary.get("seconds_per_epoch"):
        parts.append(f"{summary['seconds_per_epoch']:.2f} s/epoch")
    return ", ".join(parts)


def _budget_lines(runs: Sequence[PlannedRun], summaries: Sequence[dict[str, Any]]) -> list[str]:
    """The training budget and, per method, the epochs reached and what ended training."""
    seconds = budget_seconds(runs[0].config.trainer.max_minutes) if runs else None
    if seconds is None:
        return []
    lines = [
        f"training budget: {format_duration(seconds)} of wall-clock time per method "
        f"(trainer.max_minutes={runs[0].config.trainer.max_minutes:g}), at most "
        f"{runs[0].config.trainer.max_epochs} epochs",
        "",
    ]
    for run, summary in zip(runs, summaries, strict=True):
        if summary.get("status") != "completed":
            continue
        if summary.get("stopped_by_budget"):
            why = "budget spent"
        elif summary.get("stopped_early"):
            why = "early stopping"
        else:
            why = "max_epochs reached"
        lines.append(f"- {run.label}: {summary.get('epochs')} epochs ({why})")
    return lines


def _markdown(
    dataset: str,
    runs: Sequence[PlannedRun],
    summaries: Sequence[dict[str, Any]],
    command: str,
    overrides: Sequence[str],
    plots: Sequence[Path],
) -> str:
    levels = sorted({r.level for r in runs if r.level is not None})
    lines = [
        f"# gmcnn compare {dataset}",
        "",
        f"command: `{command}`",
        "",
        "methods: " + ", ".join(dict.fromkeys(r.method for r in runs)),
    ]
    if levels:
        lines.append("levels: " + ", ".join(map(str, levels)))
    lines.append("overrides: " + (" ".join(f"`{o}`" for o in overrides) or "none"))
    budget = _budget_lines(runs, summaries)
    if budget:
        lines += ["", *budget]
    lines += ["", report_table(summaries).rstrip("\n")]
    failures = [s for s in summaries if s.get("status") != "completed"]
    if failures:
        lines += ["", "failed:"]
        lines += [f"- {run_label(s)}: {s.get('error', '?')}" for s in failures]
    if plots:
        lines += [""] + [f"![{p.stem}]({p.name})" for p in plots]
    return "\n".join(lines) + "\n"


def compare(
    dataset: str,
    methods: Sequence[str] | None = None,
    overrides: Sequence[str] = (),
    *,
    output: Path | None = None,
    levels: Sequence[int] | None = None,
    resume: bool = False,
    overwrite: bool = False,
    argv: Sequence[str] | None = None,
    log: Callable[[str], object] | None = None,
    budget: str | None = None,
) -> Comparison:
    """Train ``methods`` of ``dataset`` alike and write the comparison (module doc).

    ``overrides`` are ``key=value`` for every method or ``METHOD:key=value`` for one;
    ``levels`` trains every method on each App. E equivariance-test set; ``budget`` (e.g.
    ``"20m"``) is every method's wall-clock training budget. ``log`` receives one line per
    method as it starts and ends (default: print to stderr).
    """
    say = log or (lambda line: print(line, file=sys.stderr, flush=True))
    runs = plan(
        dataset,
        methods,
        overrides,
        output=output,
        levels=levels,
        resume=resume,
        overwrite=overwrite,
        budget=budget,
    )
    folder = output if output is not None else default_output(dataset)
    command = shlex.join(argv if argv is not None else ["gmcnn", "compare", dataset])
    record = {
        "dataset": dataset,
        "methods": list(dict.fromkeys(r.method for r in runs)),
        "levels": list(levels) if levels else None,
        "overrides": list(overrides),
        "budget": budget,
        "budget_seconds": budget_seconds(runs[0].config.trainer.max_minutes) if runs else None,
        "command": command,
        "runs": [{"method": r.method, "level": r.level, "run_dir": str(r.run_dir)} for r in runs],
    }
    write_json(folder / "compare.json", record)
    summaries: list[dict[str, Any]] = []
    for index, run in enumerate(runs, start=1):
        verb = {"skip": "finished, skipped", "resume": "resuming"}.get(run.action, "training")
        say(f"[{index}/{len(runs)}] {run.label}: {verb} in {run.run_dir}")
        started = time.time()
        summary = _train_one(run, argv)
        if run.level is not None:
            summary.setdefault("data_level", run.level)
        summaries.append(summary)
        seconds = time.time() - started
        say(f"[{index}/{len(runs)}] {run.label}: {_one_line(summary)} ({seconds:.0f} s)")
    plots = plot_summaries(summaries, folder)
    text = _markdown(dataset, runs, summaries, command, overrides, plots)
    path = folder / "compare.md"
    write_text(path, text)
    table = report_table(summaries)
    return Comparison(dataset, runs, summaries, table, [path, folder / "compare.json", *plots])


def describe_plan(runs: Sequence[PlannedRun]) -> str:
    """One line per planned run (``--dry-run``): method, level, action, run folder."""
    return "\n".join(f"{r.label}: {r.action} → {r.run_dir}" for r in runs)


__all__ = [
    "SHARED_KEYS",
    "CompareError",
    "Comparison",
    "PlannedRun",
    "compare",
    "dataset_methods",
    "default_output",
    "describe_plan",
    "parse_levels",
    "parse_methods",
    "plan",
    "select_methods",
    "split_overrides",
]
