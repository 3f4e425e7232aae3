"""The recipes of Larochelle et al. (2007) behind the paper's §4.2 image datasets.

* Rectangles — a white rectangle outline on black; label 1 when it is taller than wide.
* Rotated MNIST — the digit rotated by an angle uniform in [0, 2π).
* MNIST-noise — the digit plus uniform noise.
* MNIST-bg-rot — the rotated digit over a random patch of a natural photograph.

Every function draws from the generator it is given, so a seed fixes the result. Images are
float32 in [0, 1]; :func:`to_uint8` stores them.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from gmcnn.data.backgrounds import random_patches


def to_uint8(images: np.ndarray) -> np.ndarray:
    """Float images in [0, 1] to uint8, rounding to the nearest level."""
    levels: np.ndarray = np.round(np.clip(images, 0.0, 1.0) * 255.0)
    return levels.astype(np.uint8)


def rectangles(
    count: int, rng: np.random.Generator, size: int = 28, min_side: int = 3, min_gap: int = 3
) -> tuple[np.ndarray, np.ndarray]:
    """``count`` rectangle outlines in ``size × size`` images, and labels (1 = taller).

    Height and width (in pixels, outline included) are uniform in ``min_side … size`` and
    redrawn until they differ by at least ``min_gap``, so the label is never ambiguous; the
    position is uniform among those where the rectangle fits in the image.
    """
    if not 1 <= min_side <= size - min_gap:
        raise ValueError(f"min_side={min_side} and min_gap={min_gap} do not fit size={size}")
    images = np.zeros((count, size, size), dtype=np.float32)
    labels = np.empty(count, dtype=np.int64)
    for i in range(count):
        while True:
            height, width = rng.integers(min_side, size + 1, size=2)
            if abs(height - width) >= min_gap:
                break
        top = rng.integers(size - height + 1)
        left = rng.integers(size - width + 1)
        bottom, right = top + height - 1, left + width - 1
        images[i, top, left : right + 1] = 1.0
        images[i, bottom, left : right + 1] = 1.0
        images[i, top : bottom + 1, left] = 1.0
        images[i, top : bottom + 1, right] = 1.0
        labels[i] = int(height > width)
    return images, labels


def rotate(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Rotate each image about its centre by an angle uniform in [0, 2π) (bilinear, zero fill)."""
    angles = rng.uniform(0.0, 360.0, size=len(images))
    out = np.empty_like(images, dtype=np.float32)
    for i, (image, angle) in enumerate(zip(images, angles, strict=True)):
        out[i] = ndimage.rotate(image, angle, reshape=False, order=1, mode="constant", cval=0.0)
    return np.clip(out, 0.0, 1.0)


def add_uniform_noise(images: np.ndarray, amplitude: float, rng: np.random.Generator) -> np.ndarray:
    """Add noise uniform in [0, ``amplitude``] to every pixel and clip to [0, 1]."""
    if not 0.0 <= amplitude <= 1.0:
        raise ValueError(f"noise amplitude {amplitude} must lie in [0, 1]")
    noise = rng.uniform(0.0, amplitude, size=images.shape).astype(np.float32)
    return np.clip(images + noise, 0.0, 1.0)


def over_backgrounds(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Lay each image over a random natural-image patch: ``x + (1 - x) · patch``.

    The digit's intensity acts as its opacity, so the digit stays on top and the photograph
    shows through where the digit is dark.
    """
    patches = random_patches(len(images), images.shape[-1], rng)
    blended: np.ndarray = images + (1.0 - images) * patches
    return blended
