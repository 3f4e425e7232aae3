"""Reader for the ``.amat`` text files of Larochelle et al. (2007), the paper's §4.2 sources.

Each line is one example: the 784 pixel values of a 28 × 28 image in row-major order
(floats in [0, 1]) followed by the label, all separated by whitespace. The files and their
row counts are fixed by the original distribution (see :data:`AMAT_FILES`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gmcnn.data.storage import IntegrityError

PIXELS = 28 * 28


@dataclass(frozen=True)
class AmatFile:
    """One original ``.amat`` file: its name and how many rows the original has."""

    filename: str
    rows: int


#: The original files of each Larochelle dataset used in the paper's Table 3, by split
#: group. ``train_valid`` files hold the training rows followed by the validation rows.
AMAT_FILES: dict[str, dict[str, AmatFile]] = {
    "rectangles": {
        "train_valid": AmatFile("rectangles_train.amat", 1_200),
        "test": AmatFile("rectangles_test.amat", 50_000),
    },
    "rotated-mnist": {
        "train_valid": AmatFile("mnist_all_rotation_normalized_float_train_valid.amat", 12_000),
        "test": AmatFile("mnist_all_rotation_normalized_float_test.amat", 50_000),
    },
    "mnist-bg-rot": {
        "train_valid": AmatFile(
            "mnist_all_background_images_rotation_normalized_train_valid.amat", 12_000
        ),
        "test": AmatFile("mnist_all_background_images_rotation_normalized_test.amat", 50_000),
    },
}


def noise_variation_file(level: int) -> AmatFile:
    """The MNIST-noise file of noise ``level`` (1–6): 10,000 train, 2,000 valid, 2,000 test."""
    if level not in range(1, 7):
        raise ValueError(f"MNIST-noise level {level} does not exist: choose 1, 2, 3, 4, 5 or 6")
    return AmatFile(f"mnist_noise_variations_all_{level}.amat", 14_000)


def read_amat(path: Path, rows: int, classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Read a ``.amat`` file into float32 images ``(rows, 28, 28)`` and int64 labels.

    Raises :class:`IntegrityError` naming the file when a line has the wrong number of
    values or a value is not a number, when the file has fewer or more rows than the original
    (``rows``), or when a label is not an integer in ``0 … classes-1``.
    """
    if not path.is_file():
        raise FileNotFoundError(f"file {path} does not exist")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            table = np.loadtxt(path, dtype=np.float64, ndmin=2)
    except ValueError as error:
        raise IntegrityError(
            f"file {path} is not a valid .amat file (truncated or corrupt): {error}"
        ) from error
    if table.shape[0] != rows:
        state = "truncated" if table.shape[0] < rows else "longer than the original"
        raise IntegrityError(
            f"file {path} is {state}: expected {rows:,} rows, found {table.shape[0]:,}"
        )
    if table.shape[1] != PIXELS + 1:
        raise IntegrityError(
            f"file {path} has {table.shape[1]} values per row, expected {PIXELS + 1} "
            "(784 pixels then the label)"
        )
    labels = table[:, -1]
    if not np.all(labels == np.round(labels)) or labels.min() < 0 or labels.max() >= classes:
        raise IntegrityError(
            f"file {path} has labels outside the integers 0 … {classes - 1} "
            f"(found values from {labels.min()} to {labels.max()})"
        )
    images = table[:, :PIXELS].astype(np.float32).reshape(-1, 28, 28)
    return images, labels.astype(np.int64)
