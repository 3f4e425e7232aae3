"""``gmcnn train | evaluate | report | compare | bench``: the experiment commands.

Every error a user can cause (bad config key or value, missing dataset, run folder in the
way, checkpoint of another architecture) is raised before anything is written and printed
by :func:`gmcnn.cli.main` as one line ``error: …`` with exit status 2; a run that fails
(diverging loss, failed methods of a comparison) exits with status 1. Nothing heavy is
imported before the command's arguments and config are checked.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def _positive_int(text: str) -> int:
    """An ``argparse`` type: an integer ≥ 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive integer")
    return value


def _train(args: argparse.Namespace) -> int:
    from gmcnn.experiments.config import list_experiments, load_config, protocol_experiment
    from gmcnn.experiments.runs import (
        RunFolder,
        default_run_dir,
        launched_as_rank_zero,
        resume_run_dir,
    )

    if args.list:
        print("\n".join(list_experiments()))
        return 0
    if args.experiment is None:
        raise ValueError("give an EXPERIMENT (DATASET/METHOD); `gmcnn train --list` lists them")
    args.experiment = protocol_experiment(args.experiment, args.protocol)
    from gmcnn.experiments.budget import budget_overrides

    overrides = budget_overrides(args.budget, args.overrides)  # --budget: trainer.max_minutes
    config = load_config(args.experiment, overrides)  # checked before Lightning loads
    if args.dry_run:
        from gmcnn.experiments.training import dry_run, format_description

        print(format_description(dry_run(config)))
        return 0
    named = [*args.overrides, f"budget={args.budget}"] if args.budget else args.overrides
    if args.run_dir:
        run_dir = Path(args.run_dir)
    elif args.resume:  # may raise trainer.max_epochs, which changes the default folder name
        run_dir = resume_run_dir(args.experiment, named)
        print(f"resuming {run_dir}", file=sys.stderr)
    else:
        run_dir = default_run_dir(args.experiment, named)
    if launched_as_rank_zero():  # the run folder is checked before Lightning is loaded
        RunFolder(run_dir).check_available(config, args.resume, args.overwrite)
    from gmcnn.experiments.training import train

    summary = train(config, run_dir, resume=args.resume, overwrite=args.overwrite)
    if summary is not None:
        from gmcnn.experiments.report import format_run

        print(format_run(summary))
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from gmcnn.experiments.report import format_results
    from gmcnn.experiments.saved import evaluate_saved

    results = evaluate_saved(
        Path(args.target), experiment=args.experiment, overrides=args.overrides
    )
    if results.get("recorded"):
        print(
            f"{args.target} was trained by fit() on data held in memory: these are the test "
            "metrics it recorded (evaluate again from Python with "
            "evaluate_saved(RUN, model=..., test_data=...))"
        )
    print(f"checkpoint: {results['checkpoint']}")
    print(format_results(results))
    return 0


def _report(args: argparse.Namespace) -> int:
    from gmcnn.experiments.report import write_report

    path = write_report([Path(r) for r in args.runs], Path(args.output) if args.output else None)
    print(path.read_text(encoding="utf-8"))
    print(f"report written to {path}")
    return 0


def _compare_command(args: argparse.Namespace) -> list[str]:
    """The ``gmcnn compare …`` command line of ``args`` (recorded in compare.json and runs)."""
    command = ["gmcnn", "compare", args.experiment]
    for option in ("methods", "levels", "output", "budget", "protocol"):
        if getattr(args, option):
            command += [f"--{option}", str(getattr(args, option))]
    command += [f"--{flag}" for flag in ("resume", "overwrite") if getattr(args, flag)]
    return [*command, *args.overrides]


