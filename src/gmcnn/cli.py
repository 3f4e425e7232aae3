"""The ``gmcnn`` command line.

Each sub-package that owns commands exposes ``register(subparsers)``, which adds its
sub-command and sets ``func`` on the parser it adds; :func:`main` only dispatches.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from gmcnn import demo


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gmcnn", description="Group-matrix CNNs: groups, layers, data and experiments."
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    raise SystemExit(main())
