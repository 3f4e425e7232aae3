"""Keep freed activation memory in the process, so that a CPU training step does not page-fault.

glibc's ``malloc`` serves every request above its mmap threshold (at most 32 MiB) with a
fresh ``mmap`` and returns it to the system on ``free``. A GM-CNN's activations are larger
(``256 × 120 × 784`` float32 values are 96 MB), so on CPU every forward and backward pass
receives new pages from the kernel, which faults them in and zeroes them one 4 KiB page at a
time: filling a fresh 48 MB tensor took 41 ms here, filling a reused one 6 ms. With mmap off
and a high trim threshold, freed chunks stay in ``malloc``'s heap and the next step reuses
them: the ``rectangles/gm-n3`` AdamW step at batch 256 went from 1.23 s to 0.52 s on one
thread (tcmalloc, a caching allocator loaded with ``LD_PRELOAD``, gives the same). The cost
is that the process keeps its peak memory until it exits.

Training and evaluation (:func:`gmcnn.experiments.training.train`,
:func:`~gmcnn.experiments.training.fit`, :func:`gmcnn.experiments.evaluation.evaluate`, so
``gmcnn train``, ``evaluate``, ``compare`` and ``demo``) and ``gmcnn bench`` call
:func:`keep_freed_memory`; ``GMCNN_MALLOC=system`` leaves ``malloc`` as it is. Importing
gmcnn changes nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

# mallopt parameters (glibc's malloc.h).
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4

#: Free memory at the top of the heap above this many bytes is still returned to the system.
TRIM_THRESHOLD = 1 << 30

_applied: list[bool] = []


def keep_freed_memory() -> bool:
    """Make glibc's ``malloc`` keep freed memory for reuse (module docstring); return whether
    it does now.

    ``False``, changing nothing, where ``GMCNN_MALLOC=system`` is set, off Linux, or where the
    C library is not glibc (no ``mallopt``). Idempotent; affects the whole process.
    ``ValueError`` for any other value of ``GMCNN_MALLOC``.
    """
    setting = os.environ.get("GMCNN_MALLOC", "")
    if setting not in ("", "system"):
        raise ValueError(f"GMCNN_MALLOC={setting!r}: expected 'system' (glibc's defaults) or unset")
    if _applied:
        return _applied[0]
    ok = False
    if setting != "system" and sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            mallopt = libc.mallopt
        except (OSError, AttributeError):  # not glibc (musl has no mallopt)
            mallopt = None
        if mallopt is not None:
            mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
            mallopt.restype = ctypes.c_int
            ok = mallopt(M_MMAP_MAX, 0) == 1 and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
    _applied.append(ok)
    return ok


def keeps_freed_memory() -> bool:
    """Whether :func:`keep_freed_memory` has been applied in this process."""
    return bool(_applied and _applied[0])
