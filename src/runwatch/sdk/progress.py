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
from itertools import starmap
from pathlib import Path
from typing import IO, Any

import msgspec

PROGRESS_NAME = "progress.jsonl"
ROTATED_NAME = "progress.1.jsonl"
MAX_PROGRESS_BYTES = 64 * 2**20


class ProgressLine(msgspec.Struct, gc=False):
    """One line of the file, for a call without text values (no cycles: ``gc=False``)."""

    step: int
    ts: float
    values: dict[str, Any]


class TextProgressLine(msgspec.Struct, gc=False):
    """One line of the file, for a call with text values."""

    step: int
    ts: float
    values: dict[str, Any]
    texts: dict[str, str]


_encode_lines = msgspec.json.Encoder().encode_lines


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

    def write_rows(self, rows: Iterable[tuple[int, float, dict[str, Any]]]) -> None:
        """One line per ``(step, ts, values)`` row, built and encoded in C (no Python per row:
        this runs for every slice of plain numbers)."""
        if not self.failed and self._max_bytes > 0:
            self.write(list(starmap(ProgressLine, rows)))

    def write(self, lines: list[ProgressLine | TextProgressLine]) -> None:
        """Append these lines and flush."""
        if self.failed or self._max_bytes <= 0:
            return
        data = _encode_lines(lines)
        if not data:
            return
        try:
            if self._file is None:
                self._open()
            if self._size + len(data) > self._max_bytes:
                self._write_rotating(data)
            else:
                self._append(data)
        except OSError as exc:
            self.failed = True
            self._warn(f"cannot write {self.path} ({exc!r}); progress lines are no longer written")
            self.close()

    def _write_rotating(self, data: bytes) -> None:
        """Rotate between lines: a reader never sees half of one."""
        chunk: list[bytes] = []
        size = self._size
        for line in data.splitlines(keepends=True):
            if size + len(line) > self._max_bytes and size > 0:
                self._append(b"".join(chunk))
                chunk = []
                self._rotate()
                size = 0
            chunk.append(line)
            size += len(line)
        self._append(b"".join(chunk))

    def _append(self, data: bytes) -> None:
        assert self._file is not None
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
