"""``gmcnn compare``: several methods trained alike, one table, plots, resume and failures.

Also the relaxation penalty in the training loss and the App. E path (a tiny plume
equivariance-test set in the published ``files`` format, trained at two levels).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from torch import Tensor, nn

from gmcnn.cli import main
from gmcnn.data import prepare
from gmcnn.experiments.compare import CompareError, compare, plan, select_methods
from gmcnn.experiments.config import ConfigError, load_config
from gmcnn.experiments.evaluation import velocity_rotation_error
from gmcnn.experiments.tasks import make_task, relaxation_penalty

CIRCULANT = """\
extends: tiny/gm
model:
  name: circulant
"""
ONE_EPOCH = ["trainer.max_epochs=1"]


@pytest.fixture
def three_methods(tiny_configs: Path) -> Path:
    """``tiny/gm``, ``tiny/cnn`` and a structured baseline ``tiny/circulant``."""
    (tiny_configs / "tiny" / "circulant.yaml").write_text(CIRCULANT, encoding="utf-8")
    return tiny_configs


def test_compare_trains_each_method_alike_and_writes_one_table(
    three_methods: Path, tmp_path: Path
) -> None:
    output = tmp_path / "cmp"
    lines: list[str] = []
    result = compare("tiny", ["gm", "circulant"], ONE_EPOCH, output=output, log=lines.append)

    assert [s["status"] for s in result.summaries] == ["completed", "completed"]
    assert {s["splits"]["train"] for s in result.summaries} == {96}
    assert all(s["epochs"] == 1 for s in result.summaries)
    for method in ("gm", "circulant"):
        assert (output / method / "summary.json").is_file()
    table = (output / "compare.md").read_text(encoding="utf-8")
    assert "| tiny/gm |" in table and "| tiny/circulant |" in table
    assert "FLOPs / example" in table and "equivariance error" in table
    assert (output / "accuracy_vs_parameters.png").stat().st_size > 0
    assert json.loads((output / "compare.json").read_text())["methods"] == ["gm", "circulant"]
    assert any("[2/2] circulant" in line for line in lines)

    # the folders are there: refused without --resume / --overwrite, before anything trains
    with pytest.raises(CompareError, match="already exists"):
        compare("tiny", ["gm", "circulant", "cnn"], ONE_EPOCH, output=output)
    assert not (output / "cnn").exists()

    # --resume skips the finished methods and trains only the new one
    before = (output / "gm" / "summary.json").stat().st_mtime_ns
    lines.clear()
    again = compare(
        "tiny", ["gm", "circulant", "cnn"], ONE_EPOCH, output=output, resume=True, log=lines.append
    )
    assert (output / "gm" / "summary.json").stat().st_mtime_ns == before
    assert [r.action for r in again.runs] == ["skip", "skip", "train"]
    assert sum("finished, skipped" in line for line in lines) == 2
    assert again.summaries[2]["status"] == "completed"
    assert "| tiny/cnn |" in (output / "compare.md").read_text(encoding="utf-8")

    # resuming with another budget is refused, naming the key
    with pytest.raises(ConfigError, match=r"trainer\.max_epochs"):
        plan("tiny", ["gm"], ["trainer.max_epochs=2"], output=output, resume=True)


def test_bad_method_is_one_error_line_before_anything_trains(
    three_methods: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "cmp"
    code = main(["compare", "tiny", "--methods", "gm,ldr-td", "--output", str(output)])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.count("\n") == 0
    assert "'ldr-td'" in err and "available: circulant, cnn, gm" in err
    assert not output.exists()
    with pytest.raises(CompareError, match="no configs/nope"):
        select_methods("nope")
    assert select_methods("tiny", ["all"]) == ["circulant", "cnn", "gm"]


def test_methods_must_share_data_seed_and_budget(three_methods: Path, tmp_path: Path) -> None:
    with pytest.raises(CompareError, match="differ in 'seed'"):
        plan("tiny", ["gm", "cnn"], ["gm:seed=5"], output=tmp_path / "cmp")
    with pytest.raises(CompareError, match="not compared"):
        plan("tiny", ["gm"], ["cnn:seed=5"], output=tmp_path / "cmp")
    with pytest.raises(CompareError, match="equivariance levels"):
        plan("tiny", ["gm"], [], output=tmp_path / "cmp", levels=[0])
    runs = plan("tiny", ["gm", "cnn"], ["seed=5", "cnn:model.channels=[2,2]"], output=tmp_path)
    assert [r.config.seed for r in runs] == [5, 5]
    assert runs[1].config.model.options["channels"] == [2, 2]


def test_a_failing_method_is_reported_and_the_others_still_run(
    three_methods: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "cmp"
    # C5 × C5 cannot act on 28 × 28 images: the model fails to build when its turn comes
    code = main(
        [
            "compare",
            "tiny",
            "--methods",
            "gm,circulant",
            "--output",
            str(output),
            "trainer.max_epochs=1",
            "gm:model.groups=[C5,C5]",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 1
    assert "| tiny/gm | failed |" in out
    assert "| tiny/circulant | " in out and "1 of 2 methods failed: gm" in err
    record = json.loads((output / "compare.json").read_text())
    assert record["command"].startswith("gmcnn compare tiny --methods gm,circulant --output")
    assert record["command"].endswith("'gm:model.groups=[C5,C5]'")
    failed = json.loads((output / "gm" / "summary.json").read_text())
    assert failed["status"] == "failed" and "C5" in failed["error"]
    assert json.loads((output / "circulant" / "summary.json").read_text())["status"] == (
        "completed"
    )


# --- the relaxation penalty in the training loss ---------------------------------------------


class Penalised(nn.Module):
    """A linear classifier whose ``relaxation_penalty()`` is the squared norm of its weight."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 2)

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(x.flatten(1))  # type: ignore[no-any-return]

    def relaxation_penalty(self) -> Tensor:
        return self.linear.weight.square().sum()


