"""Reports of finished runs: a markdown table like the paper's, and plots (``gmcnn report``).

The table has, per run, the run folder and when it finished (to tell several runs of one
experiment apart), the test metric next to the paper's, the parameter count next to the
paper's, FLOPs per example (``torch.utils.flop_counter``), seconds per training epoch (the
mean without the first, warm-up epoch) and the model equivariance error. A run on a subset
of the data (``data.max_examples``) is marked "subset: N examples" and the paper's metric is
not shown next to it, nor plotted. Plots: test accuracy (or rollout RMSE) against
parameters, and model against data equivariance error where runs record both (App. E).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from gmcnn.experiments.files import atomic_write, read_json, write_text
from gmcnn.experiments.runs import runs_root

#: The order in which test splits are shown: as they are evaluated (``TEST_SPLITS`` of
#: :mod:`gmcnn.experiments.data`), Future before Domain as in Tables 1–2. Summary files store
#: them sorted by name, so every table and line puts them in this order instead.
SPLIT_ORDER = ("test", "test-future", "test-domain", "valid")


def ordered_splits(test: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """``test``'s ``(split, metrics)`` pairs in :data:`SPLIT_ORDER` (others after, by name)."""
    rank = {split: index for index, split in enumerate(SPLIT_ORDER)}
    return sorted(test.items(), key=lambda item: (rank.get(item[0], len(rank)), item[0]))


def collect_summaries(paths: Iterable[Path]) -> list[dict[str, Any]]:
    """The ``summary.json`` of each run folder, searching given folders recursively."""
    summaries: list[dict[str, Any]] = []
    for path in paths:
        if not path.exists():
            raise FileNotFoundError(f"run folder {path} does not exist")
        files = (
            [path / "summary.json"]
            if (path / "summary.json").is_file()
            else sorted(path.rglob("summary.json"))
        )
        if not files:
            raise FileNotFoundError(f"{path} holds no summary.json (is the run finished?)")
        summaries.extend(_with_run(_with_level(read_json(f), f.parent), f.parent) for f in files)
    return summaries


def _with_run(summary: dict[str, Any], run_dir: Path) -> dict[str, Any]:
    """Record the run folder's name, when the run finished, and (for runs written before
    summaries recorded it) whether it trained on a subset (``data.max_examples``)."""
    summary = {**summary, "run_name": run_dir.name}
    if "finished" not in summary:
        import time

        stamp = time.localtime((run_dir / "summary.json").stat().st_mtime)
        summary["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z", stamp)
    config = run_dir / "config.yaml"
    if "subset" not in summary and config.is_file():
        import yaml

        saved = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
        limit = (saved.get("data") or {}).get("max_examples")
        sizes = summary.get("splits") or {}
        if isinstance(limit, int) and any(size == limit for size in sizes.values()):
            summary["subset"] = {"max_examples": limit, "full_sizes": {}}
    return summary


def subset_note(summary: dict[str, Any]) -> str | None:
    """``"subset: N examples"`` for a run on the first N examples of each split, else ``None``."""
    subset = summary.get("subset")
    if not subset:
        return None
    return f"subset: {subset['max_examples']:,} examples"


def _run_cell(summary: dict[str, Any]) -> str:
    """The run folder's name and when the run finished (``gm-n3,seed=1 (2026-11-27 09:42)``)."""
    name = summary.get("run_name")
    if name is None and summary.get("run_dir"):
        name = Path(str(summary["run_dir"])).name
    finished = str(summary.get("finished", ""))[:16].replace("T", " ")
    if not name:
        return finished or "—"
    return f"{name} ({finished})" if finished else str(name)


def _with_level(summary: dict[str, Any], run_dir: Path) -> dict[str, Any]:
    """Record the App. E equivariance level (``data.options.level`` of the run's config)."""
    config = run_dir / "config.yaml"
    if "data_level" in summary or not config.is_file():
        return summary
    import yaml

    saved = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
    level = ((saved.get("data") or {}).get("options") or {}).get("level")
    if summary.get("dataset") == "plumes-equivariance" or level is not None:
        summary = {**summary, "data_level": 0 if level is None else level}
    return summary


