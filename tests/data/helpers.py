"""Writers of the original file formats, byte for byte, for the loader tests.

Each writer follows the published layout of its format (headers, magic numbers, byte order)
so that the loaders are tested on exactly what the real distributions contain.
``needs_fashion`` skips a test where Debian's Fashion-MNIST package is absent.
"""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from gmcnn.data.digits import FASHION_DEBIAN_DIR

IDX_TYPE_CODES = {np.dtype(np.uint8): 0x08, np.dtype(">i4"): 0x0C}
NORB_BYTE_MATRIX = 0x1E3D4C55
NORB_INTEGER_MATRIX = 0x1E3D4C54

needs_fashion = pytest.mark.skipif(
    not (FASHION_DEBIAN_DIR / "train-images-idx3-ubyte.gz").is_file(),
    reason=f"Debian package dataset-fashion-mnist is not installed ({FASHION_DEBIAN_DIR} is "
    "missing); install it with `apt-get install dataset-fashion-mnist`",
)


def idx_bytes(array: np.ndarray) -> bytes:
    """An IDX file: 0, 0, type code, rank, big-endian sizes, then the data."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, IDX_TYPE_CODES[array.dtype], array.ndim])
    header += struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.tobytes()


def write_idx(path: Path, array: np.ndarray, gzipped: bool) -> Path:
    data = idx_bytes(array)
    if gzipped:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)
    return path


def write_mnist_idx_folder(folder: Path, rng: np.random.Generator, gzipped: bool) -> None:
    """All four MNIST files at their real sizes (60,000 + 10,000 images)."""
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, count in (("train", 60_000), ("t10k", 10_000)):
        images = rng.integers(0, 256, size=(count, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=count).astype(np.uint8)
        write_idx(folder / f"{prefix}-images-idx3-ubyte", images, gzipped)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte", labels, gzipped)


def amat_text(images: np.ndarray, labels: np.ndarray) -> str:
    """Larochelle ``.amat`` text: per line, 784 floats then the label, space separated."""
    lines = [
        " ".join(f"{v:.8g}" for v in image.ravel()) + f" {float(label):.8g}"
        for image, label in zip(images, labels, strict=True)
    ]
    return "\n".join(lines) + "\n"


def write_amat(path: Path, images: np.ndarray, labels: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(amat_text(images, labels))
    return path


def write_cifar_batch(path: Path, images: np.ndarray, labels: np.ndarray) -> Path:
    """A CIFAR-10 python batch: a pickled dict with bytes keys (as the Python 2 originals)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    batch = {
        b"batch_label": path.name.encode(),
        b"labels": [int(v) for v in labels],
        b"data": np.ascontiguousarray(images.reshape(len(images), -1), dtype=np.uint8),
        b"filenames": [f"img_{i}.png".encode() for i in range(len(images))],
    }
    with path.open("wb") as handle:
        pickle.dump(batch, handle, protocol=2)
    return path


def norb_bytes(array: np.ndarray, magic: int) -> bytes:
    """A NORB binary matrix: magic, rank, max(rank, 3) little-endian sizes, then the data."""
    dims = list(array.shape) + [1] * max(0, 3 - array.ndim)
    header = struct.pack("<ii", magic, array.ndim) + struct.pack(f"<{len(dims)}i", *dims)
    dtype = np.uint8 if magic == NORB_BYTE_MATRIX else np.dtype("<i4")
    return header + np.ascontiguousarray(array, dtype=dtype).tobytes()


def write_norb(path: Path, array: np.ndarray, magic: int, gzipped: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = norb_bytes(array, magic)
    if gzipped:
        path = path.with_name(path.name + ".gz")
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


def write_trajectory(path: Path, frames: int, grid: tuple[int, int], seed: int) -> torch.Tensor:
    """A ``raw_data_<key>.pt`` file as published by Wang et al.: float32 (T, 2, H, W)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    generator = torch.Generator().manual_seed(seed)
    data = torch.randn((frames, 2, *grid), generator=generator)
    torch.save(data, path)
    return data
