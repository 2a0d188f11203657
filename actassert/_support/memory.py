"""Handing freed heap memory back to the operating system during long sweeps (glibc only)."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import sys
from collections.abc import Callable

__all__ = ["release_freed_memory"]


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):  # musl and other C libraries have no malloc_trim
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


def release_freed_memory() -> None:
    """Return freed heap pages to the OS.

    A sweep frees a batch's images and maps while keeping its small ``[batch, K]`` results; glibc
    then keeps the freed pages between the kept blocks, so the peak resident memory grows with
    the number of batches although nothing is retained. Trimming after each batch (well under a
    millisecond) keeps the peak flat. A no-op where glibc is absent.
    """
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