def run_label(summary: dict[str, Any]) -> str:
    """The experiment's name, with its App. E level when it has one (``… @ level 2``)."""
    name = str(summary.get("experiment", "?"))
    level = summary.get("data_level")
    return name if level is None else f"{name} @ level {level}"


def _metric(summary: dict[str, Any]) -> str:
    test = summary.get("test", {})
    if summary.get("status") != "completed":
        return f"{summary.get('status', '?')}"
    if summary["task"] == "classification":
        return f"{100 * test['test']['accuracy']:.2f}"
    return " / ".join(f"{m['rmse']:.3f}" for _, m in ordered_splits(test) if "rmse" in m)


def _first_rmse(summary: dict[str, Any]) -> tuple[str, float] | None:
    """The first evaluated split's rollout RMSE (``test-future`` for Tables 1–2)."""
    for split, metrics in ordered_splits(summary.get("test", {})):
        if isinstance(metrics, dict) and "rmse" in metrics:
            return split, float(metrics["rmse"])
    return None


def _paper_metric(summary: dict[str, Any]) -> str:
    if subset_note(summary) is not None:
        return "— (subset)"
    paper = summary.get("paper", {})
    if "accuracy" in paper:
        return f"{paper['accuracy']:.2f}"
    values = [paper[k] for k in ("rmse_future", "rmse_domain") if k in paper]
    return " / ".join(f"{v:.2f}" for v in values) if values else "—"


def _number(value: Any, digits: int = 0) -> str:
    if value is None:
        return "—"
    return f"{value:,.{digits}f}" if isinstance(value, float) else f"{value:,}"


def report_table(summaries: Sequence[dict[str, Any]]) -> str:
    """The markdown table of ``summaries`` (one row per run).

    A column of data equivariance errors (App. E) is added when a run records one.
    """
    with_data = any(s.get("data_equivariance_error") is not None for s in summaries)
    header = (
        "| experiment | metric | paper | parameters | paper parameters | FLOPs / example "
        "| s / epoch | epochs | equivariance error |"
        + (" data equivariance error |" if with_data else "")
        + " run |\n|---|---|---|---|---|---|---|---|---|"
        + ("---|" if with_data else "")
        + "---|\n"
    )
    rows = []
    for s in summaries:
        eq = s.get("equivariance") or {}
        data_error = s.get("data_equivariance_error")
        subset = subset_note(s)
        label = run_label(s) + (f" ({subset})" if subset else "")
        rows.append(
            f"| {label} | {_metric(s)} | {_paper_metric(s)} | "
            f"{_number(s.get('parameters'))} | {_number(s.get('paper', {}).get('parameters'))} | "
            f"{_number(s.get('flops_per_example'))} | {_number(s.get('seconds_per_epoch'), 2)} | "
            f"{_number(s.get('epochs'))} | "
            + (f"{eq['error']:.2e} ({eq['group']})" if "error" in eq else "—")
            + " |"
            + ((" —" if data_error is None else f" {data_error:.3f}") + " |" if with_data else "")
            + f" {_run_cell(s)} |"
        )
    splits = list(
        dict.fromkeys(
            split
            for s in summaries
            if s.get("task") == "dynamics"
            for split, _ in ordered_splits(s.get("test", {}))
        )
    )
    dynamics = " / ".join(splits) if splits else "test-future / test-domain"
    note = (
        f"\nmetric: test accuracy (%) for classification, rollout RMSE ({dynamics}) for "
        "dynamics; equivariance error: mean ‖F(u·x) − u·F(x)‖ / ‖F(x)‖ over sampled u; "
        "s / epoch: mean training time of the epochs after the first (warm-up) one, when "
        "more than one ran.\n"
    )
    if any(subset_note(s) for s in summaries):
        note += (
            "subset: trained and tested on the first N examples of each split "
            "(data.max_examples), not comparable with the paper's number, which is left out.\n"
        )
    return header + "\n".join(rows) + "\n" + note


