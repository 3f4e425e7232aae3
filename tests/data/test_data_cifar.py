"""CIFAR-10 python batches: the pickled format, its checks, and the prepared dataset."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from tests.data.helpers import write_cifar_batch

from gmcnn.data import cifar, load, prepare
from gmcnn.data.storage import IntegrityError

ROWS = 30  # the originals hold 10,000 rows per batch; the same code runs on 30 here


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cifar, "BATCH_ROWS", ROWS)


def _batch(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (ROWS, 3, 32, 32), dtype=np.uint8), rng.integers(0, 10, ROWS)


def _write_all(folder: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    batches = {}
    for seed, name in enumerate((*cifar.TRAIN_BATCHES, *cifar.TEST_BATCHES)):
        batches[name] = _batch(seed)
        write_cifar_batch(folder / name, *batches[name])
    return batches


@pytest.mark.usefixtures("small_batches")
def test_read_batch_keeps_channel_planes(tmp_path: Path) -> None:
    images, labels = _batch(0)
    path = write_cifar_batch(tmp_path / "data_batch_1", images, labels)
    x, y = cifar.read_batch(path)
    np.testing.assert_array_equal(x, images)
    np.testing.assert_array_equal(y, labels)
    assert x.shape == (ROWS, 3, 32, 32)
    # The original batches were pickled by Python 2 with numpy.core (not numpy._core) names.
    old_names = path.read_bytes().replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    path.write_bytes(old_names)
    np.testing.assert_array_equal(cifar.read_batch(path)[0], images)


@pytest.mark.usefixtures("small_batches")
def test_cifar_errors_name_the_file(tmp_path: Path) -> None:
    images, labels = _batch(0)
    path = write_cifar_batch(tmp_path / "data_batch_2", images, labels)
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(IntegrityError, match=r"data_batch_2 is not a CIFAR-10 python batch"):
        cifar.read_batch(path)
    write_cifar_batch(path, images[:10], labels[:10])
    with pytest.raises(
        IntegrityError, match=r"data_batch_2 is truncated: expected 30 rows, found 10"
    ):
        cifar.read_batch(path)
    write_cifar_batch(path, images, labels + 10)
    with pytest.raises(IntegrityError, match="labels outside 0 … 9"):
        cifar.read_batch(path)
    path.write_bytes(pickle.dumps({"data": 1}))
    with pytest.raises(IntegrityError, match="expected a dict with b'data'"):
        cifar.read_batch(path)


def test_pickles_that_would_run_code_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "test_batch"
    path.write_bytes(pickle.dumps(print))
    with pytest.raises(IntegrityError, match=r"builtins\.print is not allowed"):
        cifar.read_batch(path)


@pytest.mark.usefixtures("small_batches")
def test_cifar10_prepare_and_load(gmcnn_data: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"put them in .*cifar10/raw .*never downloads"):
        prepare("cifar10", progress=False)
    with pytest.raises(FileNotFoundError, match=r"gmcnn data prepare cifar10 --source python"):
        load("cifar10", "train")
    batches = _write_all(gmcnn_data / "cifar10" / "raw" / "cifar-10-batches-py")
    manifest = prepare("cifar10", valid=20, progress=False)
    assert {k: v["count"] for k, v in manifest.splits.items()} == {
        "train": 130,
        "valid": 20,
        "test": 30,
    }
    test = load("cifar10", "test")
    image, label = test[3]
    assert image.shape == (3, 32, 32) and image.dtype.is_floating_point
    np.testing.assert_allclose(image.numpy() * 255, batches["test_batch"][0][3], atol=1e-4)
    assert label == batches["test_batch"][1][3] and test.classes[0] == "airplane"
    (gmcnn_data / "cifar10" / "raw" / "cifar-10-batches-py" / "data_batch_3").unlink()
    with pytest.raises(FileNotFoundError, match=r"data_batch_3 does not exist; cifar10"):
        prepare("cifar10", valid=20, force=True, progress=False)
