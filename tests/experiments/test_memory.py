"""``keep_freed_memory``: freed activation-sized buffers stay in malloc's heap for reuse."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

PROBE = """
import ctypes, sys
from gmcnn.experiments.memory import keep_freed_memory, keeps_freed_memory
import torch

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]

libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = MallInfo2
applied = keep_freed_memory()
assert keep_freed_memory() == applied == keeps_freed_memory()  # idempotent
x = torch.empty(64 << 20, dtype=torch.uint8).fill_(1)  # 64 MiB, above any mmap threshold
mapped = libc.mallinfo2().hblkhd
del x
free_in_heap = libc.mallinfo2().fordblks
print(applied, mapped >= 64 << 20, free_in_heap >= 64 << 20)
"""


def probe(**env: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or os.confstr("CS_GNU_LIBC_VERSION") is None,
    reason="needs glibc",
)
def test_freed_memory_stays_in_the_heap_unless_system_malloc_is_asked_for() -> None:
    # kept: the 64 MiB buffer came from the heap (not mmap) and is free there after `del`
    assert probe(GMCNN_MALLOC="") == "True False True"
    # system malloc: the buffer was mmap-ed and went back to the system
    assert probe(GMCNN_MALLOC="system") == "False True False"


def test_an_unknown_malloc_setting_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from gmcnn.experiments.memory import keep_freed_memory

    monkeypatch.setenv("GMCNN_MALLOC", "System")
    with pytest.raises(ValueError, match=r"GMCNN_MALLOC='System': expected 'system'"):
        keep_freed_memory()


def test_training_refuses_a_bad_malloc_setting_before_writing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from gmcnn.experiments.config import load_config
    from gmcnn.experiments.training import train

    monkeypatch.setenv("GMCNN_MALLOC", "tcmalloc")
    config = load_config("rot-mnist/gm-n1-pe")
    with pytest.raises(ValueError, match="GMCNN_MALLOC='tcmalloc'"):
        train(config, tmp_path / "run")
    assert not (tmp_path / "run").exists()