def test_relaxation_penalty_enters_the_training_loss_only(tiny_configs: Path) -> None:
    batch = (torch.randn(8, 1, 2, 2), torch.randint(0, 2, (8,)))
    model = Penalised()
    plain = make_task(model, load_config("tiny/gm"))
    weighted = make_task(model, load_config("tiny/gm", ["optimizer.relaxation_weight=2.5"]))
    task_loss, _ = plain.loss(batch)
    total, metrics = weighted.training_loss(batch)
    torch.testing.assert_close(total, task_loss + 2.5 * model.relaxation_penalty())
    assert "relaxation_penalty" in metrics
    torch.testing.assert_close(weighted.loss(batch)[0], task_loss)  # validation: task loss
    torch.testing.assert_close(plain.training_loss(batch)[0], task_loss)  # weight 0: unchanged
    total.backward()
    assert model.linear.weight.grad is not None
    with pytest.raises(ConfigError, match=r"optimizer\.relaxation_weight"):
        load_config("tiny/gm", ["optimizer.relaxation_weight=-1"])


def test_penalty_falls_back_to_gmconv_equivariance_penalties() -> None:
    from gmcnn.groups import cyclic
    from gmcnn.nn import GMConv

    relaxed = GMConv(cyclic(6), 2, 3, radius=1, relaxation="error_addition")
    with torch.no_grad():
        for parameter in relaxed.parameters():
            parameter.normal_()
    wrapped = nn.Sequential(relaxed, nn.ReLU())
    penalty = relaxation_penalty(wrapped)
    assert penalty is not None
    torch.testing.assert_close(penalty, relaxed.equivariance_penalty())
    assert relaxation_penalty(nn.Linear(2, 2)) is None


def test_relaxed_baselines_train_with_their_penalty() -> None:
    for experiment in (
        "plumes-rotation/rsteer",
        "plumes-rotation/rpp",
        "plumes-equivariance/rgroup",
    ):
        assert load_config(experiment).optimizer.relaxation_weight == 1.0
    assert load_config("plumes-equivariance/gm").optimizer.relaxation_weight == 0.0


# --- App. E: model vs. data equivariance error -----------------------------------------------

PLUME_OPTIONS = "data.options={times: {train: [0, 3], valid: [3, 5]}, target_frames: 2}"


@pytest.fixture
def plume_equivariance_files(tmp_path: Path) -> None:
    """28 trajectories ``raw_data_<i>.pt`` of 12 frames on 64 × 64, as published; prepared."""
    raw = tmp_path / "plumes-raw"
    raw.mkdir()
    generator = torch.Generator().manual_seed(0)
    base = torch.randn(12, 2, 64, 64, generator=generator)
    for i in range(1, 29):  # simulation i: the base plume, changed more for larger i
        frames = base + 0.05 * i * torch.randn(12, 2, 64, 64, generator=generator)
        torch.save(frames, raw / f"raw_data_{i}.pt")
    prepare("plumes-equivariance", "files", os.environ["GMCNN_DATA"], raw_dir=raw, progress=False)


def test_app_e_trains_every_method_per_level_and_plots_model_vs_data_error(
    plume_equivariance_files: None, tmp_path: Path
) -> None:
    output = tmp_path / "app-e"
    overrides = [
        "data.source=files",
        PLUME_OPTIONS,
        "trainer.max_epochs=1",
        "trainer.progress_bar=false",
        "data.batch_size=4",
        "evaluation.equivariance_examples=2",
        "gm:model.hidden_channels=2",
        "gm:model.layers=1",
        "e2cnn:model.hidden_fields=1",
        "e2cnn:model.num_layers=2",
    ]
    result = compare(
        "plumes-equivariance", ["gm", "e2cnn"], overrides, output=output, levels=[0, 1]
    )
    summaries = {(r.method, r.level): s for r, s in zip(result.runs, result.summaries, strict=True)}
    assert all(s["status"] == "completed" for s in summaries.values())
    assert summaries["gm", 0]["data_equivariance_error"] == 0.0
    assert summaries["gm", 1]["data_equivariance_error"] > 0.0
    for summary in summaries.values():
        assert list(summary["test"]) == ["valid"]  # the sets have train and valid only
        assert summary["equivariance"]["group"] == "C4 (velocity rotations)"
        assert summary["splits"]["valid"] == 8
    # the steerable CNN is exactly C4-equivariant on the data's velocity fields
    assert summaries["e2cnn", 1]["equivariance"]["error"] < 1e-4
    assert summaries["gm", 1]["equivariance"]["error"] > 1e-3
    table = (output / "compare.md").read_text(encoding="utf-8")
    assert "plumes-equivariance/e2cnn @ level 1" in table
    assert "data equivariance error" in table
    assert (output / "model_vs_data_equivariance_error.png").stat().st_size > 0
    assert (output / "level-1" / "e2cnn" / "summary.json").is_file()


def test_velocity_rotation_error_is_zero_for_a_rotation_equivariant_map() -> None:
    def negate(x: Tensor) -> Tensor:  # pointwise, commutes with every rotation
        return -x[:, -2:]

    x = torch.randn(3, 4, 8, 8)
    assert velocity_rotation_error(negate, x) < 1e-7

    def shift(x: Tensor) -> Tensor:
        return torch.roll(x[:, -2:], 1, dims=-1)

    assert velocity_rotation_error(shift, x) > 0.1
    with pytest.raises(ValueError, match="square grids"):
        velocity_rotation_error(negate, torch.randn(1, 2, 4, 6))