def _scatter(
    points: list[tuple[float, float, str]],
    xlabel: str,
    ylabel: str,
    path: Path,
    logx: bool,
    paper: Sequence[tuple[float, float, str]] = (),
) -> None:
    """Labelled points (filled: this project; hollow: the paper's numbers) saved as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dataset, labels = shared_dataset([label for *_, label in (*points, *paper)])
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for index, (x, y, _) in enumerate(points):
        ax.scatter([x], [y], color=f"C{index % 10}")
        ax.annotate(labels[index], (x, y), fontsize=7, xytext=(4, 4), textcoords="offset points")
    for (x, y, _), label in zip(paper, labels[len(points) :], strict=True):
        ax.scatter([x], [y], facecolors="none", edgecolors="grey")
        ax.annotate(
            f"{label} (paper)",
            (x, y),
            fontsize=6,
            color="grey",
            xytext=(4, -9),
            textcoords="offset points",
        )
    xs = [x for x, _, _ in (*points, *paper)]
    if logx and max(xs) > 10 * min(xs):
        ax.set_xscale("log")
    ax.margins(x=0.2, y=0.1)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if dataset:
        ax.set_title(dataset, fontsize=9)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=120))
    plt.close(fig)


def shared_dataset(labels: Sequence[str]) -> tuple[str | None, list[str]]:
    """``(dataset, short labels)``: when every label is ``DATASET/method…`` with one dataset,
    that dataset (a plot's title) and the labels without it; else ``(None, labels)``."""
    datasets = {label.partition("/")[0] for label in labels}
    if len(datasets) != 1 or not all("/" in label for label in labels):
        return None, list(labels)
    return datasets.pop(), [label.partition("/")[2] for label in labels]


def plot_summaries(summaries: Sequence[dict[str, Any]], folder: Path) -> list[Path]:
    """Write the report's plots into ``folder``; return their paths."""
    done = [s for s in summaries if s.get("status") == "completed"]
    written = []
    classification = [s for s in done if s["task"] == "classification"]
    if classification:
        path = folder / "accuracy_vs_parameters.png"
        points = [
            (s["parameters"], 100 * s["test"]["test"]["accuracy"], run_label(s))
            for s in classification
        ]
        paper = [
            (s["paper"]["parameters"], s["paper"]["accuracy"], s["experiment"])
            for s in classification
            if {"parameters", "accuracy"} <= set(s.get("paper", {})) and not subset_note(s)
        ]
        _scatter(points, "parameters", "test accuracy (%)", path, logx=True, paper=paper)
        written.append(path)
    dynamics = [
        (s, rmse) for s in done if s["task"] == "dynamics" and (rmse := _first_rmse(s)) is not None
    ]
    if dynamics:
        path = folder / "rmse_vs_parameters.png"
        points = [(s["parameters"], value, run_label(s)) for s, (_, value) in dynamics]
        splits = ", ".join(dict.fromkeys(split for _, (split, _) in dynamics))
        _scatter(points, "parameters", f"rollout RMSE ({splits})", path, logx=True)
        written.append(path)
    paired = [s for s in done if s.get("data_equivariance_error") is not None]
    if paired:
        path = folder / "model_vs_data_equivariance_error.png"
        _equivariance_lines(paired, path)
        written.append(path)
    return written


def _equivariance_lines(summaries: Sequence[dict[str, Any]], path: Path) -> None:
    """App. E's plot: model against data equivariance error, one line and colour per method.

    Each point is labelled with its level (``E_2``); methods are told apart by the legend.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods: dict[str, list[dict[str, Any]]] = {}
    for s in summaries:
        methods.setdefault(str(s["experiment"]), []).append(s)
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for index, (method, runs) in enumerate(methods.items()):
        runs = sorted(runs, key=lambda s: s["data_equivariance_error"])
        xs = [s["data_equivariance_error"] for s in runs]
        ys = [s["equivariance"]["error"] for s in runs]
        colour = f"C{index % 10}"
        ax.plot(xs, ys, marker="o", color=colour, label=method.split("/")[-1])
        for x, y, s in zip(xs, ys, runs, strict=True):
            level = s.get("data_level")
            text = f"E_{level}" if level is not None else method.split("/")[-1]
            ax.annotate(
                text, (x, y), fontsize=6, color=colour, xytext=(3, 3), textcoords="offset points"
            )
    errors = [float(s["equivariance"]["error"]) for s in summaries]
    if min(errors) > 0 and max(errors) > 100 * min(errors):  # exact models next to free ones
        ax.set_yscale("log")
    groups = sorted({str(s["equivariance"].get("group", "?")) for s in summaries})
    ax.set_xlabel("data equivariance error")
    ax.set_ylabel("model equivariance error (" + ", ".join(groups) + ")")
    ax.margins(x=0.1, y=0.1)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=120))
    plt.close(fig)


def write_report(runs: Sequence[Path], output: Path | None = None) -> Path:
    """Write ``report.md`` and its plots for the runs under ``runs``; return its path."""
    summaries = collect_summaries(runs)
    folder = output or runs_root() / "report"
    plots = plot_summaries(summaries, folder)
    text = "# Results\n\n" + report_table(summaries)
    if plots:
        text += "\n" + "\n".join(f"![{p.stem}]({p.name})" for p in plots) + "\n"
    path = folder / "report.md"
    write_text(path, text)
    return path


def format_run(summary: dict[str, Any]) -> str:
    """A few lines about a finished run (printed by ``gmcnn train``)."""
    lines = [f"run: {summary['run_dir']}", f"parameters: {summary['parameters']}"]
    lines.append(f"flops per example: {summary['flops_per_example']:,}")
    lines.extend(format_results(summary).splitlines())
    seconds = summary.get("seconds_per_epoch")
    if not seconds:
        lines.append(f"epochs: {summary['epochs']}")
    elif summary.get("seconds_per_epoch_excludes_first"):
        lines.append(
            f"epochs: {summary['epochs']}, {seconds:.2f} s per epoch (mean without the first, "
            f"warm-up epoch, which took {summary['first_epoch_seconds']:.2f} s)"
        )
    else:
        lines.append(f"epochs: {summary['epochs']}, {seconds:.2f} s per epoch")
    return "\n".join(lines)


def _splits_of(results: dict[str, Any]) -> dict[str, Any]:
    """``split → metrics`` of a summary or an evaluation (``results["test"]``).

    Also reads the flat layouts: metrics directly under ``test`` (one split), or splits at
    the top level (``evaluate()``'s own result).
    """
    test = results.get("test")
    if isinstance(test, dict):
        if any(isinstance(v, dict) for v in test.values()):
            return test
        return {"test": test}
    return {k: v for k, v in results.items() if isinstance(v, dict) and k != "equivariance"}


def format_results(results: dict[str, Any]) -> str:
    """Test metrics and equivariance error as ``key: value`` lines.

    ``results`` is a run's summary or :func:`~gmcnn.experiments.saved.evaluate_saved`'s
    result (``test`` maps each split to its metrics). A run on a subset says so first.
    """
    lines = []
    subset = subset_note(results)
    if subset:
        lines.append(f"{subset} per split (data.max_examples): not comparable with the paper")
    for split, metrics in ordered_splits(_splits_of(results)):
        if not isinstance(metrics, dict) or split == "equivariance":
            continue
        if "accuracy" in metrics:
            lines.append(f"{split} accuracy: {100 * metrics['accuracy']:.2f}%")
        if "rmse" in metrics:
            steps = ", ".join(f"{v:.3f}" for v in metrics["rmse_per_step"])
            lines.append(f"{split} rmse: {metrics['rmse']:.4f} (per step: {steps})")
    eq = results.get("equivariance")
    if eq:
        lines.append(
            f"equivariance error: {eq['error']:.3e} ({eq['elements']} elements of {eq['group']})"
        )
    return "\n".join(lines)
