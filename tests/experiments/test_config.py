"""Configs: every experiment loads; overrides; each bad key or value is named in the error."""

from __future__ import annotations

from pathlib import Path

import pytest

from gmcnn.experiments.config import (
    ConfigError,
    apply_overrides,
    config_dirs,
    list_experiments,
    load_config,
    parse_override,
)

TABLE3_DATASETS = (
    "mnist-bg-rot",
    "mnist-noise",
    "cifar10",
    "norb",
    "smallnorb",
    "rectangles",
    "rot-mnist",
)
TABLE3_METHODS = ("gm-n3", "gm-n3-e", "gm-n1-pe", "gm-n2-pe", "gm-n3-pe")
DYNAMICS = (
    "plumes-translation",
    "plumes-rotation",
    "plumes-scaling",
    "jetflow-translation",
    "jetflow-rotation",
    "jetflow-scaling",
)


def test_every_paper_experiment_has_a_config() -> None:
    known = set(list_experiments())
    expected = {f"{d}/{m}" for d in TABLE3_DATASETS for m in TABLE3_METHODS}
    expected |= {f"{d}/gm" for d in DYNAMICS}
    assert expected <= known
    for name in sorted(known):
        config = load_config(name)
        assert config.name == name
        assert config.description


def test_defaults_follow_appendix_a() -> None:
    config = load_config("rectangles/gm-n3")
    assert config.optimizer.weight_decay == 0.0153
    assert config.scheduler.factor == 0.7 and config.scheduler.patience == 8
    assert config.trainer.early_stopping_patience == 6 and config.trainer.max_epochs == 100
    assert config.data.batch_size == 1024
    assert load_config("plumes-rotation/gm").data.batch_size == 256


def test_extends_merges_and_a_new_model_name_replaces_the_section() -> None:
    e = load_config("rectangles/gm-n3-e")
    assert e.model.options["relaxation"] == "error_addition"
    assert e.model.options["channels"] == [120, 120]
    cnn = load_config("rot-mnist/demo-cnn")
    assert cnn.model.name == "cnn-classifier" and "groups" not in cnn.model.options


def test_overrides_set_nested_keys_with_yaml_values() -> None:
    config = load_config(
        "rectangles/gm-n3",
        ["trainer.max_epochs=5", "model.radius=2", "optimizer.lr=1e-3", "data.options.seed=4"],
    )
    assert config.trainer.max_epochs == 5
    assert config.model.options["radius"] == 2
    assert config.optimizer.lr == 0.001
    assert config.data.options == {"seed": 4}
    assert parse_override("model.channels=[4, 4]") == (["model", "channels"], [4, 4])
    assert apply_overrides({"a": {"b": 1}}, ["a.c=x"]) == {"a": {"b": 1, "c": "x"}}


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        (["trainer.max_epoch=3"], "'trainer.max_epoch'"),
        (["optimizer.lr=fast"], "'optimizer.lr'"),
        (["model.radiuss=2"], "'model.radiuss'"),
        (["colour=red"], "'colour'"),
        (["trainer.devices=many"], "'trainer.devices'"),
        (["trainer.precision=8-bit"], "'trainer.precision'"),
        (["scheduler.factor=1.5"], "'scheduler.factor'"),
        (["data.batch_size=0"], "'data.batch_size'"),
        (["data.name=imagenet"], "'data.name'"),
        (["model.name=resnet"], "'model.name'"),
        (["model.name=gm-cnn-regressor"], "'model.name'"),
        (["trainer=5"], "'trainer'"),
        (["seed"], "key=value"),
    ],
)
def test_bad_keys_and_values_fail_naming_the_key(overrides: list[str], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        load_config("rectangles/gm-n3", overrides)


def test_unknown_experiment_lists_the_dataset_s_experiments() -> None:
    with pytest.raises(ConfigError, match="rectangles/gm-n3-e"):
        load_config("rectangles/gm-n4")


def test_extends_loop_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "a.yaml").write_text("extends: x/b\n")
    (tmp_path / "x" / "b.yaml").write_text("extends: x/a\n")
    monkeypatch.setenv("GMCNN_CONFIG_PATH", str(tmp_path))
    assert config_dirs()[0] == tmp_path
    with pytest.raises(ConfigError, match="loops"):
        load_config("x/a")


def test_a_yaml_path_is_an_experiment(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text("data: {name: rectangles}\nmodel: {name: cnn-classifier}\n")
    config = load_config(str(path))
    assert config.name == "mine" and config.task == "classification"
