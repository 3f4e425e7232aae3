"""The registry and the entry point: every dataset listed, prepared once, verified on load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from tests.data.helpers import needs_fashion

from gmcnn.data import REGISTRY, IntegrityError, datasets, load, prepare, prepared_folder
from gmcnn.data.image_dataset import ImageClassification

#: The datasets of EXPERIMENTS.md (Table 3, Tables 1–2, App. E) and the real-data stand-ins.
PAPER_DATASETS = {
    "rectangles",
    "mnist-noise",
    "mnist-bg-rot",
    "rotated-mnist",
    "cifar10",
    "norb",
    "smallnorb",
    "plumes-translation",
    "plumes-rotation",
    "plumes-scaling",
    "plumes-equivariance",
    "jetflow",
    "mnist",
    "fashion-mnist",
}


def test_registry_lists_every_dataset_with_a_source_kind() -> None:
    assert set(REGISTRY) >= PAPER_DATASETS
    rows = datasets()
    assert {row.name for row in rows} == set(REGISTRY)
    kinds = {row.kind for row in rows}
    assert kinds == {"generated", "embedded", "system package", "user files"}
    assert all(row.status != "prepared" for row in rows)
    fashion = {"rotated-fashion-mnist", "fashion-mnist-noise", "fashion-mnist-bg-rot"}
    assert fashion <= set(REGISTRY)


def test_generated_rectangles_prepare_once(gmcnn_data: Path) -> None:
    sizes = {"train": 40, "valid": 10, "test": 30}
    manifest = prepare("rectangles", progress=False, **sizes)
    assert {k: v["count"] for k, v in manifest.splits.items()} == sizes
    folder = prepared_folder("rectangles")
    assert folder == gmcnn_data / "rectangles" / "generated"
    stamps = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    again = prepare("rectangles", progress=False, **sizes)
    assert again == manifest
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == stamps
    train = load("rectangles", "train")
    assert isinstance(train, ImageClassification) and len(train) == 40
    image, label = train[0]
    assert image.shape == (1, 28, 28) and image.dtype == torch.float32 and label in (0, 1)
    status = {(r.name, r.source): r for r in datasets()}[("rectangles", "generated")]
    assert status.status == "prepared" and status.bytes == manifest.total_bytes


def test_same_seed_same_data_other_seed_other_data(tmp_path: Path) -> None:
    a = prepare("rectangles", root=tmp_path / "a", seed=3, train=20, valid=5, test=5)
    b = prepare("rectangles", root=tmp_path / "b", seed=3, train=20, valid=5, test=5)
    c = prepare("rectangles", root=tmp_path / "c", seed=4, train=20, valid=5, test=5)
    assert a.files == b.files and a.files != c.files


def test_options_that_differ_from_the_prepared_ones_are_refused() -> None:
    prepare("rectangles", train=20, valid=5, test=5, progress=False)
    with pytest.raises(ValueError, match=r"was prepared with options .*--force"):
        prepare("rectangles", train=21, valid=5, test=5, progress=False)
    with pytest.raises(ValueError, match=r"was prepared with options"):
        load("rectangles", "train", train=21, valid=5, test=5)
    rebuilt = prepare("rectangles", train=21, valid=5, test=5, force=True, progress=False)
    assert rebuilt.splits["train"]["count"] == 21


def test_bad_names_splits_and_options() -> None:
    with pytest.raises(ValueError, match="unknown dataset 'mnist-rot'"):
        load("mnist-rot", "train")
    with pytest.raises(ValueError, match="has no split 'test-future'"):
        load("rectangles", "test-future")
    with pytest.raises(ValueError, match="has no source 'zip'"):
        prepare("rectangles", "zip")
    with pytest.raises(ValueError, match=r"option\(s\) colour are not accepted .* accepted: seed"):
        prepare("rectangles", colour=1)


def test_integrity_errors_on_load() -> None:
    prepare("rectangles", train=20, valid=5, test=5, progress=False)
    folder = prepared_folder("rectangles")
    test_file = folder / "test.pt"
    raw = test_file.read_bytes()
    test_file.write_bytes(raw[:-7])
    with pytest.raises(IntegrityError, match=r"test\.pt is truncated: expected .* bytes"):
        load("rectangles", "test")
    test_file.write_bytes(raw[:-1] + bytes([raw[-1] ^ 1]))
    with pytest.raises(IntegrityError, match=r"test\.pt has been altered.*prepare rectangles"):
        load("rectangles", "train")
    test_file.unlink()
    with pytest.raises(FileNotFoundError, match=r"test\.pt listed in .* is missing"):
        load("rectangles", "valid")


def test_embedded_mnist_variants_build_on_first_load() -> None:
    plain = load("mnist", "train")
    rotated = load("rotated-mnist", "train")
    noisy = load("mnist-noise", "test")
    background = load("mnist-bg-rot", "valid")
    assert (len(plain), len(load("mnist", "valid")), len(load("mnist", "test"))) == (
        3500,
        500,
        1000,
    )
    # The same digits (same seed, same shuffle) in the same order, transformed.
    np.testing.assert_array_equal(plain.labels.numpy(), rotated.labels.numpy())
    assert not torch.equal(plain.images, rotated.images)
    assert np.bincount(plain.labels.numpy(), minlength=10).min() > 250  # shuffled, not sorted
    assert noisy.images.float().mean() > load("mnist", "test").images.float().mean() + 40
    assert len(background) == 500 and background.classes[3] == "3"


@needs_fashion
def test_fashion_recipes_run_on_the_debian_images() -> None:
    """Slices of the Larochelle-size variants (more in test_fashion_larochelle.py)."""
    rotated = load("rotated-fashion-mnist", "test", train=10, valid=10, test=300)
    assert len(rotated) == 300 and rotated.classes[0] == "T-shirt/top"
    assert np.bincount(rotated.labels.numpy(), minlength=10).min() > 10  # shuffled pool
