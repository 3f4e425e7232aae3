"""Smoke plumes: the PhiFlow recipes, one file per simulation, resuming, and the App. E sets."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from tests.data.plume_stand_in import interrupted_after_two, stand_in_simulate

from gmcnn.data import (
    data_equivariance_error,
    datasets,
    load,
    plumes,
    prepare,
    prepared_folder,
    rotate_velocity,
)
from gmcnn.data.plume_equivariance import compose_level, level_simulations

SMALL = {"resolution": 16, "steps": 20}
#: Tests that replace the simulation with a stand-in run it in this process.
ONE = {"workers": 1}
SHORT_TIMES = {"train": (0, 4), "valid": (4, 6), "test-future": (6, 8), "test-domain": (0, 4)}


def test_recipes_match_the_published_ones() -> None:
    translation = plumes.RECIPES["translation"]
    assert len(translation.simulations) == 35
    assert translation.simulations[0].inflow == (8, 5)
    assert len(translation.plan.train_tasks) == 25 and len(translation.plan.domain_tasks) == 10
    assert "32_20" in translation.plan.domain_tasks
    rotation = plumes.RECIPES["rotation"]
    assert len(rotation.simulations) == 36
    sim = {s.key: s for s in rotation.simulations}["6_1"]
    assert sim.inflow == (59, 32) and sim.buoyancy_left == pytest.approx((-0.15, 0.0))
    scaling = plumes.RECIPES["scaling"]
    assert [s.scale for s in scaling.simulations][:3] == pytest.approx([1.0, 1.1, 1.2])
    assert len(scaling.simulations) == 38
    keys = {s.key for s in scaling.simulations}
    assert set(scaling.plan.train_tasks) | set(scaling.plan.domain_tasks) == keys
    order = [s.key for s in translation.ordered()]
    assert order[:2] == ["48_10", "32_20"] and sorted(order) == sorted(
        s.key for s in translation.simulations
    )


def test_phiflow_generates_small_plumes(gmcnn_data: Path) -> None:
    manifest = prepare("plumes-translation", simulations=2, progress=False, **SMALL)
    assert manifest.splits["trajectories"] == {"count": 2, "shape": [20, 2, 16, 16]}
    assert set(manifest.inputs["seconds_per_simulation"]) == {"48_10", "32_20"}
    assert manifest.inputs["precision_bits"] == 64
    frames = torch.load(prepared_folder("plumes-translation") / "raw_data_48_10.pt")
    assert frames.dtype == torch.float32 and torch.isfinite(frames).all()
    # Buoyancy lifts the smoke: upward velocity above the inflow (x = 48 → column 12 of 16).
    assert frames[-5:, 1, 3:10, 11:13].mean() > 0.05
    train = load("plumes-translation", "train", warmup=10, times=SHORT_TIMES)
    domain = load("plumes-translation", "test-domain", warmup=10, times=SHORT_TIMES)
    assert (len(train), len(domain)) == (4, 4)
    x, y = domain[0]
    assert x.shape == (20, 16, 16) and y.shape == (6, 2, 16, 16)
    with pytest.raises(FileNotFoundError, match="gmcnn data prepare plumes-rotation"):
        load("plumes-rotation", "train")


def test_phiflow_scaling_and_rotation_paths() -> None:
    scaled = {s.key: s for s in plumes.RECIPES["scaling"].simulations}["3"]
    frames = plumes.simulate(scaled, resolution=16, steps=8)
    assert frames.shape == (8, 2, 16, 16) and np.isfinite(frames).all()
    side = {s.key: s for s in plumes.RECIPES["rotation"].simulations}["4_3"]  # inflow on the left
    frames = plumes.simulate(side, resolution=16, steps=12)
    assert frames[-3:, 0, 6:10, 1:5].mean() > 0.0  # pushed to the right


def test_generation_resumes_where_it_stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    fake = stand_in_simulate(calls)
    monkeypatch.setattr(plumes, "simulate", interrupted_after_two(calls, fake))
    with pytest.raises(KeyboardInterrupt):
        prepare("plumes-rotation", simulations=4, progress=False, **ONE, **SMALL)
    folder = prepared_folder("plumes-rotation")
    assert sorted(p.name for p in folder.glob("raw_data_*")) == [
        "raw_data_27_2.pt",
        "raw_data_6_1.pt",
    ]
    assert not list(folder.glob(".*tmp"))
    status = {(r.name, r.source): r.status for r in datasets()}
    assert status[("plumes-rotation", "phiflow")].startswith("partial")
    with pytest.raises(ValueError, match="partial generation"):
        prepare("plumes-rotation", simulations=5, progress=False, **ONE, **SMALL)
    monkeypatch.setattr(plumes, "simulate", fake)
    manifest = prepare("plumes-rotation", simulations=4, progress=False, **ONE, **SMALL)
    assert calls == ["27_2", "6_1", "33_0", "14_1"]
    assert len(manifest.files) == 4
    assert set(json.loads((folder / plumes.SIMULATIONS_FILE).read_text())) == set(calls)
    prepare("plumes-rotation", simulations=4, progress=False, **ONE, **SMALL)
    assert len(calls) == 4  # prepared twice: no work the second time


def test_rotate_velocity_turns_grid_and_vectors() -> None:
    field = torch.randn(3, 2, 8, 8)
    torch.testing.assert_close(rotate_velocity(field, 4), field)
    torch.testing.assert_close(rotate_velocity(rotate_velocity(field, 1), 3), field)
    uniform = torch.zeros(1, 2, 8, 8)
    uniform[:, 0] = 1.0
    turned = rotate_velocity(uniform, 1)
    assert torch.all(turned[:, 0] == 0) and torch.all(turned[:, 1] == 1)  # +x → +y
    y, x = torch.meshgrid(torch.arange(8.0) - 3.5, torch.arange(8.0) - 3.5, indexing="ij")
    radial = torch.stack([x, y])[None]
    torch.testing.assert_close(rotate_velocity(radial, 1), radial)  # rotation invariant
    bump = torch.zeros(1, 2, 64, 64)
    bump[0, 1, 5, 32] = 1.0  # upward flow at the bottom inflow (x = 32, y = 5)
    moved = rotate_velocity(bump, 1)  # → the right side inflow (59, 32), pointing left
    assert moved[0, 0, 32, 58] == -1.0 and moved.abs().sum() == 1.0


def test_equivariance_sets(monkeypatch: pytest.MonkeyPatch) -> None:
    assert level_simulations(0) == ("1", "1", "1", "1")
    assert level_simulations(9) == ("1", "10", "19", "28")
    with pytest.raises(ValueError, match="level 10 does not exist"):
        level_simulations(10)
    calls: list[str] = []
    monkeypatch.setattr(plumes, "simulate", stand_in_simulate(calls))
    manifest = prepare("plumes-equivariance", simulations=4, progress=False, **ONE, **SMALL)
    assert manifest.splits["trajectories"]["shape"] == [10, 2, 16, 16]  # 20 steps, first 10 dropped
    times = {"train": (0, 2), "valid": (2, 3)}
    level1 = load("plumes-equivariance", "train", level=1, target_frames=2, times=times)
    assert len(level1) == 4 * 2 and level1.names[1] == "E_1/data_1"
    folder = prepared_folder("plumes-equivariance")
    second = torch.load(folder / "raw_data_2.pt")
    torch.testing.assert_close(level1.trajectories[1], rotate_velocity(second, 1))
    x, y = level1[0]
    assert x.shape == (2, 16, 16) and y.shape == (2, 2, 16, 16)
    with pytest.raises(ValueError, match=r"level 2 needs simulations 1, 3, 5, 7"):
        load("plumes-equivariance", "valid", level=2, times=times)
    same = [second] * 4
    assert data_equivariance_error(same, skip=0) == 0.0
    trajs = [torch.load(folder / f"raw_data_{k}.pt") for k in ("1", "2", "3", "4")]
    assert data_equivariance_error(trajs, skip=0) > 0.5
    assert len(compose_level(trajs)) == 4


@pytest.mark.slow
def test_full_size_simulation_matches_the_recipe() -> None:
    sim = plumes.RECIPES["translation"].ordered()[0]
    frames = plumes.simulate(sim, resolution=64, steps=310)
    assert frames.shape == (310, 2, 64, 64) and np.isfinite(frames).all()
    assert frames[-50:, 1, 10:40, 44:52].mean() > 0.1


@pytest.mark.filterwarnings("ignore:symmetric-gradient extrapolation:DeprecationWarning")
def test_large_pressure_matrices_get_int64_sparse_indices() -> None:
    from phiml.backend._numpy_backend import NUMPY, NumPyBackend

    original = NumPyBackend.ravel_multi_index
    index = np.array([[40_000, 40_000]], dtype=np.int32)
    shape = (90_000, 90_000)  # a 300 × 300 box: the largest scaling simulation
    with plumes._int64_sparse_indices(300 * 300):
        assert NUMPY.ravel_multi_index(index, shape).tolist() == [40_000 * 90_000 + 40_000]
    assert NumPyBackend.ravel_multi_index is original
    with plumes._int64_sparse_indices(64 * 64):
        assert NumPyBackend.ravel_multi_index is original


@pytest.mark.slow
def test_largest_scaling_box_simulates() -> None:
    sim = plumes.RECIPES["scaling"].simulations[-1]  # s = 4.7, a 300 × 300 box
    frames = plumes.simulate(sim, resolution=64, steps=3)
    assert frames.shape == (3, 2, 64, 64) and np.isfinite(frames).all()
