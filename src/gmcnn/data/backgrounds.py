"""Natural-image patches for the MNIST-bg-rot recipe, from photographs bundled offline.

Larochelle et al. (2007) put rotated digits over random patches of natural photographs.
Here the photographs are those that ship inside the ``scikit-image`` wheel itself
(``skimage.data``): loading them never touches the network.
"""

from __future__ import annotations

from functools import cache

import numpy as np

#: ``skimage.data`` photographs stored in the wheel (no download needed).
BUNDLED_PHOTOGRAPHS = (
    "astronaut",
    "brick",
    "camera",
    "chelsea",
    "coffee",
    "coins",
    "grass",
    "gravel",
    "hubble_deep_field",
    "moon",
    "rocket",
)


@cache
def photographs() -> tuple[np.ndarray, ...]:
    """The bundled photographs as grey float32 images in [0, 1]."""
    import skimage.data
    from skimage.color import rgb2gray

    images = []
    for name in BUNDLED_PHOTOGRAPHS:
        image = getattr(skimage.data, name)()
        grey = rgb2gray(image[..., :3]) if image.ndim == 3 else image / 255.0
        images.append(np.ascontiguousarray(grey, dtype=np.float32))
    return tuple(images)


def random_patches(count: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` grey ``size × size`` patches at uniform random places of random photographs."""
    sources = photographs()
    which = rng.integers(len(sources), size=count)
    patches = np.empty((count, size, size), dtype=np.float32)
    for i, k in enumerate(which):
        image = sources[k]
        top = rng.integers(image.shape[0] - size + 1)
        left = rng.integers(image.shape[1] - size + 1)
        patches[i] = image[top : top + size, left : left + size]
    return patches
