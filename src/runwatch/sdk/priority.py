"""The SDK's own threads yield the CPU to the training loop's.

On a machine with few cores, the thread that encodes images and the one that posts them compete
with the training loop for a core; at the same priority the OS preempts the loop for them in
the middle of a ``run.image`` or ``run.log`` call. With a higher nice value they run when the
loop sleeps or waits (on the GPU, in I/O) and yield at once when it wakes.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading


def lower_this_thread(nice: int) -> None:
    """Add ``nice`` (capped at 19, the lowest priority) to the calling thread's nice value.

    Linux only, where a nice value is per thread; elsewhere (or with ``nice <= 0``) nothing.
    A refusal (a sandbox without setpriority) leaves the thread as it was.
    """
    if nice <= 0 or not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        tid = threading.get_native_id()
        current = os.getpriority(os.PRIO_PROCESS, tid)
        os.setpriority(os.PRIO_PROCESS, tid, min(19, current + nice))
