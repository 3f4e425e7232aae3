"""The Larochelle recipes: rectangles, rotation, uniform noise, natural-image backgrounds."""

from __future__ import annotations

import numpy as np
import pytest

from gmcnn.data import image_recipes
from gmcnn.data.backgrounds import BUNDLED_PHOTOGRAPHS, photographs, random_patches


def test_rectangles_are_outlines_labelled_by_orientation() -> None:
    images, labels = image_recipes.rectangles(200, np.random.default_rng(0))
    assert images.shape == (200, 28, 28) and set(np.unique(images)) == {0.0, 1.0}
    for image, label in zip(images, labels, strict=True):
        rows = np.flatnonzero(image.any(axis=1))
        cols = np.flatnonzero(image.any(axis=0))
        height, width = rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1
        assert abs(height - width) >= 3
        assert label == int(height > width)
        assert image.sum() == 2 * (height + width) - 4  # an outline, not a filled box
    assert 0.35 < labels.mean() < 0.65


def test_recipes_are_deterministic_given_a_seed() -> None:
    digits = np.random.default_rng(5).random((4, 28, 28)).astype(np.float32)
    for recipe in (image_recipes.rotate, image_recipes.over_backgrounds):
        a = recipe(digits, np.random.default_rng(1))
        np.testing.assert_array_equal(a, recipe(digits, np.random.default_rng(1)))
        assert not np.array_equal(a, recipe(digits, np.random.default_rng(2)))
    first, _ = image_recipes.rectangles(3, np.random.default_rng(9))
    np.testing.assert_array_equal(first, image_recipes.rectangles(3, np.random.default_rng(9))[0])


def test_rotation_keeps_a_centred_disc_and_turns_a_bar() -> None:
    yy, xx = np.mgrid[:28, :28] - 13.5
    disc = (xx**2 + yy**2 < 36).astype(np.float32)
    rotated = image_recipes.rotate(np.stack([disc] * 3), np.random.default_rng(0))
    np.testing.assert_allclose(rotated.sum(axis=(1, 2)), disc.sum(), rtol=0.08)
    bar = np.zeros((1, 28, 28), dtype=np.float32)
    bar[0, 13:15, 4:24] = 1.0
    turned = image_recipes.rotate(np.repeat(bar, 200, axis=0), np.random.default_rng(3))
    assert turned.min() >= 0.0 and turned.max() <= 1.0
    # Orientation of each turned bar from its second moments: uniform angles spread the
    # doubled orientation angles evenly round the circle.
    w = turned / turned.sum(axis=(1, 2), keepdims=True)
    cxx, cyy = (w * xx**2).sum(axis=(1, 2)), (w * yy**2).sum(axis=(1, 2))
    cxy = (w * xx * yy).sum(axis=(1, 2))
    doubled = np.arctan2(2 * cxy, cxx - cyy)
    assert abs(np.exp(1j * doubled).mean()) < 0.2


def test_uniform_noise_stays_in_range() -> None:
    images = np.zeros((2, 28, 28), dtype=np.float32)
    noisy = image_recipes.add_uniform_noise(images, 0.5, np.random.default_rng(0))
    assert 0.0 <= noisy.min() and noisy.max() <= 0.5 and 0.2 < noisy.mean() < 0.3
    with pytest.raises(ValueError, match=r"amplitude 1\.5"):
        image_recipes.add_uniform_noise(images, 1.5, np.random.default_rng(0))


def test_backgrounds_come_from_bundled_photographs() -> None:
    assert len(photographs()) == len(BUNDLED_PHOTOGRAPHS)
    assert all(p.dtype == np.float32 and p.ndim == 2 and p.max() <= 1.0 for p in photographs())
    patches = random_patches(20, 28, np.random.default_rng(0))
    assert patches.shape == (20, 28, 28) and patches.std() > 0.01
    digit = np.zeros((1, 28, 28), dtype=np.float32)
    digit[0, 10:18, 10:18] = 1.0
    out = image_recipes.over_backgrounds(digit, np.random.default_rng(4))
    assert np.all(out[0, 10:18, 10:18] == 1.0)  # the digit stays on top
    assert out[0, :5].std() > 0  # the photograph shows elsewhere
