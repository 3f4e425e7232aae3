"""MNIST IDX files, plain and gzipped, and the MNIST / Fashion-MNIST sources built on them."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from tests.data.helpers import idx_bytes, needs_fashion, write_idx, write_mnist_idx_folder

from gmcnn.data import load, prepare
from gmcnn.data.digits import FASHION_DEBIAN_DIR
from gmcnn.data.idx import read_idx
from gmcnn.data.storage import IntegrityError


@pytest.mark.parametrize("gzipped", [False, True])
def test_idx_round_trip(tmp_path: Path, gzipped: bool) -> None:
    images = np.random.default_rng(0).integers(0, 256, size=(7, 28, 28), dtype=np.uint8)
    path = write_idx(tmp_path / "images-idx3-ubyte", images, gzipped)
    assert path.read_bytes()[:2] == (b"\x1f\x8b" if gzipped else b"\x00\x00")
    np.testing.assert_array_equal(read_idx(path, (7, 28, 28)), images)
    labels = np.arange(7, dtype=np.uint8)
    lpath = write_idx(tmp_path / "labels-idx1-ubyte", labels, gzipped)
    assert idx_bytes(labels)[:4] == bytes.fromhex("00000801")
    np.testing.assert_array_equal(read_idx(lpath), labels)


def test_idx_errors_name_the_file(tmp_path: Path) -> None:
    raw = idx_bytes(np.zeros((5, 28, 28), dtype=np.uint8))
    path = tmp_path / "x-idx3-ubyte"
    path.write_bytes(raw[:-100])
    with pytest.raises(IntegrityError, match=r"x-idx3-ubyte is truncated: expected 3,936 bytes"):
        read_idx(path)
    path.write_bytes(raw + b"\0")
    with pytest.raises(IntegrityError, match="longer than its header"):
        read_idx(path)
    path.write_bytes(b"\x12\x34" + raw[2:])
    with pytest.raises(IntegrityError, match="not an IDX file"):
        read_idx(path)
    path.write_bytes(raw)
    with pytest.raises(IntegrityError, match=r"shape \(5, 28, 28\), expected \(6, 28, 28\)"):
        read_idx(path, (6, 28, 28))
    gz = tmp_path / "y.gz"
    gz.write_bytes(gzip.compress(raw)[:-20])
    with pytest.raises(IntegrityError, match="truncated or corrupt gzip"):
        read_idx(gz)
    with pytest.raises(FileNotFoundError, match="missing-idx"):
        read_idx(tmp_path / "missing-idx")


def test_full_mnist_from_user_idx_files(tmp_path: Path) -> None:
    raw = tmp_path / "mnist-files"
    write_mnist_idx_folder(raw, np.random.default_rng(1), gzipped=False)
    manifest = prepare("mnist", "idx", raw_dir=raw, progress=False)
    assert {k: v["count"] for k, v in manifest.splits.items()} == {
        "train": 50_000,
        "valid": 10_000,
        "test": 10_000,
    }
    assert len(manifest.inputs["files"]) == 4
    test = load("mnist", "test", source="idx")
    image, label = test[0]
    assert image.shape == (1, 28, 28) and 0 <= label <= 9
    truth = read_idx(raw / "t10k-images-idx3-ubyte")[0] / 255.0
    np.testing.assert_allclose(image[0].numpy(), truth, atol=1e-6)


def test_user_idx_source_without_files_says_where_to_put_them(gmcnn_data: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"MNIST IDX files .* in .*mnist/raw"):
        prepare("rotated-mnist", "idx", progress=False)


@needs_fashion
def test_fashion_mnist_from_the_debian_package() -> None:
    train = load("fashion-mnist", "train")
    assert len(train) == 50_000 and len(load("fashion-mnist", "test")) == 10_000
    truth = read_idx(FASHION_DEBIAN_DIR / "t10k-labels-idx1-ubyte.gz")
    np.testing.assert_array_equal(load("fashion-mnist", "test").labels.numpy(), truth)
    assert train.classes[9] == "Ankle boot"