def _compare(args: argparse.Namespace) -> int:
    from gmcnn.experiments.config import protocol_experiment

    argv = _compare_command(args)
    args.experiment = protocol_experiment(args.experiment, args.protocol)
    from gmcnn.experiments.compare import (
        compare,
        dataset_methods,
        describe_plan,
        parse_levels,
        parse_methods,
        plan,
        select_methods,
    )

    methods = parse_methods(args.methods)
    if args.list:
        select_methods(args.experiment, None)  # an unknown dataset is an error
        print("\n".join(dataset_methods(args.experiment)))
        return 0
    levels = parse_levels(args.levels)
    output = Path(args.output) if args.output else None
    options = {"output": output, "levels": levels, "resume": args.resume, "budget": args.budget}
    if args.dry_run:
        runs = plan(args.experiment, methods, args.overrides, overwrite=args.overwrite, **options)
        print(describe_plan(runs))
        return 0
    result = compare(
        args.experiment,
        methods,
        args.overrides,
        overwrite=args.overwrite,
        argv=argv,
        **options,
    )
    print(result.table)
    for path in result.files:
        print(f"written: {path}")
    if result.failed:
        names = ", ".join(run.label for run, _ in result.failed)
        print(
            f"error: {len(result.failed)} of {len(result.runs)} methods failed: {names}",
            file=sys.stderr,
        )
        return 1
    return 0


def _bench(args: argparse.Namespace) -> int:
    from gmcnn.experiments.bench import BENCH_CASES, format_bench, run_bench, run_layer_benchmark

    names = args.experiments or list(BENCH_CASES)
    rows = run_bench(names, batch_size=args.batch_size, repeats=args.repeats)
    print(format_bench(rows, args.batch_size))
    if args.layers:
        return run_layer_benchmark()
    return 0


