"""``gmcnn data list | prepare | verify | show``: the datasets from the command line."""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from typing import Any

from gmcnn.data.api import REGISTRY, dataset_spec, datasets, prepare, prepared_folder
from gmcnn.data.plumes import SimulationError, read_records, simulation_problem
from gmcnn.data.storage import data_root, manifest_problems, read_manifest


def register(subparsers: Any) -> None:
    """Add the ``data`` command (with ``list`` and ``prepare``) to ``gmcnn``'s sub-parsers."""
    data = subparsers.add_parser(
        "data",
        help="list and prepare the datasets of the paper",
        description="Datasets live under $GMCNN_DATA (default ~/.cache/gmcnn); nothing is "
        "ever downloaded.",
    )
    commands = data.add_subparsers(dest="data_command", required=True, metavar="ACTION")

    listing = commands.add_parser("list", help="every dataset and source with its status")
    listing.add_argument("--root", help="data folder (default: $GMCNN_DATA or ~/.cache/gmcnn)")
    listing.set_defaults(func=_list)

    build = commands.add_parser("prepare", help="build one dataset (no work if already built)")
    build.add_argument("name", choices=list(REGISTRY), metavar="NAME", help="dataset name")
    build.add_argument("--source", help="which source (default: the dataset's first)")
    build.add_argument("--root", help="data folder (default: $GMCNN_DATA or ~/.cache/gmcnn)")
    build.add_argument("--from", dest="raw_dir", metavar="DIR", help="folder of input files")
    build.add_argument("--force", action="store_true", help="rebuild from scratch")
    build.add_argument("--seed", type=int, help="seed of shuffles and recipes")
    build.add_argument("--resolution", type=int, help="plume grid side (default 64)")
    build.add_argument("--steps", type=int, help="plume simulation steps (default 310)")
    build.add_argument("--simulations", type=int, help="number of plume simulations")
    build.add_argument(
        "--set",
        dest="extra",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any other build option, e.g. --set valid=2000 (repeatable)",
    )
    build.add_argument(
        "--workers",
        type=int,
        help="processes for plume simulations (default: one per core)",
    )
    build.add_argument("--quiet", action="store_true", help="no progress bars")
    build.set_defaults(func=_prepare)

    check = commands.add_parser(
        "verify", help="re-check every file of a prepared dataset against its manifest"
    )
    check.add_argument("name", choices=list(REGISTRY), metavar="NAME", help="dataset name")
    check.add_argument("--source", help="which source (default: the dataset's first)")
    check.add_argument("--root", help="data folder (default: $GMCNN_DATA or ~/.cache/gmcnn)")
    check.set_defaults(func=_verify)

    look = commands.add_parser(
        "show", help="a figure of some samples (and, for dynamics sets, their statistics)"
    )
    look.add_argument("name", choices=list(REGISTRY), metavar="NAME", help="dataset name")
    look.add_argument("--source", help="which source (default: the dataset's first)")
    look.add_argument("--root", help="data folder (default: $GMCNN_DATA or ~/.cache/gmcnn)")
    look.add_argument("--out", help="figure file (default: NAME.png in the current folder)")
    look.add_argument("--samples", type=int, default=3, help="trajectories (rows) to draw")
    look.add_argument("--frames", type=int, default=4, help="frames per trajectory to draw")
    look.set_defaults(func=_show)


def _value(text: str) -> Any:
    for convert in (int, float):
        with contextlib.suppress(ValueError):
            return convert(text)
    return text


def _options(args: argparse.Namespace) -> dict[str, Any]:
    options = {
        key: getattr(args, key)
        for key in ("seed", "resolution", "steps", "simulations")
        if getattr(args, key) is not None
    }
    for item in args.extra:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--set expects KEY=VALUE, got {item!r}")
        options[key] = _value(value)
    return options


def _size(count: int | None) -> str:
    if count is None:
        return "-"
    if count < 1024:
        return f"{count} B"
    value = float(count)
    for unit in ("KiB", "MiB", "GiB"):
        value /= 1024
        if value < 1024 or unit == "GiB":
            break
    return f"{value:.1f} {unit}"


def _list(args: argparse.Namespace) -> int:
    rows = datasets(args.root)
    print(f"data folder: {data_root(args.root)}")
    header = ("NAME", "SOURCE", "KIND", "SIZE", "SECONDS", "STATUS")
    table = [header] + [
        (
            row.name,
            row.source,
            row.kind,
            _size(row.bytes),
            "-" if row.prepare_seconds is None else f"{row.prepare_seconds:.1f}",
            row.status,
        )
        for row in rows
    ]
    widths = [max(len(r[i]) for r in table) for i in range(len(header) - 1)]
    for r in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=False)) + "  " + r[-1])
    return 0


