"""The ``gmcnn`` command line.

Each sub-package that owns commands exposes ``register(subparsers)``, which adds its
sub-commands and sets ``func`` on the parsers it adds; :func:`main` only dispatches.

Exit status, the same for every command:

- ``0`` — done;
- ``1`` — the command ran and failed (a diverging loss, a failed method of ``gmcnn
  compare``, a file system error, an internal error; silently when the reader of its
  output went away, as in ``gmcnn train --list | head -1``);
- ``2`` — bad usage or input (unknown option, config key or value, dataset, run folder or
  checkpoint), reported before anything is written.

Every error is one line ``error: …`` on stderr; ``GMCNN_DEBUG=1`` adds the traceback of
unexpected ones. ``gmcnn --help``, ``--version`` and config errors import neither torch nor
Lightning, so they answer at once.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Sequence
from typing import NoReturn

#: Exit statuses (module docstring).
OK, FAILED, BAD_INPUT = 0, 1, 2

#: ``gmcnn data``'s help line, so that ``gmcnn --help`` need not import the data registry.
_DATA_HELP = "list and prepare the datasets of the paper"


class Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line (and exit status 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(BAD_INPUT, f"error: {self.prog}: {message} (see `{self.prog} --help`)\n")


def package_version() -> str:
    """The installed version of gmcnn (package metadata; the source's when not installed)."""
    import importlib.metadata

    try:
        return importlib.metadata.version("gmcnn")
    except importlib.metadata.PackageNotFoundError:
        from gmcnn import __version__

        return __version__


def _command(argv: Sequence[str]) -> str | None:
    """The sub-command named in ``argv`` (the first word that is not an option)."""
    return next((word for word in argv if not word.startswith("-")), None)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The ``gmcnn`` parser for running ``command`` (``None``: the top-level help).

    ``gmcnn data`` imports the data registry (and torch) to list dataset names, so it is
    registered only when it runs; otherwise a placeholder with its help line stands in, and
    ``gmcnn --help`` and ``gmcnn train …`` stay light.
    """
    from gmcnn import demo
    from gmcnn.experiments import cli as experiments_cli

    parser = Parser(
        prog="gmcnn", description="Group-matrix CNNs: groups, layers, data and experiments."
    )
    parser.add_argument("--version", action="version", version=f"gmcnn {package_version()}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo.register(subparsers)  # the order of ``gmcnn --help``
    experiments_cli.register(subparsers)
    if command == "data":
        from gmcnn.data import cli as data_cli

        data_cli.register(subparsers)
    else:
        subparsers.add_parser("data", help=_DATA_HELP)
    return parser


def _error_status(error: BaseException) -> int:
    """The exit status of an error (module docstring)."""
    from gmcnn.experiments.errors import NonFiniteLossError

    if isinstance(error, NonFiniteLossError):
        return FAILED
    input_errors = (ValueError, KeyError, FileNotFoundError, NotADirectoryError, IsADirectoryError)
    return BAD_INPUT if isinstance(error, input_errors) else FAILED


def _message(error: BaseException) -> str:
    text = str(error).strip("'\"") if isinstance(error, KeyError) else str(error)
    text = " ".join(text.split()) or type(error).__name__
    if _error_status(error) == FAILED and not isinstance(error, OSError | RuntimeError):
        text = f"unexpected {type(error).__name__}: {text} (GMCNN_DEBUG=1 shows the traceback)"
    return text


def _silence_stdout() -> None:
    """Point stdout at /dev/null once its reader has gone (``gmcnn train --list | head``)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``gmcnn`` command line ``argv`` (default ``sys.argv[1:]``); return the status."""
    words = list(sys.argv[1:] if argv is None else argv)
    try:
        parser = build_parser(_command(words))
        args, extra = parser.parse_known_args(words)
        # KEY=VALUE overrides may follow options (``train X --run-dir D a=1``): collect them.
        if extra:
            if hasattr(args, "overrides") and all(
                "=" in e and not e.startswith("-") for e in extra
            ):
                args.overrides = [*args.overrides, *extra]
            else:
                parser.error(f"unrecognized arguments: {' '.join(extra)}")
        result: int = args.func(args)
        sys.stdout.flush()
        return result
    except BrokenPipeError:
        _silence_stdout()
        return FAILED
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as error:
        if os.environ.get("GMCNN_DEBUG"):
            traceback.print_exc()
        print(f"error: {_message(error)}", file=sys.stderr)
        return _error_status(error)


if __name__ == "__main__":
    raise SystemExit(main())
