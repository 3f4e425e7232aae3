"""Files that the original distributions ship either plain or gzipped."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import BinaryIO

from gmcnn.data.storage import IntegrityError


def is_gzip(path: Path) -> bool:
    """Whether ``path`` starts with the gzip magic bytes."""
    with path.open("rb") as handle:
        return handle.read(2) == b"\x1f\x8b"


def open_maybe_gzip(path: Path) -> BinaryIO:
    """Open ``path`` for binary reading, decompressing on the fly when it is gzipped."""
    if not path.is_file():
        raise FileNotFoundError(f"file {path} does not exist")
    if is_gzip(path):
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return path.open("rb")


def read_bytes(path: Path) -> bytes:
    """The whole content of ``path``, decompressed when it is gzipped; errors name the file."""
    with open_maybe_gzip(path) as handle:
        try:
            return handle.read()
        except (EOFError, OSError) as error:
            raise IntegrityError(
                f"file {path} is a truncated or corrupt gzip file ({error})"
            ) from error


def find_plain_or_gzip(folder: Path, name: str) -> Path:
    """``folder/name`` or ``folder/name.gz``, whichever exists."""
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"neither {folder / name} nor {folder / name}.gz exists")
