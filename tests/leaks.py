"""Find ``runwatch`` processes a test session started and left running.

A process belongs to this session when it descends from the pytest process, carries the session's
marker in its environment (``SESSION_MARKER``, set by ``mark_session``; children inherit it even
when reparented after their parent died), or names the session's temporary directory on its
command line. Other people's servers match none of these, so they are never reported or ended.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import psutil

# Not RUNWATCH_-prefixed: test helpers and the server's scheduler drop RUNWATCH_* from the
# environment they hand to children, and the marker must reach grandchildren too.
SESSION_MARKER = "PYTEST_RUNWATCH_SESSION"


def mark_session() -> str:
    """Give this session a fresh marker that every process it starts inherits; return it."""
    marker = uuid.uuid4().hex
    os.environ[SESSION_MARKER] = marker
    return marker


def _runwatch(proc: psutil.Process) -> bool:
    """A live process whose command line names runwatch."""
    try:
        return proc.status() != psutil.STATUS_ZOMBIE and "runwatch" in " ".join(proc.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False  # gone, or another user's: not ours either way


def _marked(proc: psutil.Process, marker: str, base: str | None) -> bool:
    try:
        if base is not None and base in " ".join(proc.cmdline()):
            return True
        return proc.environ().get(SESSION_MARKER) == marker
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def survivors(marker: str, basetemp: Path | None, grace: float = 5.0) -> list[psutil.Process]:
    """This session's ``runwatch`` processes still alive after ``grace`` seconds."""
    me = psutil.Process()
    kin = {p.pid for p in me.children(recursive=True)}
    skip = {me.pid} | {p.pid for p in me.parents()}  # whatever started pytest is not a leak
    base = f"{basetemp}{os.sep}" if basetemp is not None else None  # pytest-1/ is not pytest-10/
    found = [
        proc
        for proc in psutil.process_iter()
        if proc.pid not in skip
        and _runwatch(proc)
        and (proc.pid in kin or _marked(proc, marker, base))
    ]
    # A process stopped just before the session ended may still be on its way out.
    _, alive = psutil.wait_procs(found, timeout=grace) if found else ([], [])
    return [proc for proc in alive if _runwatch(proc)]


def describe(proc: psutil.Process) -> str:
    """One line per leaked process: its pid, the test that started it and its command line."""
    try:
        started_by = proc.environ().get("PYTEST_CURRENT_TEST", "an unknown test")
        return f"pid {proc.pid} (started during {started_by}): {' '.join(proc.cmdline())}"
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return f"pid {proc.pid} (gone while being described)"


def end(procs: list[psutil.Process]) -> None:
    """Terminate the leaked processes (they are this session's), killing any that linger."""
    for proc in procs:
        try:
            proc.terminate()
        except psutil.NoSuchProcess:
            continue
    _, alive = psutil.wait_procs(procs, timeout=5)
    for proc in alive:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            continue
    psutil.wait_procs(alive, timeout=5)
