"""The compiled plume engine: same physics as the original generator, integrity, workers, CLI."""

from __future__ import annotations

import argparse
import errno
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from tests.data.plume_stand_in import interrupted_after_two, stand_in_simulate

from gmcnn.data import plumes, prepare, prepared_folder
from gmcnn.data.cli import register

FIXTURE = Path(__file__).parent / "fixtures" / "plume_reference_frames.npz"
SMALL = {"resolution": 16, "steps": 20, "workers": 1}


def _relative_differences(new: np.ndarray, old: np.ndarray) -> np.ndarray:
    """Per-frame ‖new − old‖₂ / ‖old‖₂ (frames with a zero reference compare absolutely)."""
    steps = old.shape[0]
    diff = np.linalg.norm((new - old).reshape(steps, -1), axis=1)
    norm = np.linalg.norm(old.reshape(steps, -1), axis=1)
    return np.where(norm > 0, diff / np.where(norm > 0, norm, 1.0), diff)


def _sim(recipe: str, key: str) -> plumes.PlumeSimulation:
    return {s.key: s for s in plumes.RECIPES[recipe].simulations}[key]


@pytest.mark.parametrize(("recipe", "key"), [("translation", "48_10"), ("rotation", "27_2")])
def test_jit_engine_reproduces_the_original_generator(recipe: str, key: str) -> None:
    """First 30 steps at 64×64 against frames stored from the eager (original) generator."""
    reference = np.load(FIXTURE)[f"{recipe}_{key}"]
    frames = plumes.simulate(_sim(recipe, key), resolution=64, steps=30)
    assert frames.dtype == np.float32 and frames.shape == reference.shape
    assert np.abs(reference).max() > 1.0  # the plume is moving
    assert _relative_differences(frames, reference).max() <= 1e-3


def test_engines_agree_on_small_and_scaled_boxes() -> None:
    for sim in (_sim("translation", "8_25"), plumes.RECIPES["scaling"].simulations[3]):
        jit = plumes.simulate(sim, resolution=16, steps=6)
        eager = plumes.simulate(sim, resolution=16, steps=6, engine="eager")
        assert _relative_differences(jit, eager).max() <= 1e-3


@pytest.mark.slow
def test_stored_reference_is_the_eager_generator() -> None:
    reference = np.load(FIXTURE)["rotation_27_2"]
    eager = plumes.simulate(_sim("rotation", "27_2"), resolution=64, steps=30, engine="eager")
    assert _relative_differences(eager, reference).max() <= 1e-6


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"resolution": 7}, "resolution 7 is too small"),
        ({"resolution": True}, "resolution=True: expected an integer"),
        ({"resolution": 16.0}, "resolution=16.0: expected an integer"),
        ({"steps": 0}, "steps=0"),
        ({"engine": "gpu"}, "engine 'gpu' is not one of jit, eager"),
    ],
)
def test_bad_simulation_arguments(kwargs: dict[str, object], message: str) -> None:
    arguments = {"resolution": 16, "steps": 4, **kwargs}
    with pytest.raises(ValueError, match=message):
        plumes.simulate(_sim("rotation", "27_2"), **arguments)  # type: ignore[arg-type]


def _partial_generation(monkeypatch: pytest.MonkeyPatch, simulations: int):
    """A plumes-rotation generation of ``simulations`` interrupted (Ctrl-C) after two.

    Returns the simulated keys, the stand-in simulation (uninterrupted) and the folder.
    """
    calls: list[str] = []
    fake = stand_in_simulate(calls)
    monkeypatch.setattr(plumes, "simulate", interrupted_after_two(calls, fake))
    with pytest.raises(KeyboardInterrupt):
        prepare("plumes-rotation", simulations=simulations, progress=False, **SMALL)
    return calls, fake, prepared_folder("plumes-rotation")


