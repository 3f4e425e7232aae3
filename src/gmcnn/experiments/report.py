"""Reports of finished runs: a markdown table like the paper's, and plots (``gmcnn report``).

The table has, per run, the test metric next to the paper's, the parameter count next to
the paper's, FLOPs per example (``torch.utils.flop_counter``), seconds per training epoch
and the model equivariance error. Plots: test accuracy (or rollout RMSE) against
parameters, and model against data equivariance error where runs record both (App. E).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from gmcnn.experiments.files import atomic_write, read_json, write_text
from gmcnn.experiments.runs import runs_root


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
        summaries.extend(read_json(f) for f in files)
    return summaries


def _metric(summary: dict[str, Any]) -> str:
    test = summary.get("test", {})
    if summary.get("status") != "completed":
        return f"{summary.get('status', '?')}"
    if summary["task"] == "classification":
        return f"{100 * test['test']['accuracy']:.2f}"
    return " / ".join(f"{test[s]['rmse']:.3f}" for s in ("test-future", "test-domain") if s in test)


def _paper_metric(summary: dict[str, Any]) -> str:
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
    """The markdown table of ``summaries`` (one row per run)."""
    header = (
        "| experiment | metric | paper | parameters | paper parameters | FLOPs / example "
        "| s / epoch | epochs | equivariance error |\n"
        "|---|---|---|---|---|---|---|---|---|\n"
    )
    rows = []
    for s in summaries:
        eq = s.get("equivariance") or {}
        rows.append(
            f"| {s['experiment']} | {_metric(s)} | {_paper_metric(s)} | "
            f"{_number(s.get('parameters'))} | {_number(s.get('paper', {}).get('parameters'))} | "
            f"{_number(s.get('flops_per_example'))} | {_number(s.get('seconds_per_epoch'), 2)} | "
            f"{_number(s.get('epochs'))} | "
            + (f"{eq['error']:.2e} ({eq['group']})" if "error" in eq else "—")
            + " |"
        )
    note = (
        "\nmetric: test accuracy (%) for classification, rollout RMSE future / domain for "
        "dynamics; equivariance error: mean ‖F(u·x) − u·F(x)‖ / ‖F(x)‖ over sampled u.\n"
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

    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for index, (x, y, label) in enumerate(points):
        ax.scatter([x], [y], color=f"C{index % 10}")
        ax.annotate(label, (x, y), fontsize=7, xytext=(4, 4), textcoords="offset points")
    for x, y, label in paper:
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
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=120))
    plt.close(fig)


def plot_summaries(summaries: Sequence[dict[str, Any]], folder: Path) -> list[Path]:
    """Write the report's plots into ``folder``; return their paths."""
    done = [s for s in summaries if s.get("status") == "completed"]
    written = []
    classification = [s for s in done if s["task"] == "classification"]
    if classification:
        path = folder / "accuracy_vs_parameters.png"
        points = [
            (s["parameters"], 100 * s["test"]["test"]["accuracy"], s["experiment"])
            for s in classification
        ]
        paper = [
            (s["paper"]["parameters"], s["paper"]["accuracy"], s["experiment"])
            for s in classification
            if {"parameters", "accuracy"} <= set(s.get("paper", {}))
        ]
        _scatter(points, "parameters", "test accuracy (%)", path, logx=True, paper=paper)
        written.append(path)
    dynamics = [s for s in done if s["task"] == "dynamics" and "test-future" in s["test"]]
    if dynamics:
        path = folder / "rmse_vs_parameters.png"
        points = [
            (s["parameters"], s["test"]["test-future"]["rmse"], s["experiment"]) for s in dynamics
        ]
        _scatter(points, "parameters", "rollout RMSE (future)", path, logx=True)
        written.append(path)
    paired = [s for s in done if s.get("data_equivariance_error") is not None]
    if paired:
        path = folder / "model_vs_data_equivariance_error.png"
        points = [
            (s["data_equivariance_error"], s["equivariance"]["error"], s["experiment"])
            for s in paired
        ]
        _scatter(points, "data equivariance error", "model equivariance error", path, False)
        written.append(path)
    return written


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
    lines.append(
        f"epochs: {summary['epochs']}, {summary['seconds_per_epoch']:.2f} s per epoch"
        if summary.get("seconds_per_epoch")
        else f"epochs: {summary['epochs']}"
    )
    return "\n".join(lines)


def format_results(results: dict[str, Any]) -> str:
    """Test metrics and equivariance error as ``key: value`` lines."""
    test = results.get("test", results)
    lines = []
    for split, metrics in test.items():
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
