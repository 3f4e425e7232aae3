"""Issue 13, the reliability pass: nothing but a run is ever deleted, every mistake is one
line naming the value (exit status 2, before anything is written), ``last.ckpt`` is the end
of every epoch, and the newcomer's path (evaluate, progress, reports, resume) works.

Trainings are the tiny configs of ``conftest.py`` (seconds each); nothing asserts timing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from gmcnn.cli import main
from gmcnn.experiments.callbacks import mean_epoch_seconds
from gmcnn.experiments.config import ConfigError, load_config
from gmcnn.experiments.report import collect_summaries, report_table
from gmcnn.experiments.runs import RunFolder, RunFolderError
from gmcnn.experiments.saved import evaluate_saved
from gmcnn.experiments.training import DataError, fit, train
from gmcnn.models import InputSpec, register_model


def _one_error_line(err: str, *words: str) -> None:
    assert err.count("\n") == 1 and err.startswith("error:"), err
    assert "Traceback" not in err
    assert all(word in err for word in words), err


def _subprocess(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *argv],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


# --- data loss: --overwrite replaces only a gmcnn run ---------------------------------------


def _users_folder(path: Path) -> dict[str, bytes]:
    path.mkdir(parents=True)
    (path / "thesis.txt").write_text("four years of work", encoding="utf-8")
    (path / "checkpoints").mkdir()
    return {"thesis.txt": (path / "thesis.txt").read_bytes()}


def test_overwrite_refuses_a_folder_that_is_not_a_run(
    tiny_configs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "mine"
    _users_folder(folder)
    with pytest.raises(RunFolderError, match=r"refusing to replace .*'thesis\.txt'"):
        train(load_config("tiny/gm"), folder, overwrite=True)
    code = main(["train", "tiny/gm", "--run-dir", str(folder), "--overwrite"])
    assert code == 2
    _one_error_line(capsys.readouterr().err, "thesis.txt", "refusing to replace")
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 2))
    data = TensorDataset(torch.randn(4, 1, 2, 2), torch.tensor([0, 1, 0, 1]))
    with pytest.raises(RunFolderError, match=r"thesis\.txt"):
        fit(model, data, data, run_dir=folder, overwrite=True, max_epochs=1)
    assert (folder / "thesis.txt").read_text(encoding="utf-8") == "four years of work"

    # a folder with a config.yaml that is not a gmcnn config, or a stray file in checkpoints/
    other = tmp_path / "other"
    other.mkdir()
    (other / "config.yaml").write_text("just: notes\n", encoding="utf-8")
    assert RunFolder(other).foreign_content() == "its config.yaml is not a gmcnn config"
    run = RunFolder(tmp_path / "run")
    run.prepare(load_config("tiny/gm"), resume=False, overwrite=False)
    assert run.foreign_content() is None
    (run.checkpoints / "notes.md").write_text("x", encoding="utf-8")
    assert "notes.md" in str(run.foreign_content())
    assert RunFolder(tmp_path / "missing").foreign_content() is None

    # another tool's run: a config.yaml with data and model keys, its own notes and drafts
    edge = tmp_path / "edge"
    (edge / "tensorboard").mkdir(parents=True)
    (edge / "config.yaml").write_text("data: mydata\nmodel: resnet\n", encoding="utf-8")
    assert RunFolder(edge).foreign_content() == "its config.yaml is not a gmcnn config"
    (edge / "config.yaml").write_text(run.config.read_text(encoding="utf-8"), encoding="utf-8")
    (edge / "tensorboard" / "notes.txt").write_text("mine", encoding="utf-8")
    assert "notes.txt" in str(RunFolder(edge).foreign_content())
    (edge / "tensorboard" / "notes.txt").unlink()
    (edge / ".draft.tmp").write_text("mine", encoding="utf-8")
    assert "'.draft.tmp'" in str(RunFolder(edge).foreign_content())
    (edge / ".draft.tmp").unlink()
    (edge / ".summary.json.123.tmp").write_text("{", encoding="utf-8")  # a killed write
    assert RunFolder(edge).foreign_content() is None
    fitted = tmp_path / "fitted"
    fit(model, data, data, run_dir=fitted, max_epochs=1, progress_bar=False)
    assert RunFolder(fitted).foreign_content() is None  # a run of fit() may be replaced
    fit(model, data, data, run_dir=fitted, overwrite=True, max_epochs=1, progress_bar=False)


def test_run_dir_under_a_file_or_on_a_file_is_one_line(
    tiny_configs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plain = tmp_path / "plain.txt"
    plain.write_text("x", encoding="utf-8")
    for run_dir, words in [(plain / "run", ("is a file, not a folder",)), (plain, ("plain.txt",))]:
        assert main(["train", "tiny/gm", "--run-dir", str(run_dir)]) == 2
        _one_error_line(capsys.readouterr().err, *words)
    assert plain.read_text(encoding="utf-8") == "x"


# --- one-line errors and silent accepts -----------------------------------------------------


@pytest.mark.parametrize(
    ("override", "words"),
    [
        ("optimizer.lr=nan", ("'optimizer.lr' = nan", "finite positive")),
        ("optimizer.lr=.inf", ("'optimizer.lr' = inf", "finite positive")),
        ("optimizer.weight_decay=-.inf", ("weight_decay",)),
        ("trainer.max_minutes=.nan", ("max_minutes",)),
        ("scheduler.min_lr=-1", ("min_lr",)),
        ("seed=-1", ("'seed' = -1",)),
        ("trainer.accelerator=tpux", ("'trainer.accelerator' = 'tpux'",)),
    ],
)
def test_non_finite_and_out_of_range_config_values_fail_the_dry_run(
    override: str,
    words: tuple[str, ...],
    tiny_configs: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["train", "tiny/gm", override, "--dry-run"]) == 2
    _one_error_line(capsys.readouterr().err, *words)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_asking_for_a_gpu_without_one_is_one_line(
    tiny_configs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for extra in (["--dry-run"], ["--run-dir", str(tmp_path / "run")]):
        assert main(["train", "tiny/gm", "trainer.accelerator=gpu", *extra]) == 2
        _one_error_line(capsys.readouterr().err, "'trainer.accelerator' = 'gpu'", "no CUDA GPU")
    assert not (tmp_path / "run").exists()
    for extra in (["--dry-run"], ["--run-dir", str(tmp_path / "strat")]):
        assert main(["train", "tiny/gm", "trainer.strategy=foo", *extra]) == 2
        _one_error_line(capsys.readouterr().err, "'trainer.strategy' = 'foo'", "ddp")
    assert not (tmp_path / "strat").exists()


def test_cli_usage_and_input_errors_are_one_line_with_status_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for argv, words in [
        (["bench", "--batch-size", "0"], ("--batch-size", "0 is not a positive integer")),
        (["bench", "--repeats", "x"], ("--repeats",)),
        (["train", "--no-such-option"], ("--no-such-option",)),
        (["nonsense"], ("nonsense",)),
    ]:
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 2
        _one_error_line(capsys.readouterr().err, *words)
    text = tmp_path / "model.ckpt"
    text.write_text("this is not a checkpoint\n", encoding="utf-8")
    for target in (text, tmp_path / "empty.ckpt"):
        target.touch()
        assert main(["evaluate", str(target)]) == 2
        _one_error_line(capsys.readouterr().err, str(target), "not a readable checkpoint")


def test_a_closed_stdout_ends_quietly(tiny_configs: Path) -> None:
    """``gmcnn train --list | head -1``: no BrokenPipeError, no traceback."""
    process = subprocess.Popen(
        [sys.executable, "-m", "gmcnn", "train", "--list"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # the reader has gone before the list is written, as `head` does
    err = process.stderr.read()
    assert process.wait(timeout=120) == 1
    assert "Traceback" not in err and "BrokenPipe" not in err and err == "", err


class Sized(nn.Module):
    """A linear classifier of 1 × 28 × 28 images with a chosen number of outputs."""

    def __init__(self, outputs: int) -> None:
        super().__init__()
        self.linear = nn.Linear(4, outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x.flatten(1)[:, :4])  # type: ignore[no-any-return]


def _images(labels: list[int]) -> TensorDataset:
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(len(labels), 1, 2, 2, generator=generator)
    return TensorDataset(images, torch.tensor(labels, dtype=torch.long))


def test_fit_checks_its_arguments_and_data_before_writing_anything(tmp_path: Path) -> None:
    data = _images([0, 1, 2, 1])
    run_dir = tmp_path / "run"
    cases: list[tuple[dict[str, object], type[Exception], str]] = [
        ({"max_epochs": 0}, ConfigError, "fit argument max_epochs = 0"),
        ({"lr": float("nan")}, ConfigError, "fit argument lr = nan"),
        ({"lr": float("inf")}, ConfigError, "fit argument lr = inf"),
        ({"batch_size": 0}, ConfigError, "fit argument batch_size = 0"),
        ({"max_epochs": 1.5}, ConfigError, "fit argument max_epochs = 1.5"),
        ({"task": "regression"}, ConfigError, "'regression'"),
    ]
    for options, error, message in cases:
        with pytest.raises(error, match=message):
            fit(Sized(3), data, data, run_dir=run_dir, **options)  # type: ignore[arg-type]
    with pytest.raises(DataError, match="train_data is empty"):
        fit(Sized(3), _images([]), data, run_dir=run_dir)
    with pytest.raises(DataError, match="valid_data is empty"):
        fit(Sized(3), data, _images([]), run_dir=run_dir)
    with pytest.raises(DataError, match=r"label 5 in the train set \(example 2\) .* 3 classes"):
        fit(Sized(3), _images([0, 1, 5, 1]), data, run_dir=run_dir)
    with pytest.raises(DataError, match=r"label 2 in the test set .* 2 classes 0 … 1"):
        fit(Sized(2), _images([0, 1]), _images([1, 0]), data, run_dir=run_dir)
    with pytest.raises(DataError, match="label -1 in the valid set"):
        fit(Sized(3), data, _images([0, -1]), run_dir=run_dir)
    assert not run_dir.exists()


def test_no_classes_is_refused_when_the_model_is_built() -> None:
    from gmcnn.groups import cyclic, direct_product
    from gmcnn.models import CNNClassifier, GMCNNClassifier, build_model

    for outputs in (0, -1):
        with pytest.raises(ValueError, match=f"outputs={outputs}: a model needs at least one"):
            InputSpec("classification", 1, (8, 8), outputs)
        with pytest.raises(ValueError, match="num_classes"):
            GMCNNClassifier(direct_product(cyclic(8), cyclic(8)), 1, outputs, channels=(2,))
        with pytest.raises(ValueError, match="num_classes"):
            CNNClassifier(1, outputs, channels=(2,))
    model = build_model("cnn-classifier", InputSpec("classification", 1, (8, 8), 3), channels=[2])
    assert model(torch.randn(2, 1, 8, 8)).shape == (2, 3)


# --- --help, --version and config errors stay light ---------------------------------------


def _imported(*argv: str, env: dict[str, str] | None = None) -> tuple[set[str], str, int]:
    """The modules ``python -m gmcnn ARGV`` imports (``-X importtime``), its stdout and status."""
    done = _subprocess("-X", "importtime", "-m", "gmcnn", *argv, env=env)
    modules = {
        line.rsplit("|", 1)[-1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:")
    }
    return modules, done.stdout, done.returncode


def test_help_version_and_config_errors_import_neither_torch_nor_lightning(
    tiny_configs: Path,
) -> None:
    from gmcnn.cli import package_version

    for argv in (("--help",), ("--version",)):
        modules, out, code = _imported(*argv)
        assert code == 0 and "gmcnn" in out
        assert not {"torch", "lightning", "matplotlib"} & modules, argv
    modules, out, _ = _imported("--version")
    assert out.strip() == f"gmcnn {package_version()}"
    assert package_version() == __import__("importlib.metadata").metadata.version("gmcnn")
    modules, _, code = _imported(
        "train",
        "tiny/gm",
        "trainer.max_epoch=2",
        env={"GMCNN_CONFIG_PATH": str(tiny_configs)},
    )
    assert code == 2 and "gmcnn.experiments.config" in modules
    assert not {"torch", "lightning"} & modules
    modules, _, code = _imported("evaluate", str(tiny_configs / "nothing"))
    assert code == 2 and "lightning" not in modules


# --- last.ckpt is the end of every epoch ----------------------------------------------------


class WorseEachStep(nn.Module):
    """Trains like a linear classifier; in evaluation its logits grow more confident in class
    0 with every training step taken, so the validation loss never improves after epoch 0."""

    def __init__(self, inputs: InputSpec) -> None:
        super().__init__()
        self.linear = nn.Linear(inputs.channels * 28 * 28, inputs.outputs)
        self.register_buffer("steps", torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.linear(x.flatten(1))
        if self.training:
            self.steps += 1
            return logits
        wrong = torch.zeros_like(logits)
        wrong[:, 0] = self.steps
        return logits * 0 + wrong


@register_model("test-worse-each-step", "classification", "validation loss only grows (tests)")
def worse_each_step(inputs: InputSpec) -> nn.Module:
    return WorseEachStep(inputs)


def test_last_checkpoint_is_written_at_the_end_of_every_epoch(
    tiny_configs: Path, tmp_path: Path
) -> None:
    config = load_config("tiny/gm", ["model={name: test-worse-each-step}"])
    run = RunFolder(tmp_path / "run")
    summary = train(config, run.path)
    assert summary is not None
    rows = (run.metrics).read_text(encoding="utf-8").splitlines()
    assert len(rows) == 1 + 3
    best = torch.load(run.best, weights_only=False)
    last = torch.load(run.last, weights_only=False)
    assert best["epoch"] == 0, "the validation loss only grew after the first epoch"
    assert last["epoch"] == 2 and last["global_step"] == 3 * 6
    assert summary["best_checkpoint"] == str(run.best)


# --- the newcomer's path ----------------------------------------------------------------


def test_evaluate_prints_the_test_accuracy_of_a_run(
    tiny_configs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = tmp_path / "run"
    argv = ["tiny/gm", "trainer.max_epochs=2", "trainer.progress_bar=true"]
    assert main(["train", *argv, "--run-dir", str(run_dir)]) == 0
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    train_out = capsys.readouterr().out
    assert "epoch 2/2:" in train_out and "test accuracy:" in train_out
    assert main(["evaluate", str(run_dir)]) == 0
    out = capsys.readouterr().out
    accuracy = 100 * summary["test"]["test"]["accuracy"]
    assert f"test accuracy: {accuracy:.2f}%" in out and "equivariance error:" in out
    assert summary["seconds_per_epoch_excludes_first"] is True
    assert "mean without the first, warm-up epoch" in train_out


def test_a_run_of_fit_can_be_evaluated(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _images([0, 1, 2, 1, 0, 2, 1, 0])
    run_dir = tmp_path / "fitted"
    torch.manual_seed(0)
    summary = fit(Sized(3), data, data, data, run_dir=run_dir, max_epochs=2, batch_size=4)
    out = capsys.readouterr().out
    assert "epoch 1/2:" in out and "epoch 2/2:" in out  # progress while training
    accuracy = summary["test"]["test"]["accuracy"]

    again = evaluate_saved(run_dir, model=Sized(3), test_data=data)
    assert again["test"]["test"]["accuracy"] == accuracy
    recorded = evaluate_saved(run_dir)
    assert recorded["recorded"] and recorded["test"]["test"]["accuracy"] == accuracy
    with pytest.raises(ValueError, match="pass both model and test_data"):
        evaluate_saved(run_dir, model=Sized(3))
    assert main(["evaluate", str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert "trained by fit()" in out and f"test accuracy: {100 * accuracy:.2f}%" in out

    fit(Sized(3), data, data, run_dir=tmp_path / "quiet", max_epochs=1, progress_bar=False)
    assert "epoch" not in capsys.readouterr().out


def test_mean_epoch_seconds_leaves_out_the_first_epoch() -> None:
    assert mean_epoch_seconds([]) is None
    assert mean_epoch_seconds([5.0]) == 5.0
    assert mean_epoch_seconds([9.0, 1.0, 3.0]) == 2.0


def test_reports_mark_subset_runs_and_tell_runs_apart(
    tiny_configs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = tmp_path / "runs"
    config = load_config("tiny/gm", ["trainer.max_epochs=1", "data.max_examples=16"])
    for name in ("subset-a", "subset-b"):
        train(config, runs / name)
    full = train(load_config("tiny/gm", ["trainer.max_epochs=1"]), runs / "full")
    assert full is not None and full["subset"] is None
    summaries = collect_summaries([runs])
    table = report_table(summaries)
    rows = [line for line in table.splitlines() if line.startswith("| tiny/gm")]
    assert len(rows) == 3
    subset_rows = [r for r in rows if "subset: 16 examples" in r]
    assert len(subset_rows) == 2
    assert all("— (subset)" in r and "99.60" not in r for r in subset_rows)
    assert "99.60" in next(r for r in rows if "subset" not in r)
    assert "subset-a (" in subset_rows[0] and "subset-b (" in subset_rows[1]
    assert "not comparable with the paper" in table
    assert main(["train", "tiny/gm", "data.max_examples=16", "--dry-run"]) == 0
    assert "subset: the first 16 examples" in capsys.readouterr().out
    # evaluate says so too, and only for the subset runs
    assert main(["evaluate", str(runs / "subset-a")]) == 0
    assert "subset: 16 examples per split" in capsys.readouterr().out
    assert main(["evaluate", str(runs / "full")]) == 0
    assert "examples per split" not in capsys.readouterr().out


def test_resume_may_raise_max_epochs_and_nothing_else(
    tiny_configs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["train", "tiny/gm", "trainer.max_epochs=2"]) == 0
    capsys.readouterr()
    assert main(["train", "tiny/gm", "trainer.max_epochs=3", "--resume"]) == 0
    err = capsys.readouterr().err
    run_dir = tmp_path / "runs" / "tiny" / "gm,trainer.max_epochs=2"
    assert f"resuming {run_dir}" in err
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    assert summary["epochs"] == 3
    assert RunFolder(run_dir).saved_config()["trainer"]["max_epochs"] == 3
    rows = (run_dir / "metrics.csv").read_text(encoding="utf-8").splitlines()
    assert [row.split(",")[0] for row in rows[1:]] == ["0", "1", "2"]

    for override, words in [
        ("trainer.max_epochs=2", ("trainer.max_epochs=2", "may only raise it")),
        ("optimizer.lr=0.1", ("'optimizer.lr' differs", "only trainer.max_epochs may grow")),
    ]:
        code = main(["train", "tiny/gm", override, "--run-dir", str(run_dir), "--resume"])
        assert code == 2
        _one_error_line(capsys.readouterr().err, *words)


def test_layer_index_arrays_are_not_in_the_state_dict_as_docs_layers_md_says() -> None:
    from gmcnn.groups import cyclic, direct_product
    from gmcnn.nn import GMConv

    group = direct_product(cyclic(8), cyclic(8))
    layers = {
        path: GMConv(group, 2, 3, radius=1, channel_mixing="full", implementation=path)
        for path in ("conv", "fft", "gather")
    }
    derived = {"taps", "members", "turns", "source", "target", "layout", "position"}
    for layer in layers.values():
        assert set(layer.state_dict()) == {"weight", "bias", "kernel_elements"}
        assert derived & {name for name, _ in layer.named_buffers()}
    layers["gather"].load_state_dict(layers["fft"].state_dict(), strict=True)
    x = torch.randn(1, 2, 8, 8)
    torch.testing.assert_close(layers["gather"](x), layers["fft"](x), atol=1e-5, rtol=1e-5)
