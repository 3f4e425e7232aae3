"""NORB and SmallNORB binary matrix files: real magic numbers, plain and gzipped."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tests.data.helpers import NORB_BYTE_MATRIX, NORB_INTEGER_MATRIX, norb_bytes, write_norb

from gmcnn.data import load, norb, prepare
from gmcnn.data.storage import IntegrityError

ROWS = 6  # the originals hold 24,300 (SmallNORB) or 29,160 (NORB) pairs per file


def _pairs(side: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (ROWS, 2, side, side), dtype=np.uint8), rng.integers(0, 5, ROWS)


def test_binary_matrix_header_and_rows(tmp_path: Path) -> None:
    images, labels = _pairs(96, 0)
    dat = write_norb(tmp_path / "x-dat.mat", images, NORB_BYTE_MATRIX)
    cat = write_norb(tmp_path / "x-cat.mat", labels, NORB_INTEGER_MATRIX, gzipped=True)
    assert dat.read_bytes()[:4] == bytes.fromhex("554c3d1e")  # 0x1E3D4C55, little-endian
    assert len(norb_bytes(labels, NORB_INTEGER_MATRIX)) == 8 + 12 + 4 * ROWS  # 3 dims stored
    rows = list(norb.read_matrix_rows(dat, NORB_BYTE_MATRIX, (ROWS, 2, 96, 96), chunk=4))
    assert [len(r) for r in rows] == [4, 2]
    np.testing.assert_array_equal(np.concatenate(rows), images)
    got = np.concatenate(list(norb.read_matrix_rows(cat, NORB_INTEGER_MATRIX, (ROWS,))))
    np.testing.assert_array_equal(got, labels)


def test_binary_matrix_errors(tmp_path: Path) -> None:
    images, _ = _pairs(96, 0)
    path = tmp_path / "s-dat.mat"
    raw = norb_bytes(images, NORB_BYTE_MATRIX)
    shape = (ROWS, 2, 96, 96)
    path.write_bytes(raw[: 24 + 3 * 2 * 96 * 96 + 10])
    with pytest.raises(IntegrityError, match=r"s-dat\.mat is truncated: expected 6 rows, found 3"):
        list(norb.read_matrix_rows(path, NORB_BYTE_MATRIX, shape))
    path.write_bytes(raw + b"\0")
    with pytest.raises(IntegrityError, match="longer than its header"):
        list(norb.read_matrix_rows(path, NORB_BYTE_MATRIX, shape))
    path.write_bytes(b"\x00\x00\x00\x00" + raw[4:])
    with pytest.raises(IntegrityError, match="not a NORB binary matrix"):
        list(norb.read_matrix_rows(path, NORB_BYTE_MATRIX, shape))
    path.write_bytes(raw)
    with pytest.raises(IntegrityError, match=r"holds uint8 elements, expected int32"):
        list(norb.read_matrix_rows(path, NORB_INTEGER_MATRIX, shape))
    with pytest.raises(IntegrityError, match=r"shape \(6, 2, 96, 96\), expected \(7, 2, 96, 96\)"):
        list(norb.read_matrix_rows(path, NORB_BYTE_MATRIX, (7, 2, 96, 96)))
    path.write_bytes(raw[:10])
    with pytest.raises(IntegrityError, match="truncated inside its header"):
        list(norb.read_matrix_rows(path, NORB_BYTE_MATRIX, shape))


def test_nearest_downsampling_indices() -> None:
    assert norb.nearest_indices(96, 24).tolist() == list(range(2, 96, 4))
    assert norb.nearest_indices(108, 32)[[0, -1]].tolist() == [1, 106]


def _small_parts(parts: dict[str, tuple[norb.NorbPart, ...]]) -> dict[str, tuple]:
    return {s: tuple(norb.NorbPart(p.stem, ROWS, p.side) for p in ps) for s, ps in parts.items()}


def test_smallnorb_prepare_and_load(gmcnn_data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for split, parts in _small_parts(norb.SMALLNORB_PARTS).items():
        monkeypatch.setitem(norb.SMALLNORB_PARTS, split, parts)
    raw = gmcnn_data / "smallnorb" / "raw"
    written = {}
    for seed, split in enumerate(("train", "test")):
        part = norb.SMALLNORB_PARTS[split][0]
        written[split] = _pairs(96, seed)
        write_norb(raw / part.dat, written[split][0], NORB_BYTE_MATRIX, gzipped=seed == 1)
        write_norb(raw / part.cat, written[split][1], NORB_INTEGER_MATRIX)
    manifest = prepare("smallnorb", valid=2, progress=False)
    assert manifest.splits["train"]["count"] == 4 and manifest.splits["test"]["shape"] == [
        1,
        24,
        24,
    ]
    test = load("smallnorb", "test")
    left = written["test"][0][:, 0][:, 2::4, 2::4]
    np.testing.assert_array_equal(test.images[:, 0].numpy(), left)
    np.testing.assert_array_equal(test.labels.numpy(), written["test"][1])


def test_norb_six_categories_and_bad_labels(
    gmcnn_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for split, parts in _small_parts(norb.NORB_PARTS).items():
        monkeypatch.setitem(norb.NORB_PARTS, split, parts)
    raw = gmcnn_data / "norb" / "raw"
    for parts in norb.NORB_PARTS.values():
        for k, part in enumerate(parts):
            images, _ = _pairs(108, k)
            write_norb(raw / part.dat, images, NORB_BYTE_MATRIX)
            write_norb(raw / part.cat, np.full(ROWS, 5), NORB_INTEGER_MATRIX)
    manifest = prepare("norb", valid=6, progress=False)
    assert manifest.splits["train"]["count"] == 10 * ROWS - 6
    assert manifest.splits["test"]["count"] == 2 * ROWS
    assert load("norb", "valid")[0][0].shape == (1, 32, 32)
    bad = norb.NORB_PARTS["test"][1]
    write_norb(raw / bad.cat, np.full(ROWS, 6), NORB_INTEGER_MATRIX)
    with pytest.raises(IntegrityError, match=r"testing-02-cat\.mat has categories outside 0 … 5"):
        prepare("norb", valid=6, force=True, progress=False)
