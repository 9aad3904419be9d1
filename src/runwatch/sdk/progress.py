"""``<run_dir>/progress.jsonl``: one JSON line per logged step, for any tool to read live.

Each line is ``{"step": int, "ts": float, "values": {key: number}}`` plus ``"texts": {key:
str}`` when the ``log()`` call had text values. A value in ``values`` is a number, or the
string ``"nan"``, ``"inf"`` or ``"-inf"`` for a non-finite one; text is only ever in ``texts``,
so the two never read alike. Written by the sender thread (never by ``log()``'s caller, except
when it spools an overfull queue itself), flushed after every slice of records, so a reader
sees whole lines. Past ``max_bytes`` the file becomes ``progress.1.jsonl`` (replacing the
previous one) and a new one starts, between two lines: at most twice ``max_bytes`` on disk
(a single line longer than ``max_bytes`` has a file to itself).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any

import msgspec

PROGRESS_NAME = "progress.jsonl"
ROTATED_NAME = "progress.1.jsonl"
MAX_PROGRESS_BYTES = 64 * 2**20

_encode = msgspec.json.encode


class ProgressWriter:
    """Appends progress lines; a failure to write is one warning, then the file is given up."""

    def __init__(self, run_dir: Path, max_bytes: int, warn: Callable[[str], None]) -> None:
        self.path = run_dir / PROGRESS_NAME
        self._rotated = run_dir / ROTATED_NAME
        self._max_bytes = max_bytes
        self._warn = warn
        self._file: IO[bytes] | None = None
        self._size = 0
        self.failed = False

    def write(
        self, rows: Iterable[tuple[int, float, dict[str, Any], dict[str, str] | None]]
    ) -> None:
        """Append one line per ``(step, ts, values, texts)`` row and flush."""
        if self.failed or self._max_bytes <= 0:
            return
        lines = [
            _encode({"step": step, "ts": ts, "values": values, "texts": texts}
                    if texts else {"step": step, "ts": ts, "values": values}) + b"\n"
            for step, ts, values, texts in rows
        ]  # fmt: skip
        if not lines:
            return
        try:
            if self._file is None:
                self._open()
            chunk: list[bytes] = []
            size = self._size
            for line in lines:  # rotate between lines: a reader never sees half of one
                if size + len(line) > self._max_bytes and size > 0:
                    self._append(chunk)
                    chunk = []
                    self._rotate()
                    size = 0
                chunk.append(line)
                size += len(line)
            self._append(chunk)
        except OSError as exc:
            self.failed = True
            self._warn(f"cannot write {self.path} ({exc!r}); progress lines are no longer written")
            self.close()

    def _append(self, chunk: list[bytes]) -> None:
        assert self._file is not None
        data = b"".join(chunk)
        self._file.write(data)
        self._file.flush()
        self._size += len(data)

    def close(self) -> None:
        """Close the file (idempotent)."""
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
            self._file = None

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "ab")  # noqa: SIM115 (kept open across writes)
        self._size = self._file.tell()

    def _rotate(self) -> None:
        self.close()
        os.replace(self.path, self._rotated)
        self._open()
