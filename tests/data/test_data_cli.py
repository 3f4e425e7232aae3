"""``gmcnn data list`` and ``gmcnn data prepare``, through the sub-parser the CLI registers."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from gmcnn.data import REGISTRY
from gmcnn.data.cli import register


def _run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="gmcnn")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    result: int = args.func(args)
    return result


def test_list_shows_every_dataset_and_its_status(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run("data", "list") == 0
    out = capsys.readouterr().out
    for name in REGISTRY:
        assert f"\n{name} " in out
    assert "not prepared" in out and "missing input files" in out


def test_prepare_twice_does_no_work_the_second_time(
    gmcnn_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = (
        "data",
        "prepare",
        "rectangles",
        "--seed",
        "2",
        "--set",
        "train=30",
        "--set",
        "valid=5",
        "--set",
        "test=5",
        "--quiet",
    )
    assert _run(*argv) == 0
    first = capsys.readouterr().out
    assert "train 30×(1, 28, 28)" in first and "\nprepared;" in first
    assert _run(*argv) == 0
    assert "already prepared: verified, nothing rebuilt" in capsys.readouterr().out
    assert _run("data", "list", "--root", str(gmcnn_data)) == 0
    line = next(ln for ln in capsys.readouterr().out.splitlines() if "generated  " in ln)
    assert line.startswith("rectangles") and line.rstrip().endswith("prepared")


def test_prepare_errors_exit_non_zero(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run("data", "prepare", "cifar10") == 2
    assert "never downloads" in capsys.readouterr().err
    assert _run("data", "prepare", "rectangles", "--set", "colour=red") == 2
    assert "not accepted" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        _run("data", "prepare", "imagenet")
