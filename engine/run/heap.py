"""Keep freed heap memory in the scoring process instead of handing it back to the OS.

Scoring one architecture allocates and frees the same few-MB activation tensors hundreds of
times. glibc serves blocks above its (dynamic) mmap threshold with fresh ``mmap`` calls and trims
the heap top after frees, so every pass pays page faults to zero new pages: on a 2-core CPU host
that was about 15% of the fused zero-shot time (``bench/zero_shot.py``). Raising the mmap
threshold and the trim threshold makes the allocator reuse that memory. The price is that a
scoring process's resident memory stays at its peak, which for a long-lived actor it soon
reaches anyway.
"""
from __future__ import annotations

import ctypes
import sys

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
#: glibc's largest mmap threshold on 64-bit hosts (DEFAULT_MMAP_THRESHOLD_MAX)
MMAP_THRESHOLD = 32 << 20
TRIM_THRESHOLD = 2**31 - 1

_applied: bool | None = None


def retain_freed_memory() -> bool:
    """Tune glibc malloc for tensor reuse, once per process; False where there is no glibc."""
    global _applied
    if _applied is None:
        _applied = False
        if sys.platform.startswith("linux"):
            try:
                mallopt = ctypes.CDLL("libc.so.6").mallopt
            except (OSError, AttributeError):  # musl and other C libraries have no mallopt
                return False
            mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
            _applied = bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
                mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    return _applied
