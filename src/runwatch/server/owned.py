"""Child processes the server owns (managed TensorBoards): they die with the server, however it
dies, and one left behind by a previous server is found and stopped at the next start.

Two guards. On Linux each child gets SIGKILL when the thread that started it (the server's event
loop) ends, a SIGKILL of the server too (:mod:`runwatch.parent_death`). Everywhere, each child
is recorded in ``<data dir>/children/<pid>.json`` (pid, creation time, port, owner); a server
starting over that data dir stops every recorded child whose owner is gone. The creation time
tells a live child from a new process that reused its pid: such a process is never touched.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
from pathlib import Path
from typing import Any

import psutil

CHILDREN_DIR = "children"
MAX_RECORDS = 256  # records read at start: more than MAX_PROCESSES could ever leave behind


def _created(pid: int) -> float | None:
    try:
        return psutil.Process(pid).create_time()
    except (psutil.Error, ValueError):
        return None


def _same(recorded: Any, pid: Any) -> bool:
    """The process ``pid`` is the one recorded (not a later one that reused the pid)."""
    now = _created(pid) if isinstance(pid, int) and pid > 0 else None
    return now is not None and isinstance(recorded, int | float) and abs(now - recorded) < 0.05


class ChildRecords:
    """The records of one server's children in its data dir."""

    def __init__(self, data_dir: Path) -> None:
        self.dir = data_dir / CHILDREN_DIR
        me = os.getpid()
        self._owner = {"pid": me, "created": _created(me)}

    def add(self, pid: int, **about: Any) -> None:
        """Record a child just started (``about``: what it is, e.g. its port and run)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        record = {"pid": pid, "created": _created(pid), "owner": self._owner, **about}
        tmp = self.dir / f".{pid}.json.tmp"
        tmp.write_text(json.dumps(record))
        os.replace(tmp, self.dir / f"{pid}.json")

    def remove(self, pid: int) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.dir / f"{pid}.json").unlink()

    def stop_stale(self) -> list[dict[str, Any]]:
        """Stop (SIGKILL, with their process group) the recorded children whose server is gone;
        forget records of processes that no longer exist. Returns the records it stopped."""
        stopped = []
        paths = sorted(self.dir.glob("*.json"))[:MAX_RECORDS] if self.dir.is_dir() else []
        for path in paths:
            try:
                record = json.loads(path.read_text())
                owner = record["owner"]
                pid = record["pid"]
            except (OSError, ValueError, KeyError, TypeError):
                path.unlink(missing_ok=True)  # unreadable: nothing it names can be trusted
                continue
            mine = isinstance(owner, dict) and owner.get("pid") == os.getpid()
            if (
                isinstance(owner, dict)
                and not mine
                and _same(owner.get("created"), owner.get("pid"))
            ):
                continue  # another live server (a replica on this data dir) owns it
            if _same(record.get("created"), pid):
                _kill_group(pid)
                stopped.append(record)
            path.unlink(missing_ok=True)
        return stopped


def _kill_group(pid: int) -> None:
    """SIGKILL the process and its group (it leads one: started in its own session)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGKILL)
