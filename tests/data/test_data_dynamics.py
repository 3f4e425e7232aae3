"""Dynamics windows (10 fields → 20 channels, 6 targets) and JetFlow's published files."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from tests.data.helpers import write_trajectory

from gmcnn.data import DynamicsWindows, IntegrityError, SplitPlan, WindowLayout, load, prepare
from gmcnn.data.dynamics import read_trajectory
from gmcnn.data.dynamics_catalog import JETFLOW_GRID, JETFLOW_PLAN


def _ramp(frames: int, grid: tuple[int, int] = (4, 3)) -> torch.Tensor:
    """Frame t is filled with t (x component) and -t (y component)."""
    t = torch.arange(frames, dtype=torch.float32)[:, None, None, None]
    return torch.cat([t, -t], dim=1).expand(frames, 2, *grid).clone()


def test_windows_follow_the_paper_layout() -> None:
    layout = WindowLayout()  # 10 inputs, 6 targets, first target at t + 22
    windows = DynamicsWindows([_ramp(300), _ramp(300) + 1000], range(0, 160), layout, ["a", "b"])
    assert len(windows) == 320
    x, y = windows[5]
    assert x.shape == (20, 4, 3) and y.shape == (6, 2, 4, 3)
    assert x[::2, 0, 0].tolist() == list(range(17, 27))  # frames 17 … 26, x components
    assert x[1::2, 0, 0].tolist() == [-v for v in range(17, 27)]
    assert y[:, 0, 0, 0].tolist() == list(range(27, 33))
    assert windows[160][1][0, 0, 0, 0] == 1022  # second trajectory, t = 0
    for a, b in zip(windows[-1], windows[319], strict=True):  # negative: from the end
        assert torch.equal(a, b)
    for index in (320, -321):
        with pytest.raises(IndexError, match=f"index {index} out of range for 320 windows"):
            windows[index]


def test_window_checks() -> None:
    with pytest.raises(ValueError, match="warmup=5 must be at least input_frames=10"):
        WindowLayout(warmup=5)
    with pytest.raises(ValueError, match=r"trajectory a has 100 frames, .* needs 187"):
        DynamicsWindows([_ramp(100)], range(160), WindowLayout(), ["a"])
    plan = SplitPlan(("a",), ("b",))
    assert plan.tasks("test-domain") == ("b",) and plan.starts("valid") == range(160, 200)
    assert plan.with_times({"train": (0, 4)}).starts("train") == range(4)
    with pytest.raises(ValueError, match="unknown split 'test'"):
        plan.tasks("test")
    with pytest.raises(ValueError, match=r"unknown split\(s\) \['future'\]"):
        plan.with_times({"future": (0, 1)})


def test_read_trajectory_checks_format(tmp_path: Path) -> None:
    path = tmp_path / "raw_data_1_1.pt"
    write_trajectory(path, 5, JETFLOW_GRID, seed=0)
    assert read_trajectory(path, JETFLOW_GRID).shape == (5, 2, 62, 23)
    with pytest.raises(IntegrityError, match=r"shape \(5, 2, 62, 23\), expected \(T, 2, 64, 64\)"):
        read_trajectory(path, (64, 64))
    torch.save({"not": "a tensor"}, path)
    with pytest.raises(IntegrityError, match="holds a dict, expected a tensor"):
        read_trajectory(path, JETFLOW_GRID)
    path.write_bytes(b"garbage")
    with pytest.raises(IntegrityError, match="not a readable torch tensor file"):
        read_trajectory(path, JETFLOW_GRID)


def test_jetflow_from_its_published_files(gmcnn_data: Path) -> None:
    raw = gmcnn_data / "jetflow" / "raw"
    keys = (*JETFLOW_PLAN.train_tasks, *JETFLOW_PLAN.domain_tasks)
    assert len(keys) == 24
    written = {
        k: write_trajectory(raw / f"raw_data_{k}.pt", 40, JETFLOW_GRID, i)
        for i, k in enumerate(keys)
    }
    with pytest.raises(FileNotFoundError, match="gmcnn data prepare jetflow --source files"):
        load("jetflow", "train")
    manifest = prepare("jetflow", progress=False)
    assert manifest.splits["trajectories"] == {"count": 24, "shape": [40, 2, 62, 23]}
    times = {"train": (0, 10), "valid": (10, 14), "test-future": (14, 20), "test-domain": (0, 8)}
    train = load("jetflow", "train", times=times)
    domain = load("jetflow", "test-domain", times=times)
    assert (len(train), len(domain)) == (18 * 10, 6 * 8)
    x, y = domain[8]  # second held-out region, t = 0; warmup 12 as in Wang et al.
    second = written[JETFLOW_PLAN.domain_tasks[1]]
    torch.testing.assert_close(x, second[2:12].reshape(20, 62, 23))
    torch.testing.assert_close(y, second[12:18])
    with pytest.raises(ValueError, match=r"needs 267"):
        load("jetflow", "test-future")  # the default range 200 … 250 needs longer files


def test_jetflow_missing_or_malformed_files(gmcnn_data: Path) -> None:
    raw = gmcnn_data / "jetflow" / "raw"
    for i, key in enumerate(JETFLOW_PLAN.train_tasks):
        write_trajectory(raw / f"raw_data_{key}.pt", 30, JETFLOW_GRID, i)
    with pytest.raises(FileNotFoundError, match=r"6 of the 24 trajectory files are missing"):
        prepare("jetflow", progress=False)
    for i, key in enumerate(JETFLOW_PLAN.domain_tasks):
        write_trajectory(raw / f"raw_data_{key}.pt", 30, (64, 64), i)
    with pytest.raises(IntegrityError, match=r"raw_data_2_3\.pt holds a tensor of shape"):
        prepare("jetflow", progress=False)
