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
import re
import shutil
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
    """The data folder: ``root`` if given, else ``$GMCNN_DATA``, else ``~/.cache/gmcnn``.

    Raises:
        ValueError: ``root`` is empty, or names something that is not a folder.
    """
    if root is not None:
        if not str(root).strip():
            raise ValueError("data root '' is empty: give a folder (--root DIR or $GMCNN_DATA)")
        path = Path(root).expanduser()
    else:
        env = os.environ.get(ENV_VAR)
        path = Path(env).expanduser() if env else Path.home() / ".cache" / "gmcnn"
    if path.exists() and not path.is_dir():
        raise ValueError(f"data root {path} is not a folder (--root DIR or ${ENV_VAR})")
    return path


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


#: ``.NAME.PID.tmp``: the temporary file of :func:`atomic_write` in process ``PID``.
_TEMPORARY = re.compile(r"^\..+\.(\d+)\.tmp$")
#: ``.SOURCE.rebuild-PID`` / ``.SOURCE.old-PID``: the two sides of :func:`replace_folder`.
_SIBLING = re.compile(r"^\.(?P<folder>.+)\.(?P<kind>rebuild|old)-(?P<pid>\d+)$")


def process_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists on this machine (another user's counts as alive)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_temporary(path: Path) -> bool:
    """Whether ``path`` is a temporary file of :func:`atomic_write`."""
    return _TEMPORARY.match(path.name) is not None


def staging_folder(folder: Path) -> Path:
    """Where this process builds a replacement of ``folder`` (``.NAME.rebuild-PID`` beside it)."""
    return folder.with_name(f".{folder.name}.rebuild-{os.getpid()}")


def replace_folder(new: Path, folder: Path) -> None:
    """Put the finished folder ``new`` in the place of ``folder`` by renaming.

    ``folder`` is first renamed aside (``.NAME.old-PID``), ``new`` renamed into its place, and
    the old one deleted. A process killed between the two renames leaves the old folder
    aside, and :func:`clean_interrupted` puts it back.
    """
    old = folder.with_name(f".{folder.name}.old-{os.getpid()}")
    if old.exists():
        shutil.rmtree(old)
    if folder.exists():
        os.replace(folder, old)
    os.replace(new, folder)
    shutil.rmtree(old, ignore_errors=True)


def clean_interrupted(folder: Path) -> list[Path]:
    """Remove what killed processes left of writes to ``folder``; return what was removed.

    Temporaries ``.NAME.PID.tmp`` inside ``folder`` whose process is gone are deleted, and
    so are half-built replacements ``.NAME.rebuild-PID`` beside it. A ``.NAME.old-PID``
    (a replacement killed between its two renames) is renamed back when ``folder`` is
    missing, deleted otherwise. Files of live processes are left alone.
    """
    removed: list[Path] = []
    if folder.is_dir():
        for path in folder.rglob(".*.tmp"):
            match = _TEMPORARY.match(path.name)
            if match and path.is_file() and not process_alive(int(match.group(1))):
                path.unlink(missing_ok=True)
                removed.append(path)
    parent = folder.parent
    if not parent.is_dir():
        return removed
    for entry in sorted(parent.iterdir()):
        match = _SIBLING.match(entry.name)
        if match is None or match["folder"] != folder.name or process_alive(int(match["pid"])):
            continue
        if match["kind"] == "old" and not folder.exists():
            os.replace(entry, folder)
        else:
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


def folder_bytes(folder: Path) -> int:
    """Bytes of the files under ``folder``, temporaries of :func:`atomic_write` left out."""
    if not folder.is_dir():
        return 0
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not is_temporary(p))


def atomic_torch_save(obj: Any, path: Path) -> None:
    """``torch.save`` through :func:`atomic_write`.

    Saved through a file handle, so the archive does not record the temporary file's name
    (which holds a process id): the same tensor always gives the same bytes and SHA-256.
    """

    def write(tmp: Path) -> None:
        with tmp.open("wb") as handle:
            torch.save(obj, handle)

    atomic_write(path, write)


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


def file_problem(path: Path, record: dict[str, Any]) -> str | None:
    """What is wrong with ``path`` against its manifest ``record``, or ``None``."""
    if not path.is_file():
        return f"file {path} is missing"
    size = path.stat().st_size
    if size != record["bytes"]:
        state = "truncated" if size < record["bytes"] else "longer than recorded"
        return f"file {path} is {state}: expected {record['bytes']:,} bytes, found {size:,}"
    digest = sha256_file(path)
    if digest != record["sha256"]:
        return (
            f"file {path} has been altered: SHA-256 {digest} differs from the recorded "
            f"{record['sha256']}"
        )
    return None


def manifest_problems(folder: Path, manifest: Manifest) -> dict[str, str]:
    """Every file of ``manifest`` that is missing, truncated or altered: path → problem."""
    problems = {}
    for rel, record in manifest.files.items():
        problem = file_problem(folder / rel, record)
        if problem is not None:
            problems[rel] = problem
    return problems


def verify_manifest(folder: Path, manifest: Manifest, remedy: str) -> None:
    """Check that every file of ``manifest`` exists with its recorded size and SHA-256.

    ``remedy`` is the command that rebuilds the folder; it ends every error message.

    Raises:
        FileNotFoundError: a listed file is missing.
        IntegrityError: a listed file is truncated, longer than recorded or altered.
    """
    for rel, record in manifest.files.items():
        path = folder / rel
        problem = file_problem(path, record)
        if problem is None:
            continue
        if not path.is_file():
            raise FileNotFoundError(
                f"file {path} listed in {folder / MANIFEST} is missing; {remedy}"
            )
        raise IntegrityError(f"{problem}; {remedy}")
