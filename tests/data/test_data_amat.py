"""Larochelle ``.amat`` files: exact text format, row counts, and the datasets built from them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tests.data.helpers import amat_text, write_amat

from gmcnn.data import amat, load, prepare
from gmcnn.data.storage import IntegrityError


def _examples(count: int, classes: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    images = rng.random((count, 28, 28)).astype(np.float32)
    return images, rng.integers(0, classes, size=count)


def test_read_amat_round_trip(tmp_path: Path) -> None:
    images, labels = _examples(5, 10)
    path = write_amat(tmp_path / "a.amat", images, labels)
    first = path.read_text().splitlines()[0].split()
    assert len(first) == 785 and float(first[-1]) == labels[0]
    x, y = amat.read_amat(path, rows=5, classes=10)
    np.testing.assert_allclose(x, images, atol=1e-7)
    np.testing.assert_array_equal(y, labels)


def test_amat_errors(tmp_path: Path) -> None:
    images, labels = _examples(4, 10)
    path = tmp_path / "rectangles_train.amat"
    text = amat_text(images, labels)
    path.write_text(text[: len(text) // 2])
    with pytest.raises(IntegrityError, match=r"rectangles_train\.amat is not a valid \.amat"):
        amat.read_amat(path, rows=4, classes=10)
    path.write_text(amat_text(images[:3], labels[:3]))
    with pytest.raises(IntegrityError, match=r"is truncated: expected 4 rows, found 3"):
        amat.read_amat(path, rows=4, classes=10)
    path.write_text(amat_text(images, labels + 10))
    with pytest.raises(IntegrityError, match=r"labels outside the integers 0 … 9"):
        amat.read_amat(path, rows=4, classes=10)
    path.write_text(" ".join(["0"] * 10) + "\n")
    with pytest.raises(IntegrityError, match="10 values per row, expected 785"):
        amat.read_amat(path, rows=1, classes=10)
    with pytest.raises(FileNotFoundError):
        amat.read_amat(tmp_path / "absent.amat", rows=1, classes=10)
    with pytest.raises(ValueError, match="level 7 does not exist"):
        amat.noise_variation_file(7)


def test_rotated_mnist_from_amat_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The originals have 12,000 + 50,000 rows; the same code runs on 2,005 + 7 rows here.
    files = {
        "train_valid": amat.AmatFile(
            amat.AMAT_FILES["rotated-mnist"]["train_valid"].filename, 2005
        ),
        "test": amat.AmatFile(amat.AMAT_FILES["rotated-mnist"]["test"].filename, 7),
    }
    monkeypatch.setitem(amat.AMAT_FILES, "rotated-mnist", files)
    raw = tmp_path / "larochelle"
    tv = _examples(2005, 10, seed=1)
    test = _examples(7, 10, seed=2)
    write_amat(raw / files["train_valid"].filename, *tv)
    write_amat(raw / files["test"].filename, *test)
    manifest = prepare("rotated-mnist", "amat", raw_dir=raw, progress=False)
    assert {k: v["count"] for k, v in manifest.splits.items()} == {
        "train": 5,
        "valid": 2000,
        "test": 7,
    }
    data = load("rotated-mnist", "test", source="amat")
    assert data.images.dtype.is_floating_point
    np.testing.assert_allclose(data.images[:, 0].numpy(), test[0], atol=1e-7)
    np.testing.assert_array_equal(data.labels.numpy(), test[1])


def test_mnist_noise_level_file(gmcnn_data: Path) -> None:
    # A real-size noise-variation file (14,000 rows), written as repeated plain lines.
    line = " ".join(["0"] * 392 + ["1"] * 392)
    text = "".join(f"{line} {i % 10}\n" for i in range(14_000))
    raw = gmcnn_data / "mnist-noise" / "raw"
    raw.mkdir(parents=True)
    (raw / "mnist_noise_variations_all_3.amat").write_text(text)
    manifest = prepare("mnist-noise", "amat", level=3, progress=False)
    assert [manifest.splits[s]["count"] for s in ("train", "valid", "test")] == [
        10_000,
        2_000,
        2_000,
    ]
    assert int(load("mnist-noise", "test", source="amat")[5][1]) == 12_005 % 10
    with pytest.raises(FileNotFoundError, match=r"mnist_noise_variations_all_1\.amat"):
        prepare("mnist-noise", "amat", level=1, force=True, progress=False)
