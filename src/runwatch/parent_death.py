"""Children that die with the thread that started them, however it dies (Linux).

``prctl(PR_SET_PDEATHSIG)`` in the child, before ``exec``: the kernel sends it SIGKILL when the
*thread* that forked it ends, a SIGKILL of the whole process included, where no cleanup code
runs. So start such a child from a thread that lives as long as the child should (the main
thread, or one that waits for the child). It reaches the child only, not what the child starts.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from collections.abc import Callable

_PR_SET_PDEATHSIG = 1  # linux/prctl.h
# Looked up now, not in the forked child, where another thread may hold the loader's lock.
_prctl = ctypes.CDLL(None).prctl if sys.platform == "linux" else None


def die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child get SIGKILL when this thread ends (Linux; None
    elsewhere, where the caller needs another guard)."""
    if _prctl is None:
        return None
    parent = os.getpid()
    prctl = _prctl

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the parent died between fork and prctl
            os.kill(os.getpid(), signal.SIGKILL)

    return preexec
