"""The CPU protocol of Table 2 (issue 11): ``configs/DATASET/cpu/METHOD.yaml`` and
``--protocol cpu``; ``data.downsample`` and ``data.stride``; one-line errors before training."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
import torch
from torch.utils.data import TensorDataset

import gmcnn.baselines  # noqa: F401  (registers the baselines)
from gmcnn.cli import main
from gmcnn.experiments.config import (
    ConfigError,
    find_config,
    list_experiments,
    load_config,
    protocol_experiment,
)
from gmcnn.experiments.data import Downsampled, block_mean
from gmcnn.models.registry import InputSpec, build_model, model_spec

PLUMES = ("plumes-translation", "plumes-rotation", "plumes-scaling")
CPU = [name for name in list_experiments() if "/cpu/" in name]
#: Options that set a model's width (narrowed 4× in the CPU protocol).
WIDTHS = ("hidden_channels", "hidden_fields", "lift_fields", "lift_channels")


def _one_error_line(err: str, *words: str) -> None:
    assert err.count("\n") == 1 and err.startswith("error:"), err
    assert all(word in err for word in words), err


def test_every_table_2_plume_config_has_a_cpu_protocol() -> None:
    for dataset in PLUMES:
        paper = [n for n in list_experiments() if n.startswith(f"{dataset}/") and n.count("/") == 1]
        assert paper
        for name in paper:
            assert protocol_experiment(name, "cpu") == name.replace("/", "/cpu/", 1)
            assert protocol_experiment(name, "cpu") in CPU
            assert protocol_experiment(name, "paper") == name
            assert protocol_experiment(name, None) == name


def _default(model: str, option: str) -> object:
    builder = model_spec(model).builder
    return inspect.signature(builder).parameters[option].default


@pytest.mark.parametrize("name", CPU)
def test_cpu_configs_reduce_the_paper_recipe_alike(name: str) -> None:
    cpu = load_config(name)
    paper = load_config(name.replace("/cpu/", "/"))
    assert find_config(name).read_text(encoding="utf-8").count(f"extends: {paper.name}") == 1
    assert (cpu.data.downsample, cpu.data.stride, cpu.data.batch_size) == (2, 4, 32)
    assert cpu.trainer.max_minutes == 20
    assert cpu.data.name == paper.data.name and cpu.seed == paper.seed
    assert (cpu.optimizer, cpu.scheduler) == (paper.optimizer, paper.scheduler)
    assert cpu.trainer.max_epochs == paper.trainer.max_epochs
    assert cpu.paper.rmse_future is None and cpu.paper.rmse_domain is None
    assert "CPU protocol" in cpu.paper.note
    assert cpu.model.name == paper.model.name
    if cpu.model.name == "gm-cnn-regressor":  # the same layer on the 32×32 grid's group
        expected = {**paper.model.options, "groups": ["C32", "C32"]}
        if paper.model.options.get("channel_mixing") == "full":  # narrowed like the baselines
            expected["hidden_channels"] = round(paper.model.options["hidden_channels"] / 4)
        assert cpu.model.options == expected
        return
    for option, value in cpu.model.options.items():
        if option in WIDTHS:
            full = paper.model.options.get(option, _default(cpu.model.name, option))
            assert value == round(full / 4), (option, value, full)  # type: ignore[operator]
        else:
            assert paper.model.options.get(option) == value


@pytest.mark.parametrize("name", CPU)
def test_every_cpu_model_builds_and_runs_on_the_32_grid(name: str) -> None:
    config = load_config(name)
    torch.manual_seed(0)
    inputs = InputSpec("dynamics", 20, (32, 32), 2)
    model = build_model(config.model.name, inputs, **config.model.options)
    with torch.no_grad():
        assert model.eval()(torch.randn(1, 20, 32, 32)).shape == (1, 2, 32, 32)


def test_a_model_for_the_full_grid_on_downsampled_data_is_one_line() -> None:
    config = load_config("plumes-rotation/gm", ["data.downsample=2"])
    with pytest.raises(ValueError, match=r"groups C64 × C64 have 64 × 64 elements, but the inputs"):
        build_model(
            config.model.name, InputSpec("dynamics", 20, (32, 32), 2), **config.model.options
        )


def test_protocol_errors_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ConfigError, match=r"has no cpu protocol.*plumes-rotation"):
        protocol_experiment("rot-mnist/gm-n3", "cpu")
    with pytest.raises(ConfigError, match="plumes-scaling has: conv, gm, gm-full, mlp"):
        protocol_experiment("plumes-scaling/rsteer", "cpu")
    assert protocol_experiment("plumes-rotation", "cpu") == "plumes-rotation/cpu"
    assert protocol_experiment("plumes-rotation/cpu/gm", "cpu") == "plumes-rotation/cpu/gm"
    for argv, words in (
        (["train", "rot-mnist/gm-n3", "--protocol", "cpu", "--dry-run"], ["rot-mnist"]),
        (["compare", "rectangles", "--protocol", "cpu", "--dry-run"], ["rectangles"]),
        (["train", "plumes-scaling/rpp", "--protocol", "cpu"], ["conv, gm, gm-full, mlp"]),
    ):
        assert main(argv) == 2
        _one_error_line(capsys.readouterr().err, *words)
    with pytest.raises(SystemExit) as usage:  # argparse's own exit, one line as every usage error
        main(["train", "plumes-rotation/gm", "--protocol", "gpu"])
    assert usage.value.code == 2
    _one_error_line(capsys.readouterr().err, "--protocol", "gpu")


def test_block_mean_and_downsampled_windows() -> None:
    x = torch.arange(2 * 4 * 6, dtype=torch.float32).reshape(2, 4, 6)
    expected = torch.nn.functional.avg_pool2d(x[None], 2)[0]
    torch.testing.assert_close(block_mean(x, 2, 2), expected)
    inputs = torch.randn(5, 20, 8, 8)
    targets = torch.randn(5, 6, 2, 8, 8)
    labels = torch.arange(5)
    windows = Downsampled(TensorDataset(inputs, targets), 2)
    a, b = windows[3]
    assert len(windows) == 5 and a.shape == (20, 4, 4) and b.shape == (6, 2, 4, 4)
    torch.testing.assert_close(a, torch.nn.functional.avg_pool2d(inputs[3], 2))
    torch.testing.assert_close(b, torch.nn.functional.avg_pool2d(targets[3], 2))
    images, label = Downsampled(TensorDataset(inputs, labels), 4)[2]
    assert images.shape == (20, 2, 2) and int(label) == 2


def test_downsample_and_stride_on_a_tiny_run(
    tiny_configs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every 2nd train/valid example, tests whole, 14×14 images for a GM-CNN on C14 × C14;
    a grid that the factor does not divide, or a model of the full grid, is one line."""
    argv = ["train", "tiny/gm", "data.downsample=2", "data.stride=2", "model.groups=[C14,C14]"]
    assert main([*argv, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "train 48, valid 16, test 32" in out and "1 × 14 × 14" in out
    assert main(["train", "tiny/gm", "data.downsample=3", "--dry-run"]) == 2
    _one_error_line(capsys.readouterr().err, "data.downsample", "28 × 28")
    assert main(["train", "tiny/gm", "data.downsample=2", "--dry-run"]) == 2
    _one_error_line(capsys.readouterr().err, "C28 × C28", "14 × 14")
    assert main(["train", "tiny/gm", "data.stride=0", "--dry-run"]) == 2
    _one_error_line(capsys.readouterr().err, "data.stride")