def test_corrupt_files_of_a_complete_set_are_reported_and_rebuilt(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    calls: list[str] = []
    monkeypatch.setattr(plumes, "simulate", stand_in_simulate(calls))
    prepare("plumes-rotation", simulations=3, progress=False, **SMALL)
    folder = prepared_folder("plumes-rotation")
    truncated, altered, intact = (folder / f"raw_data_{k}.pt" for k in ("27_2", "6_1", "33_0"))
    intact_bytes = intact.read_bytes()
    truncated.write_bytes(truncated.read_bytes()[:100])
    data = bytearray(altered.read_bytes())
    data[-20] ^= 0xFF
    altered.write_bytes(bytes(data))
    capsys.readouterr()
    manifest = prepare("plumes-rotation", simulations=3, progress=False, **SMALL)
    err = capsys.readouterr().err
    assert "raw_data_27_2.pt is truncated" in err and "raw_data_6_1.pt has been altered" in err
    assert calls == ["27_2", "6_1", "33_0", "27_2", "6_1"]  # only the two bad ones again
    assert intact.read_bytes() == intact_bytes and len(manifest.files) == 3
    assert torch.load(truncated).shape == (20, 2, 16, 16)


def test_resume_rebuilds_a_corrupt_file_of_a_partial_generation(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    calls, fake, folder = _partial_generation(monkeypatch, simulations=4)
    records = json.loads((folder / plumes.SIMULATIONS_FILE).read_text())
    assert set(records) == {"27_2", "6_1"} and records["27_2"]["engine"] == "jit"
    (folder / "raw_data_6_1.pt").write_bytes(b"not a tensor")
    monkeypatch.setattr(plumes, "simulate", fake)
    capsys.readouterr()
    prepare("plumes-rotation", simulations=4, progress=False, **SMALL)
    assert "raw_data_6_1.pt has 12 bytes" in capsys.readouterr().err
    assert calls == ["27_2", "6_1", "6_1", "33_0", "14_1"]


def test_files_without_records_are_checked_by_loading(monkeypatch: pytest.MonkeyPatch) -> None:
    """A run killed between writing a file and its record: good files are kept."""
    calls: list[str] = []
    monkeypatch.setattr(plumes, "simulate", stand_in_simulate(calls))
    folder = prepared_folder("plumes-rotation")
    folder.mkdir(parents=True)
    (folder / plumes.GENERATION_FILE).write_text(
        json.dumps({"resolution": 16, "steps": 20, "simulations": 3})
    )
    torch.save(torch.zeros(20, 2, 16, 16), folder / "raw_data_27_2.pt")  # good
    torch.save(torch.zeros(19, 2, 16, 16), folder / "raw_data_6_1.pt")  # wrong length
    prepare("plumes-rotation", simulations=3, progress=False, **SMALL)
    assert calls == ["6_1", "33_0"]


def test_a_failed_write_keeps_the_finished_simulations(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(plumes, "simulate", stand_in_simulate(calls))
    save = plumes.atomic_torch_save

    def full_disk(obj: object, path: Path) -> None:
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        save(obj, path)

    monkeypatch.setattr(plumes, "atomic_torch_save", full_disk)
    with pytest.raises(OSError, match=r"cannot write .*raw_data_6_1.pt \(No space left"):
        prepare("plumes-rotation", simulations=3, progress=False, **SMALL)
    folder = prepared_folder("plumes-rotation")
    assert sorted(p.name for p in folder.glob("raw_data_*")) == ["raw_data_27_2.pt"]
    assert set(json.loads((folder / plumes.SIMULATIONS_FILE).read_text())) == {"27_2"}
    monkeypatch.setattr(plumes, "atomic_torch_save", save)
    prepare("plumes-rotation", simulations=3, progress=False, **SMALL)
    assert calls == ["27_2", "6_1", "6_1", "33_0"]


def test_a_killed_runs_temporary_is_removed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plumes, "simulate", stand_in_simulate([]))
    folder = prepared_folder("plumes-rotation")
    folder.mkdir(parents=True)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    leftover = folder / f".raw_data_27_2.pt.{int(dead.stdout)}.tmp"
    leftover.write_bytes(b"x" * 1000)
    prepare("plumes-rotation", simulations=2, progress=False, **SMALL)
    assert not leftover.exists()


@pytest.mark.parametrize("workers", [0, -1, True, 1.5])
def test_bad_worker_counts_are_refused(workers: object) -> None:
    with pytest.raises(ValueError, match=f"workers={workers!r}"):
        prepare("plumes-rotation", simulations=2, progress=False, resolution=16, workers=workers)
    assert not prepared_folder("plumes-rotation").exists()


def _cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="gmcnn")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    result: int = args.func(args)
    return result


def test_verify_show_and_bad_options_on_the_command_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setattr(plumes, "simulate", stand_in_simulate([]))
    assert _cli("data", "verify", "plumes-rotation") == 2
    assert "is not prepared" in capsys.readouterr().err
    base = ("data", "prepare", "plumes-rotation", "--resolution", "16", "--steps", "20")
    assert _cli(*base, "--simulations", "3", "--workers", "0", "--quiet") == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "workers=0" in err
    assert _cli(*base, "--simulations", "3", "--workers", "1", "--quiet") == 0
    assert _cli("data", "verify", "plumes-rotation") == 0
    assert "all 3 files match (SHA-256)" in capsys.readouterr().out
    target = prepared_folder("plumes-rotation") / "raw_data_33_0.pt"
    target.write_bytes(target.read_bytes()[:-1])
    assert _cli("data", "verify", "plumes-rotation") == 1
    assert "raw_data_33_0.pt is truncated" in capsys.readouterr().err
    assert _cli(*base, "--simulations", "3", "--workers", "1", "--quiet") == 0
    figure = tmp_path / "plumes.png"
    assert _cli("data", "show", "plumes-rotation", "--out", str(figure), "--samples", "2") == 0
    out = capsys.readouterr().out
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| `plumes-rotation` | 3 | 20 | 16×16 |" in out
    assert _cli("data", "show", "plumes-scaling", "--out", str(figure)) == 2
    assert "not prepared" in capsys.readouterr().err


def test_one_compiled_step_serves_every_simulation_of_a_box() -> None:
    """Inflow and buoyancy are arguments of the step: later simulations do not retrace.

    PhiML may trace a step a second time when the array layout of its first inputs differs
    from that of its outputs; after that, every simulation of the box reuses the traces.
    """
    keys = ("8_5", "56_25", "32_15", "16_10")
    for key in keys[:2]:
        plumes.simulate(_sim("translation", key), resolution=16, steps=3)
    step, _ = plumes._compiled_step(16, 0.5)
    traces = len(step.traces)
    assert traces <= 2
    for key in keys[2:]:
        frames = plumes.simulate(_sim("translation", key), resolution=16, steps=3)
    assert len(step.traces) == traces
    eager = plumes.simulate(_sim("translation", keys[-1]), resolution=16, steps=3, engine="eager")
    assert _relative_differences(frames, eager).max() <= 1e-3


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"resolution": 7}, "resolution 7 is too small"),
        ({"steps": 0}, "steps=0: expected an integer of at least 1"),
        ({"simulations": 37}, "simulations=37: the rotation recipe has 1 … 36"),
    ],
)
def test_bad_plume_options_are_refused_before_any_folder_exists(
    monkeypatch: pytest.MonkeyPatch, options: dict[str, int], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        prepare("plumes-rotation", progress=False, **{**SMALL, **options})
    assert not prepared_folder("plumes-rotation").exists()
    # on a prepared folder the option is named too, not "rebuild it with --force"
    monkeypatch.setattr(plumes, "simulate", stand_in_simulate([]))
    prepare("plumes-rotation", simulations=2, progress=False, **SMALL)
    with pytest.raises(ValueError, match=message):
        prepare("plumes-rotation", progress=False, **{**SMALL, "simulations": 2, **options})


def test_simulate_names_a_wrong_simulation_argument() -> None:
    with pytest.raises(TypeError, match="sim='27_2': expected a PlumeSimulation"):
        plumes.simulate("27_2", 16, 5)  # type: ignore[arg-type]


def test_unreadable_records_are_reported_and_written_anew(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    calls, fake, folder = _partial_generation(monkeypatch, simulations=3)
    (folder / plumes.SIMULATIONS_FILE).write_text("garbage")
    capsys.readouterr()
    assert _cli("data", "verify", "plumes-rotation") == 1
    err = capsys.readouterr().err
    assert "raw_data_27_2.pt has no size and SHA-256" in err and "2 of 2 files failed" in err
    monkeypatch.setattr(plumes, "simulate", fake)
    prepare("plumes-rotation", simulations=3, progress=False, **SMALL)
    assert calls == ["27_2", "6_1", "33_0"]  # the two good files were kept
    records = json.loads((folder / plumes.SIMULATIONS_FILE).read_text())
    assert set(records) == {"27_2", "6_1", "33_0"} and records["27_2"]["seconds"] is None


def test_a_corrupt_manifest_is_reported_and_repaired(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    calls: list[str] = []
    monkeypatch.setattr(plumes, "simulate", stand_in_simulate(calls))
    prepare("plumes-rotation", simulations=2, progress=False, **SMALL)
    folder = prepared_folder("plumes-rotation")
    (folder / "manifest.json").write_text("{not json")
    assert _cli("data", "list") == 0
    assert "broken manifest" in capsys.readouterr().out
    manifest = prepare("plumes-rotation", simulations=2, progress=False, **SMALL)
    assert "is not valid JSON" in capsys.readouterr().err
    assert len(manifest.files) == 2 and calls == ["27_2", "6_1"]  # nothing simulated again


def test_the_same_frames_give_the_same_file_bytes(tmp_path: Path) -> None:
    from gmcnn.data.storage import atomic_torch_save, sha256_file

    frames = torch.arange(24.0).reshape(2, 3, 4)
    atomic_torch_save(frames, tmp_path / "a.pt")
    atomic_torch_save(frames, tmp_path / "b.pt")
    assert sha256_file(tmp_path / "a.pt") == sha256_file(tmp_path / "b.pt")


def test_an_empty_or_file_data_root_is_refused(tmp_path: Path) -> None:
    a_file = tmp_path / "afile"
    a_file.write_text("mine")
    for root, message in (("", "is empty"), (str(a_file), "is not a folder")):
        with pytest.raises(ValueError, match=f"data root .*{message}"):
            prepare("rectangles", root=root, progress=False)
        assert _cli("data", "prepare", "rectangles", "--root", root, "--quiet") == 2
    assert a_file.read_text() == "mine"
