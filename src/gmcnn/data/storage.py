"""Where prepared data lives, how files are written, and the manifest that guards them.

Every prepared dataset is a folder ``$GMCNN_DATA/<name>/<source>/`` holding its files and a
``manifest.json`` that records the options it was built with, the shape and count of each
split and the size and SHA-256 of every file. :func:`verify_manifest` re-checks all of it
on each load, so a truncated, altered or missing file is reported by name instead of being
read silently.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

ENV_VAR = "GMCNN_DATA"
MANIFEST = "manifest.json"
MANIFEST_VERSION = 1
_HASH_CHUNK = 1 << 22


class IntegrityError(ValueError):
    """A data file is truncated, altered or not in the expected format."""


def data_root(root: str | os.PathLike[str] | None = None) -> Path:
    """The data folder: ``root`` if given, else ``$GMCNN_DATA``, else ``~/.cache/gmcnn``."""
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "gmcnn"


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` on a temporary name beside ``path``, then rename it into place.

    A reader never sees a half-written file: either the old file, no file, or the new one.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_torch_save(obj: Any, path: Path) -> None:
    """``torch.save`` through :func:`atomic_write`."""
    atomic_write(path, lambda tmp: torch.save(obj, tmp))


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) through :func:`atomic_write`."""

    def write(tmp: Path) -> None:
        tmp.write_text(text, encoding="utf-8")

    atomic_write(path, write)


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in 4 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def file_record(path: Path) -> dict[str, Any]:
    """Size and SHA-256 of one file, as stored in a manifest."""
    return {"bytes": path.stat().st_size, "sha256": sha256_file(path)}


@dataclass
class Manifest:
    """What a prepared dataset folder contains.

    ``files`` maps a path relative to the folder to ``{"bytes", "sha256"}``; ``splits`` maps
    a split name to its metadata (``count`` and ``shape`` at least); ``inputs`` records the
    original files or packages the data came from.
    """

    name: str
    source: str
    options: dict[str, Any]
    files: dict[str, dict[str, Any]]
    splits: dict[str, dict[str, Any]]
    inputs: dict[str, Any] = field(default_factory=dict)
    prepare_seconds: float = 0.0
    created: str = ""

    def to_json(self) -> str:
        payload = {"version": MANIFEST_VERSION, **self.__dict__}
        return json.dumps(payload, indent=2, sort_keys=True) + "\n"

    @property
    def total_bytes(self) -> int:
        return sum(int(record["bytes"]) for record in self.files.values())


def write_manifest(
    folder: Path,
    *,
    name: str,
    source: str,
    options: dict[str, Any],
    files: Iterable[str],
    splits: dict[str, dict[str, Any]],
    inputs: dict[str, Any],
    prepare_seconds: float,
) -> Manifest:
    """Hash ``files`` (relative to ``folder``) and write ``folder/manifest.json`` last."""
    records = {rel: file_record(folder / rel) for rel in sorted(files)}
    manifest = Manifest(
        name=name,
        source=source,
        options=options,
        files=records,
        splits=splits,
        inputs=inputs,
        prepare_seconds=round(prepare_seconds, 3),
        created=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    )
    atomic_write_text(folder / MANIFEST, manifest.to_json())
    return manifest


def read_manifest(folder: Path) -> Manifest | None:
    """The manifest of a prepared folder, or ``None`` when the folder was never completed."""
    path = folder / MANIFEST
    if not path.is_file():
        return None
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise IntegrityError(
            f"manifest {path} is not valid JSON ({error}); delete it or prepare again with --force"
        ) from error
    version = payload.pop("version", None)
    if version != MANIFEST_VERSION:
        raise IntegrityError(
            f"manifest {path} has version {version}, expected {MANIFEST_VERSION}; prepare "
            "again with --force"
        )
    return Manifest(**payload)


def verify_manifest(folder: Path, manifest: Manifest, remedy: str) -> None:
    """Check that every file of ``manifest`` exists with its recorded size and SHA-256.

    ``remedy`` is the command that rebuilds the folder; it ends every error message.
    """
    for rel, record in manifest.files.items():
        path = folder / rel
        if not path.is_file():
            raise FileNotFoundError(
                f"file {path} listed in {folder / MANIFEST} is missing; {remedy}"
            )
        size = path.stat().st_size
        if size != record["bytes"]:
            state = "truncated" if size < record["bytes"] else "longer than recorded"
            raise IntegrityError(
                f"file {path} is {state}: expected {record['bytes']:,} bytes, found {size:,}; "
                f"{remedy}"
            )
        digest = sha256_file(path)
        if digest != record["sha256"]:
            raise IntegrityError(
                f"file {path} has been altered: SHA-256 {digest} differs from the recorded "
                f"{record['sha256']}; {remedy}"
            )
