"""The Fashion-MNIST variants at Larochelle et al.'s sizes (10,000 / 2,000 / 50,000).

The builds run on small slices of Debian's Fashion-MNIST (``train``/``valid``/``test``
options) so the tests stay fast; the full-size cut is checked on pool indices.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from tests.data.helpers import needs_fashion

from gmcnn.cli import main
from gmcnn.data import load, prepare
from gmcnn.data.api import REGISTRY, prepared_folder
from gmcnn.data.classification_catalog import LAROCHELLE_SIZES, larochelle_cut
from gmcnn.data.digits import FASHION_CLASSES, FASHION_DEBIAN_DIR, read_idx_folder
from gmcnn.data.image_dataset import ImageClassification

VARIANTS = ("rotated-fashion-mnist", "fashion-mnist-noise", "fashion-mnist-bg-rot")
SLICE = {"train": 120, "valid": 30, "test": 200}


def _pool_indices() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The official splits with each image replaced by its index in the 70,000-image pool."""
    official = read_idx_folder(FASHION_DEBIAN_DIR)
    train_labels, test_labels = official["train"][1], official["test"][1]
    return {
        "train": (np.arange(60_000), train_labels),
        "test": (np.arange(60_000, 70_000), test_labels),
    }


def _split(name: str, split: str, root: Path) -> ImageClassification:
    data = load(name, split, root)
    assert isinstance(data, ImageClassification)
    return data


def test_the_variants_are_registered_at_larochelles_sizes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert LAROCHELLE_SIZES == {"train": 10_000, "valid": 2_000, "test": 50_000}
    for name in VARIANTS:
        source = REGISTRY[name].source(None)
        assert source.name == "debian" and source.kind == "system package"
        assert {k: source.defaults[k] for k in LAROCHELLE_SIZES} == LAROCHELLE_SIZES
        assert "10,000/2,000/50,000" in source.description
    assert main(["data", "list"]) == 0
    listing = capsys.readouterr().out
    assert all(name in listing for name in VARIANTS)


def test_bad_sizes_are_one_line_errors_naming_them() -> None:
    pool = {"train": (np.arange(6), np.zeros(6)), "test": (np.arange(6, 8), np.zeros(2))}
    with pytest.raises(ValueError, match=r"train=5 \+ valid=2 \+ test=2 = 9 exceeds the 8 images"):
        larochelle_cut(pool, {"train": 5, "valid": 2, "test": 2}, seed=0)
    with pytest.raises(ValueError, match=r"option valid=0: expected a positive number"):
        larochelle_cut(pool, {"train": 5, "valid": 0, "test": 2}, seed=0)


@needs_fashion
def test_the_full_size_cut_is_disjoint_and_seeded() -> None:
    pool = _pool_indices()
    cut = larochelle_cut(pool, LAROCHELLE_SIZES, seed=0)
    assert {name: len(labels) for name, (_, labels) in cut.items()} == LAROCHELLE_SIZES
    indices = {name: set(images.tolist()) for name, (images, _) in cut.items()}
    assert not indices["train"] & indices["valid"]
    assert not indices["train"] & indices["test"]
    assert not indices["valid"] & indices["test"]
    assert len(set.union(*indices.values())) == 62_000
    # the labels travel with their images; every class is in every split
    all_labels = np.concatenate([pool["train"][1], pool["test"][1]])
    for images, labels in cut.values():
        np.testing.assert_array_equal(all_labels[images], labels)
        assert np.bincount(labels, minlength=10).min() > 0
    again = larochelle_cut(pool, LAROCHELLE_SIZES, seed=0)
    other = larochelle_cut(pool, LAROCHELLE_SIZES, seed=1)
    np.testing.assert_array_equal(again["test"][0], cut["test"][0])
    assert not np.array_equal(other["test"][0], cut["test"][0])


@needs_fashion
@pytest.mark.parametrize("name", VARIANTS)
def test_a_slice_has_the_right_sizes_a_manifest_and_is_reproducible(
    name: str, tmp_path: Path
) -> None:
    manifest = prepare(name, root=tmp_path / "a", progress=False, **SLICE)
    assert {split: manifest.splits[split]["count"] for split in SLICE} == SLICE
    assert {k: manifest.options[k] for k in (*SLICE, "seed")} == {**SLICE, "seed": 0}
    idx_files = ("train-images-idx3", "train-labels-idx1", "t10k-images-idx3", "t10k-labels-idx1")
    assert set(manifest.inputs["files"]) == {
        str(FASHION_DEBIAN_DIR / f"{stem}-ubyte.gz") for stem in idx_files
    }
    folder = prepared_folder(name, root=tmp_path / "a")
    recorded = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert recorded["options"]["train"] == SLICE["train"]

    # The split's labels are those of the seeded cut (so no image is in two splits).
    pool = _pool_indices()
    cut = larochelle_cut(pool, SLICE, seed=0)
    for split, count in SLICE.items():
        data = _split(name, split, tmp_path / "a")
        assert len(data) == count and data.classes == FASHION_CLASSES
        assert data.images.shape == (count, 1, 28, 28) and data.images.dtype == torch.uint8
        np.testing.assert_array_equal(data.labels.numpy(), cut[split][1])

    # Deterministic given the seed; another seed draws other images and transforms.
    prepare(name, root=tmp_path / "b", progress=False, **SLICE)
    prepare(name, root=tmp_path / "c", progress=False, **{**SLICE, "seed": 1})
    for split in SLICE:
        first = _split(name, split, tmp_path / "a")
        assert torch.equal(first.images, _split(name, split, tmp_path / "b").images)
        assert not torch.equal(first.images, _split(name, split, tmp_path / "c").images)


@needs_fashion
def test_the_recipes_transform_the_cut_images(tmp_path: Path) -> None:
    """Rotation keeps the images' mass (mostly); noise brightens the background."""
    plain = larochelle_cut(read_idx_folder(FASHION_DEBIAN_DIR), SLICE, seed=0)["test"][0]
    rotated = _built("rotated-fashion-mnist", tmp_path)
    noisy = _built("fashion-mnist-noise", tmp_path)
    background = _built("fashion-mnist-bg-rot", tmp_path)
    assert not np.array_equal(rotated, plain)
    # a rotation about the centre moves pixels but keeps most of the total intensity
    ratio = rotated.astype(float).sum((1, 2)) / plain.astype(float).sum((1, 2))
    assert np.median(ratio) == pytest.approx(1.0, abs=0.1)
    # uniform noise in [0, 0.5] raises black pixels by 0.25 · 255 on average
    black = plain == 0
    assert noisy[black].mean() == pytest.approx(0.25 * 255, abs=3)
    assert np.all(noisy >= plain)
    # the corners of rotated images are black; with a photograph behind them they are not
    assert rotated[:, 0, 0].max() == 0
    assert background[:, 0, 0].mean() > 20


def _built(name: str, root: Path) -> np.ndarray:
    prepare(name, root=root, progress=False, **SLICE)
    return _split(name, "test", root).images[:, 0].numpy()


@needs_fashion
def test_a_folder_prepared_by_the_older_recipe_is_refused_naming_the_fix(tmp_path: Path) -> None:
    prepare("fashion-mnist-noise", root=tmp_path, progress=False, **SLICE)
    folder = prepared_folder("fashion-mnist-noise", root=tmp_path)
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    manifest["options"] = {"amplitude": 0.5, "seed": 0, "valid": 10_000}  # the 50k/10k/10k one
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(ValueError, match=r"another version of its recipe.*--force") as caught:
        load("fashion-mnist-noise", "train", tmp_path)
    assert "\n" not in str(caught.value)
