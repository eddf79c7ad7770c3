"""Giving freed memory back to the system between batches.

glibc's allocator keeps freed blocks in its arenas (one per thread that allocated; GDAL reads in
a thread of its own), so a process that frees a batch's 50 MB often keeps them resident and the
next batch grows the peak. ``malloc_trim(0)`` returns them; measured on the 500k-polygon bench,
it keeps the refine peak ~40 MB lower for well under a millisecond per call. A no-op where
the C library is not glibc.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from functools import lru_cache
from typing import Any


@lru_cache(maxsize=1)
def _libc() -> Any:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "malloc_trim") else None


def trim() -> None:
    """Return freed heap memory to the system (Arrow's pool, then glibc's arenas)."""
    import pyarrow as pa

    pa.default_memory_pool().release_unused()
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)
