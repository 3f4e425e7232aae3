"""Reader for the IDX files of MNIST and Fashion-MNIST (LeCun et al. 1998), plain or gzipped.

An IDX file is a big-endian header — two zero bytes, a type code, the number of dimensions
``d``, then ``d`` unsigned 32-bit sizes — followed by the data in C order. MNIST uses type
``0x08`` (unsigned byte): images are ``0x00000803`` (N × 28 × 28), labels ``0x00000801``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gmcnn.data.compressed import read_bytes
from gmcnn.data.storage import IntegrityError

_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_idx(path: Path, expected_shape: tuple[int, ...] | None = None) -> np.ndarray:
    """Read an IDX array; check it against ``expected_shape`` when given.

    Raises :class:`IntegrityError` naming the file when the magic number is wrong, the file
    is shorter or longer than its header says, or the shape differs from the expected one.
    """
    raw = read_bytes(path)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _DTYPES:
        raise IntegrityError(
            f"file {path} is not an IDX file: its first bytes {raw[:4].hex()} are not a valid "
            "IDX magic number (expected 000008.. for unsigned bytes)"
        )
    dtype = _DTYPES[raw[2]]
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise IntegrityError(f"file {path} is truncated inside its IDX header")
    shape = tuple(int(n) for n in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    if expected_shape is not None and shape != expected_shape:
        raise IntegrityError(
            f"file {path} holds an array of shape {shape}, expected {expected_shape}"
        )
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) != expected:
        state = "truncated" if len(raw) < expected else "longer than its header says"
        raise IntegrityError(
            f"file {path} is {state}: expected {expected:,} bytes for shape {shape}, "
            f"found {len(raw):,}"
        )
    data = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return data.astype(dtype.newbyteorder("="), copy=True)
