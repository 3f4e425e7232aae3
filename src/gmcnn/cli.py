"""The ``gmcnn`` command line.

Each sub-package that owns commands exposes ``register(subparsers)``, which adds its
sub-commands and sets ``func`` on the parsers it adds; :func:`main` only dispatches.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from gmcnn import demo
from gmcnn.data import cli as data_cli
from gmcnn.experiments import cli as experiments_cli


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gmcnn", description="Group-matrix CNNs: groups, layers, data and experiments."
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (demo, experiments_cli, data_cli):  # the order of ``gmcnn --help``
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # KEY=VALUE overrides may follow options (``train X --run-dir D a=1``): collect them.
    if extra:
        if hasattr(args, "overrides") and all("=" in e and not e.startswith("-") for e in extra):
            args.overrides = [*args.overrides, *extra]
        else:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    raise SystemExit(main())