def _prepare(args: argparse.Namespace) -> int:
    """Build one dataset; a bad name, source, option or input is one line, exit status 2."""
    start = time.perf_counter()
    try:
        spec = dataset_spec(args.name)
        source = spec.source(args.source)
        options = _options(args)
        folder = prepared_folder(spec.name, source.name, args.root)
        before = None if args.force else read_manifest(folder)
        manifest = prepare(
            spec.name,
            source.name,
            args.root,
            force=args.force,
            raw_dir=args.raw_dir,
            progress=not args.quiet,
            workers=args.workers,
            **options,
        )
    except (ValueError, FileNotFoundError, NotADirectoryError) as error:
        print(f"error: gmcnn data prepare: {error}", file=sys.stderr)
        return 2
    except (OSError, SimulationError) as error:
        print(f"error: gmcnn data prepare: {error}", file=sys.stderr)
        return 1
    already = before is not None and before.created == manifest.created
    elapsed = time.perf_counter() - start
    counts = ", ".join(
        f"{split} {meta.get('count', '?')}×{tuple(meta.get('shape', ()))}"
        for split, meta in manifest.splits.items()
    )
    print(f"{spec.name} ({source.name}) in {folder}: {counts}")
    done = "already prepared: verified, nothing rebuilt" if already else "prepared"
    print(
        f"{done}; {len(manifest.files)} files, {_size(manifest.total_bytes)}; built in "
        f"{manifest.prepare_seconds:.1f} s; this call took {elapsed:.1f} s"
    )
    return 0


def _verify(args: argparse.Namespace) -> int:
    """Check every file; each problem is one line, exit status 1 if there is any."""
    try:
        spec = dataset_spec(args.name)
        source = spec.source(args.source)
        folder = prepared_folder(spec.name, source.name, args.root)
        manifest = read_manifest(folder)
    except ValueError as error:
        print(f"error: gmcnn data verify: {error}", file=sys.stderr)
        return 2
    if manifest is not None:
        problems = list(manifest_problems(folder, manifest).values())
        checked = len(manifest.files)
    elif (folder / "generation.json").is_file():  # a partial plume generation
        records = read_records(folder)  # every finished file has its size and SHA-256
        problems = [
            problem
            for key, record in sorted(records.items())
            if (problem := simulation_problem(folder, key, record, [])) is not None
        ]
        unrecorded = sorted(
            path.name
            for path in folder.glob("raw_data_*.pt")
            if path.name.removeprefix("raw_data_").removesuffix(".pt") not in records
        )
        problems += [
            f"file {folder / name} has no size and SHA-256 in {folder / 'simulations.json'} "
            "(missing or unreadable): the next prepare checks it by loading it"
            for name in unrecorded
        ]
        checked = len(records) + len(unrecorded)
        print(f"{spec.name} ({source.name}) is partial: checking its {checked} simulation files")
    else:
        print(
            f"error: gmcnn data verify: {spec.name} ({source.name}) is not prepared in {folder}",
            file=sys.stderr,
        )
        return 2
    for problem in problems:
        print(f"{spec.name}: {problem}", file=sys.stderr)
    if problems:
        print(
            f"{len(problems)} of {checked} files failed; `gmcnn data prepare {spec.name} "
            f"--source {source.name}` builds them again",
            file=sys.stderr,
        )
        return 1
    print(f"{spec.name} ({source.name}) in {folder}: all {checked} files match (SHA-256)")
    return 0


def _show(args: argparse.Namespace) -> int:
    """Write the figure; print the statistics row of a dynamics set."""
    from gmcnn.data.preview import STATISTICS_HEADER, dynamics_statistics, show

    out = args.out or f"{args.name}.png"
    try:
        path = show(args.name, out, args.source, args.root, args.samples, args.frames)
        if dataset_spec(args.name).task == "dynamics":
            print(STATISTICS_HEADER)
            print(dynamics_statistics(args.name, args.source, args.root).markdown_row(args.name))
    except (ValueError, FileNotFoundError) as error:
        print(f"error: gmcnn data show: {error}", file=sys.stderr)
        return 2
    print(f"figure: {path}")
    return 0
