"""Readers for NORB and SmallNORB (LeCun, Huang & Bottou 2004; paper §4.2, Table 3).

Both ship as "binary matrix" files (optionally gzipped): a little-endian header — a magic
number naming the element type, the number of dimensions ``d``, then ``max(d, 3)`` sizes —
followed by the data. ``-dat`` files are byte matrices ``N × 2 × H × W`` (a stereo pair per
example), ``-cat`` files integer matrices ``N`` of category labels.

The paper follows the structured-matrix baselines (Thomas et al. 2018): the left image of
each pair, nearest-neighbour downsampled to 32 × 32 (NORB, jittered-cluttered, 6 classes)
or 24 × 24 (SmallNORB, 5 classes).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from gmcnn.data.compressed import find_plain_or_gzip, open_maybe_gzip
from gmcnn.data.storage import IntegrityError

#: Magic numbers of the binary matrix format and the element type each one announces.
MAGIC_DTYPES: dict[int, np.dtype] = {
    0x1E3D4C51: np.dtype("<f4"),
    0x1E3D4C53: np.dtype("<f8"),
    0x1E3D4C54: np.dtype("<i4"),
    0x1E3D4C55: np.dtype(np.uint8),
    0x1E3D4C56: np.dtype("<i2"),
}
BYTE_MATRIX = 0x1E3D4C55
INTEGER_MATRIX = 0x1E3D4C54


@dataclass(frozen=True)
class NorbPart:
    """One ``-dat``/``-cat`` file pair of the original distribution."""

    stem: str
    rows: int
    side: int

    @property
    def dat(self) -> str:
        return f"{self.stem}-dat.mat"

    @property
    def cat(self) -> str:
        return f"{self.stem}-cat.mat"


_NORB_TRAIN = "norb-5x46789x9x18x6x2x108x108-training"
_NORB_TEST = "norb-5x01235x9x18x6x2x108x108-testing"
_SMALL_TRAIN = "smallnorb-5x46789x9x18x6x2x96x96-training"
_SMALL_TEST = "smallnorb-5x01235x9x18x6x2x96x96-testing"

#: The original files: NORB jittered-cluttered (10 training and 2 testing parts of 29,160
#: pairs of 108 × 108 images) and SmallNORB (24,300 pairs of 96 × 96 images per split).
NORB_PARTS: dict[str, tuple[NorbPart, ...]] = {
    "train": tuple(NorbPart(f"{_NORB_TRAIN}-{i:02d}", 29_160, 108) for i in range(1, 11)),
    "test": tuple(NorbPart(f"{_NORB_TEST}-{i:02d}", 29_160, 108) for i in range(1, 3)),
}
SMALLNORB_PARTS: dict[str, tuple[NorbPart, ...]] = {
    "train": (NorbPart(_SMALL_TRAIN, 24_300, 96),),
    "test": (NorbPart(_SMALL_TEST, 24_300, 96),),
}


def _read_exact(handle: BinaryIO, size: int, path: Path, what: str) -> bytes:
    try:
        data = handle.read(size)
    except (EOFError, OSError) as error:
        raise IntegrityError(f"file {path} is truncated or corrupt ({error})") from error
    if len(data) != size:
        raise IntegrityError(f"file {path} is truncated inside its {what}")
    return data


def _read_header(handle: BinaryIO, path: Path) -> tuple[np.dtype, tuple[int, ...]]:
    head = np.frombuffer(_read_exact(handle, 8, path, "header"), dtype="<i4")
    magic, ndim = int(head[0]) & 0xFFFFFFFF, int(head[1])
    if magic not in MAGIC_DTYPES:
        raise IntegrityError(
            f"file {path} is not a NORB binary matrix: magic number {magic:#010x} is none of "
            + ", ".join(f"{m:#010x}" for m in MAGIC_DTYPES)
        )
    if not 1 <= ndim <= 8:
        raise IntegrityError(f"file {path} announces {ndim} dimensions; expected 1 … 8")
    dims = np.frombuffer(_read_exact(handle, 4 * max(ndim, 3), path, "header"), dtype="<i4")
    return MAGIC_DTYPES[magic], tuple(int(n) for n in dims[:ndim])


def read_matrix_rows(
    path: Path, magic: int, shape: tuple[int, ...], chunk: int = 2048
) -> Iterator[np.ndarray]:
    """Stream the rows of a binary matrix file in chunks of ``chunk`` examples.

    The header must announce element type ``magic`` and exactly ``shape``; the file must
    hold exactly that many bytes after it. Errors name the file and what was found.
    """
    expected_dtype = MAGIC_DTYPES[magic]
    with open_maybe_gzip(path) as handle:
        dtype, found = _read_header(handle, path)
        if dtype != expected_dtype:
            raise IntegrityError(
                f"file {path} holds {dtype} elements, expected {expected_dtype} "
                f"(magic {magic:#010x})"
            )
        if found != shape:
            raise IntegrityError(f"file {path} holds a matrix of shape {found}, expected {shape}")
        row_items = int(np.prod(shape[1:], dtype=np.int64))
        row_bytes = row_items * dtype.itemsize
        done = 0
        while done < shape[0]:
            count = min(chunk, shape[0] - done)
            try:
                raw = handle.read(count * row_bytes)
            except (EOFError, OSError) as error:
                raise IntegrityError(f"file {path} is truncated or corrupt ({error})") from error
            if len(raw) != count * row_bytes:
                found_rows = done + len(raw) // row_bytes
                raise IntegrityError(
                    f"file {path} is truncated: expected {shape[0]:,} rows, found {found_rows:,}"
                )
            yield np.frombuffer(raw, dtype=dtype).reshape((count, *shape[1:]))
            done += count
        if handle.read(1):
            raise IntegrityError(f"file {path} is longer than its header says")


def nearest_indices(size: int, out: int) -> np.ndarray:
    """Source indices of a nearest-neighbour resize from ``size`` to ``out`` samples."""
    return np.minimum(((np.arange(out) + 0.5) * size / out).astype(np.int64), size - 1)


def read_part(folder: Path, part: NorbPart, out_side: int, classes: int) -> tuple[np.ndarray, ...]:
    """Left images of one part, downsampled to ``out_side``², and their int64 labels."""
    rows = nearest_indices(part.side, out_side)
    cat = find_plain_or_gzip(folder, part.cat)
    images = np.concatenate(
        [
            chunk[:, 0][:, rows][:, :, rows]
            for chunk in read_matrix_rows(
                find_plain_or_gzip(folder, part.dat),
                BYTE_MATRIX,
                (part.rows, 2, part.side, part.side),
            )
        ]
    )
    labels = np.concatenate(list(read_matrix_rows(cat, INTEGER_MATRIX, (part.rows,)))).astype(
        np.int64
    )
    if labels.min() < 0 or labels.max() >= classes:
        raise IntegrityError(
            f"file {cat} has categories outside 0 … {classes - 1} "
            f"(found {labels.min()} … {labels.max()})"
        )
    return images[:, None], labels


def read_parts(
    folder: Path, parts: tuple[NorbPart, ...], out_side: int, classes: int
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`read_part` over several parts, concatenated."""
    read = [read_part(folder, part, out_side, classes) for part in parts]
    return np.concatenate([r[0] for r in read]), np.concatenate([r[1] for r in read])
