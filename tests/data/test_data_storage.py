"""Data folder, atomic writes and manifests: every integrity failure names the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from gmcnn.data.storage import (
    IntegrityError,
    atomic_write,
    atomic_write_text,
    data_root,
    read_manifest,
    sha256_file,
    verify_manifest,
    write_manifest,
)


def test_data_root_follows_argument_then_environment_then_home(
    gmcnn_data: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert data_root(tmp_path / "x") == tmp_path / "x"
    assert data_root() == gmcnn_data
    monkeypatch.delenv("GMCNN_DATA")
    assert data_root() == Path.home() / ".cache" / "gmcnn"


def test_atomic_write_leaves_no_partial_file_when_the_writer_fails(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")

    def failing(tmp: Path) -> None:
        tmp.write_bytes(b"half")
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        atomic_write(target, failing)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]


def _prepared(folder: Path) -> None:
    folder.mkdir(parents=True)
    (folder / "a.bin").write_bytes(b"0123456789")
    write_manifest(
        folder,
        name="toy",
        source="generated",
        options={"seed": 1},
        files=["a.bin"],
        splits={"train": {"count": 10, "shape": [1]}},
        inputs={},
        prepare_seconds=0.5,
    )


def test_manifest_round_trip_and_verification(tmp_path: Path) -> None:
    _prepared(tmp_path / "toy")
    manifest = read_manifest(tmp_path / "toy")
    assert manifest is not None
    assert manifest.options == {"seed": 1}
    assert manifest.files["a.bin"] == {
        "bytes": 10,
        "sha256": sha256_file(tmp_path / "toy" / "a.bin"),
    }
    assert manifest.total_bytes == 10
    verify_manifest(tmp_path / "toy", manifest, "rebuild")


def test_missing_truncated_and_altered_files_are_named(tmp_path: Path) -> None:
    folder = tmp_path / "toy"
    _prepared(folder)
    manifest = read_manifest(folder)
    assert manifest is not None
    (folder / "a.bin").write_bytes(b"01234")
    with pytest.raises(IntegrityError, match=r"a\.bin is truncated: expected 10 bytes, found 5"):
        verify_manifest(folder, manifest, "rebuild it")
    (folder / "a.bin").write_bytes(b"0123456780")
    with pytest.raises(IntegrityError, match=r"a\.bin has been altered: SHA-256"):
        verify_manifest(folder, manifest, "rebuild it")
    (folder / "a.bin").unlink()
    with pytest.raises(FileNotFoundError, match=r"a\.bin .* is missing; rebuild it"):
        verify_manifest(folder, manifest, "rebuild it")


def test_unreadable_manifest_is_an_integrity_error(tmp_path: Path) -> None:
    assert read_manifest(tmp_path) is None
    atomic_write_text(tmp_path / "manifest.json", "{not json")
    with pytest.raises(IntegrityError, match="not valid JSON"):
        read_manifest(tmp_path)
    atomic_write_text(tmp_path / "manifest.json", '{"version": 99}')
    with pytest.raises(IntegrityError, match="version 99"):
        read_manifest(tmp_path)