def register(subparsers: Any) -> None:
    """Add ``train``, ``evaluate``, ``report``, ``compare`` and ``bench`` to the sub-parsers."""
    train = subparsers.add_parser(
        "train",
        help="train an experiment (configs/DATASET/METHOD.yaml)",
        description="Train EXPERIMENT (DATASET/METHOD, e.g. rectangles/gm-n3, or a YAML path) "
        "with key=value overrides (e.g. trainer.max_epochs=5 model.radius=2). Runs go to "
        "runs/DATASET/METHOD[,overrides] unless --run-dir is given.",
    )
    train.add_argument("experiment", nargs="?", help="DATASET/METHOD or a path to a YAML file")
    train.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides")
    train.add_argument(
        "--dry-run",
        action="store_true",
        help="build data and model, print parameters and FLOPs, do not train",
    )
    train.add_argument(
        "--resume",
        action="store_true",
        help="continue the run from the end of its last completed epoch (the same config; "
        "trainer.max_epochs=N may raise the number of epochs)",
    )
    train.add_argument("--overwrite", action="store_true", help="replace an existing run folder")
    train.add_argument("--run-dir", help="run folder (default runs/DATASET/METHOD[,overrides])")
    train.add_argument("--list", action="store_true", help="list the experiments and exit")
    train.add_argument(
        "--budget",
        metavar="DURATION",
        help="wall-clock training budget, e.g. 90s, 20m, 1h (trainer.max_minutes; --resume "
        "continues with the remaining time); validation and test still run after it",
    )
    train.add_argument(
        "--protocol",
        choices=("paper", "cpu"),
        help="cpu: the reduced CPU protocol of the same experiment, configs/DATASET/cpu/METHOD "
        "(plume sets: 32×32, every 4th training window, narrower baselines; "
        "docs/reproduction.md); paper (default): the config as it is",
    )
    train.set_defaults(func=_train)

    evaluate = subparsers.add_parser(
        "evaluate",
        help="evaluate a run folder or a checkpoint on the test splits",
        description="Evaluate the best checkpoint of a run folder, or any checkpoint file "
        "(its config is stored inside), on the test splits; prints accuracy or RMSE per "
        "rollout step and the model equivariance error.",
    )
    evaluate.add_argument("target", metavar="RUN_OR_CHECKPOINT")
    evaluate.add_argument(
        "overrides", nargs="*", metavar="KEY=VALUE", help="config overrides (e.g. data.root=/data)"
    )
    evaluate.add_argument(
        "--experiment", help="rebuild the model from this experiment instead of the saved config"
    )
    evaluate.set_defaults(func=_evaluate)

    report = subparsers.add_parser(
        "report",
        help="a markdown table and plots of finished runs",
        description="Collect the summary.json of each run folder (folders are searched "
        "recursively) into a table like the paper's — metric, parameters, FLOPs, time per "
        "epoch, equivariance error — and plot accuracy vs. parameters and model vs. data "
        "equivariance error.",
    )
    report.add_argument("runs", nargs="+", metavar="RUN", help="run folders (or their parents)")
    report.add_argument("--output", help="folder for report.md and plots (default: runs/report)")
    report.set_defaults(func=_report)

    compare = subparsers.add_parser(
        "compare",
        help="train several methods of one dataset alike and tabulate them",
        description="Train each METHOD of configs/EXPERIMENT/METHOD.yaml (EXPERIMENT: a "
        "dataset folder such as rot-mnist or plumes-rotation) on the same data, split, seed "
        "and epoch budget, each into its own run folder under one compare folder, then print "
        "and save one table (metric, parameters, FLOPs, time per epoch, equivariance error) "
        "and the metric-vs-parameters plot. KEY=VALUE overrides apply to every method, "
        "METHOD:KEY=VALUE to one (e.g. gm-n3:model.channels=[8,8]).",
    )
    compare.add_argument("experiment", metavar="EXPERIMENT", help="dataset, e.g. rot-mnist")
    compare.add_argument(
        "overrides", nargs="*", metavar="[METHOD:]KEY=VALUE", help="config overrides"
    )
    compare.add_argument(
        "--methods",
        help="comma-separated METHOD names, or all (default: every config of EXPERIMENT "
        "except the demo-* ones)",
    )
    compare.add_argument(
        "--levels",
        help="App. E: train every method on each equivariance-test level, e.g. 0,2,4 "
        "(plumes-equivariance), and plot model vs. data equivariance error",
    )
    compare.add_argument("--output", help="compare folder (default: runs/compare/EXPERIMENT)")
    compare.add_argument(
        "--resume",
        action="store_true",
        help="skip finished methods (completed or failed), continue interrupted ones",
    )
    compare.add_argument(
        "--overwrite", action="store_true", help="retrain methods whose run folders exist"
    )
    compare.add_argument(
        "--dry-run",
        action="store_true",
        help="check the methods, overrides and run folders; print the plan, train nothing",
    )
    compare.add_argument("--list", action="store_true", help="list EXPERIMENT's methods")
    compare.add_argument(
        "--budget",
        metavar="DURATION",
        help="the same wall-clock training budget for every method, e.g. 90s, 20m, 1h "
        "(trainer.max_epochs stays an upper bound; the table reports the epochs reached)",
    )
    compare.add_argument(
        "--protocol",
        choices=("paper", "cpu"),
        help="cpu: compare the methods of the reduced CPU protocol, configs/EXPERIMENT/cpu/ "
        "(as EXPERIMENT/cpu); paper (default): configs/EXPERIMENT/",
    )
    compare.set_defaults(func=_compare)

    bench = subparsers.add_parser(
        "bench",
        help="time an AdamW step against the public code's gather+einsum layer",
        description="Time one AdamW step (forward, backward, update) of the paper's models "
        "with this project's GMConv and with a gather+einsum re-implementation of the public "
        "code's layer inside the same network (same parameters, same function), and print "
        "the ratios. The fast model is timed in float32 and under CPU autocast to bfloat16 "
        "(bf16-mixed, as trainer.precision=bf16-mixed trains); the public layer in float32. "
        "Both run with malloc keeping freed memory (GMCNN_MALLOC=system: glibc's defaults).",
    )
    bench.add_argument(
        "--experiments",
        nargs="+",
        metavar="EXPERIMENT",
        help="which models (default: rectangles/gm-n3 rot-mnist/gm-n3)",
    )
    bench.add_argument(
        "--batch-size", type=_positive_int, default=256, help="examples per step (default: 256)"
    )
    bench.add_argument(
        "--repeats",
        type=_positive_int,
        default=3,
        help="timed steps of the fast model per precision, before and after the public one "
        "(default: 3)",
    )
    bench.add_argument(
        "--layers", action="store_true", help="also run the layer benchmark benchmarks/run.py"
    )
    bench.set_defaults(func=_bench)
