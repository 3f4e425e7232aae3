"""Reader for the CIFAR-10 "python version" batches (Krizhevsky 2009; paper §4.2, Table 3).

The folder ``cifar-10-batches-py`` holds ``data_batch_1`` … ``data_batch_5`` and
``test_batch``: pickled dictionaries with ``b"data"`` (10,000 × 3,072 uint8, the red, green
and blue 32 × 32 planes of each image in row-major order) and ``b"labels"`` (10,000 ints in
0 … 9). They are unpickled with a restricted unpickler that only builds numpy arrays.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np

from gmcnn.data.storage import IntegrityError

TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCHES = ("test_batch",)
BATCH_ROWS = 10_000
CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)

#: What a batch pickle may reference: numpy's array reconstruction and, for batches written
#: with protocol 2 from Python 3, ``_codecs.encode`` (how such pickles spell bytes).
_ALLOWED_GLOBALS = {
    ("_codecs", "encode"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
}


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles dictionaries, lists, bytes and numpy arrays — nothing else."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a CIFAR batch")


def read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read one batch into uint8 images ``(10000, 3, 32, 32)`` and int64 labels.

    Raises :class:`IntegrityError` naming the file when it is truncated, not a pickle of the
    expected dictionary, or has the wrong number of rows or out-of-range labels.
    """
    if not path.is_file():
        raise FileNotFoundError(f"file {path} does not exist")
    try:
        with path.open("rb") as handle:
            batch = _ArrayUnpickler(handle, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as error:
        raise IntegrityError(
            f"file {path} is not a CIFAR-10 python batch (truncated or corrupt pickle: {error})"
        ) from error
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise IntegrityError(
            f"file {path} is not a CIFAR-10 python batch: expected a dict with b'data' and "
            "b'labels'"
        )
    data = np.asarray(batch[b"data"])
    labels = np.asarray(batch[b"labels"], dtype=np.int64)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise IntegrityError(
            f"file {path}: b'data' has shape {data.shape} and dtype {data.dtype}, expected "
            f"({BATCH_ROWS}, 3072) uint8"
        )
    if data.shape[0] != BATCH_ROWS or labels.shape != (BATCH_ROWS,):
        raise IntegrityError(
            f"file {path} is truncated: expected {BATCH_ROWS:,} rows, found {data.shape[0]:,} "
            f"images and {labels.shape[0]:,} labels"
        )
    if labels.min() < 0 or labels.max() >= len(CLASSES):
        raise IntegrityError(f"file {path} has labels outside 0 … {len(CLASSES) - 1}")
    return data.reshape(-1, 3, 32, 32), labels


def read_batches(folder: Path, names: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Read and concatenate several batches of ``folder``."""
    parts = [read_batch(folder / name) for name in names]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
