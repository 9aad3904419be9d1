"""Hand freed heap memory back to the operating system, so a long-lived server's RSS follows
what it holds rather than its peak.

Bursts (a viewer replaying thousands of records, a large hydration) allocate many mid-sized
objects; glibc keeps their freed pages in its arenas, where fragmentation stops it from
releasing them on its own, so RSS ratchets up with each burst. ``malloc_trim(0)`` releases
every whole free page. Elsewhere (musl, macOS) this is a no-op.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import sys

TRIM_INTERVAL = 30.0  # seconds; a trim takes about a millisecond


def _malloc_trim() -> ctypes._NamedFuncPointer | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc.malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None


_TRIM = _malloc_trim()


async def trim_heap(_now: float) -> bool:
    """Release free heap pages to the OS (off the event loop); False where unsupported."""
    if _TRIM is None:
        return False
    trim = _TRIM
    await asyncio.to_thread(trim, 0)
    return True
