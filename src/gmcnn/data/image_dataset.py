"""The torch dataset of the paper's classification tasks (§4.2): ``(C, H, W)`` images, labels.

A prepared split is one file ``<split>.pt`` holding ``{"images", "labels"}``: images as
uint8 (pixel levels 0–255, returned divided by 255) or float32 (returned as stored, e.g. the
float pixels of the original ``.amat`` files), labels as int64.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from gmcnn.data.storage import IntegrityError, atomic_torch_save


class ImageClassification(Dataset[tuple[torch.Tensor, int]]):
    """Images ``(N, C, H, W)`` with integer labels; item ``i`` is ``(float image, label)``.

    ``images`` and ``labels`` are exposed for whole-tensor use (batching without a loader).
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, classes: tuple[str, ...]):
        if images.ndim != 4:
            raise ValueError(f"images must have shape (N, C, H, W), got {tuple(images.shape)}")
        if labels.shape != (images.shape[0],):
            raise ValueError(f"{images.shape[0]} images but labels of shape {tuple(labels.shape)}")
        if images.dtype not in (torch.uint8, torch.float32):
            raise ValueError(f"images must be uint8 or float32, got {images.dtype}")
        self.images = images
        self.labels = labels
        self.classes = classes

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.image(index), int(self.labels[index])

    def image(self, index: int) -> torch.Tensor:
        """Image ``index`` as float32 in [0, 1] (uint8 storage) or as stored (float32)."""
        image = self.images[index]
        if image.dtype == torch.uint8:
            return image.to(torch.float32) / 255.0
        return image

    def __repr__(self) -> str:
        shape = tuple(self.images.shape[1:])
        return (
            f"ImageClassification({len(self)} images of shape {shape}, {len(self.classes)} classes)"
        )


def save_split(path: Path, images: np.ndarray, labels: np.ndarray) -> dict[str, object]:
    """Write one split (images get a channel axis if they have none); return its metadata."""
    if images.ndim == 3:
        images = images[:, None]
    atomic_torch_save(
        {
            "images": torch.from_numpy(np.ascontiguousarray(images)),
            "labels": torch.from_numpy(np.asarray(labels, dtype=np.int64)),
        },
        path,
    )
    counts = np.bincount(labels, minlength=int(labels.max()) + 1 if len(labels) else 0)
    return {
        "count": len(labels),
        "shape": list(images.shape[1:]),
        "dtype": str(images.dtype),
        "class_counts": counts.tolist(),
    }


def load_split(path: Path, classes: tuple[str, ...]) -> ImageClassification:
    """Read a split written by :func:`save_split`."""
    try:
        payload = torch.load(path, weights_only=True)
        images, labels = payload["images"], payload["labels"]
    except (RuntimeError, KeyError, TypeError, EOFError, pickle.UnpicklingError) as error:
        raise IntegrityError(f"file {path} is not a prepared image split ({error})") from error
    return ImageClassification(images, labels, classes)
