"""The local spool: the producer's durable send queue, one batch per line, written before it is sent.

The first line is a header (``{"spool": 2, "run": {...}, "producer": ...}``); every later line is
one batch exactly as it is posted (``{"producer", "batch_seq", "points", "events", ...}``), so a
batch keeps its ``(producer, batch_seq)`` on replay and the server stores it once. Next to the
spool, ``spool-<producer>.acked`` holds the byte offset up to which the server acknowledged every
batch: ``runwatch sync`` starts there. A producer's final status is alone in its last batch.
Once every batch is acknowledged and they hold more than ``COMPACT_BYTES``, the spool is cut back
to its header (``Outbox.compact``): what was delivered is not kept without bound.

The writer holds an exclusive ``flock`` on its spool while it is open; the kernel drops it when
the process dies. ``runwatch sync`` tells a crashed (or finished) producer from a live one by it
(:func:`writer_gone`): only then does it delete the producer's blobs after delivering the spool.

The ``.acked`` offset is guarded by a second lock, on ``spool-<producer>.lock`` (:func:`acked_lock`):
a sync holds it while it syncs the spool, so two syncs of one spool take turns and the producer
does not cut its spool under a sync (whose offsets would then name bytes of the cut spool: a
stale one past the new end skipped every batch spooled after the cut). The producer only tries
it: while a sync holds it, the producer neither cuts nor records its offset (a later sync resends
what it had not recorded: stored once). Every offset recorded outside a cut is the larger of the
old and the new (:func:`advance_acked`): the offset never moves back, except to the header's end
at a cut.

Version 1 spools (one record per line, tagged with its batch ``"b"``) are still read.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import msgspec

if sys.platform != "win32":
    import fcntl

SPOOL_VERSION = 2
_encode = msgspec.json.encode
_decode = msgspec.json.decode


class SpoolWriter:
    """Appends batches to ``path``; each write reaches the OS at once (survives a process crash)."""

    def __init__(self, path: Path, run: dict[str, Any], producer: str) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        if sys.platform != "win32":
            # Without it (a file system refusing locks) sync only never deletes its blobs.
            with contextlib.suppress(OSError):
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self.size = os.fstat(self._fd).st_size
        if self.size == 0:
            self.append(_encode({"spool": SPOOL_VERSION, "run": run, "producer": producer}))
            self.header_end = self.size
        else:
            with path.open("rb") as f:
                self.header_end = len(f.readline())

    def append(self, line: bytes) -> int:
        """Write one line; return the byte offset where it starts.

        Raises ``OSError`` when the disk refuses it (full, unwritable); then nothing of it stays
        in the file, so no torn line sits between whole ones.
        """
        offset = self.size
        data = memoryview(line + b"\n")
        try:
            written = 0
            while written < len(data):  # os.write may write part of it (and releases the GIL)
                written += os.write(self._fd, data[written:])
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, offset)
            raise
        self.size += len(data)
        return offset

    def restart(self) -> None:
        """Drop every batch, keeping the header (the server acknowledged them all); later
        batches are appended after it. Raises ``OSError`` when the file cannot be cut."""
        os.ftruncate(self._fd, self.header_end)
        self.size = self.header_end

    def close(self) -> None:
        os.close(self._fd)


class SpoolReader:
    """Reads lines back from a spool that its writer may still be appending to."""

    def __init__(self, path: Path) -> None:
        self._file: IO[bytes] = path.open("rb")

    def line_at(self, offset: int) -> bytes:
        """The whole line starting at ``offset``, without its newline."""
        self._file.seek(offset)
        return self._file.readline().rstrip(b"\n")

    def close(self) -> None:
        self._file.close()


def writer_gone(path: Path) -> bool:
    """Whether no live producer holds the spool open (it crashed, or finished): a producer never
    opens its spool again, so once gone the spool is whole as it stands. False whenever that
    cannot be told (locks refused, or not on this platform)."""
    if sys.platform == "win32":
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return False
    finally:
        os.close(fd)
    return True


def acked_path(spool: Path) -> Path:
    """Where the offset up to which the server acknowledged everything is kept."""
    return spool.with_suffix(".acked")


def read_acked(spool: Path) -> int:
    """The byte offset up to which every batch was acknowledged (0: none, or unknown)."""
    try:
        return int(acked_path(spool).read_text())
    except (OSError, ValueError):
        return 0


def lock_path(spool: Path) -> Path:
    """The file whose ``flock`` guards the spool's ``.acked`` offset and its cut."""
    return spool.with_suffix(".lock")


@contextlib.contextmanager
def acked_lock(spool: Path, on_busy: Callable[[], None] | None = None) -> Iterator[bool]:
    """Hold the lock of the spool's ``.acked`` offset and cut; yield whether it is held.

    Without ``on_busy``, only tried: False while another process (a sync) holds it. With it,
    waited for, ``on_busy()`` being called first when it is taken. True where locks cannot be
    taken (not on this platform, or a file system refusing them): nothing is guarded there.
    Raises ``OSError`` when the lock file cannot be opened.
    """
    if sys.platform == "win32":
        yield True
        return
    fd = os.open(lock_path(spool), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        yield _take(fd, on_busy)
    finally:
        os.close(fd)  # drops the lock


def _take(fd: int, on_busy: Callable[[], None] | None) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        if on_busy is None:
            return False
        on_busy()
        fcntl.flock(fd, fcntl.LOCK_EX)
    except OSError:
        pass  # locks refused: unguarded, as where there are none
    return True


def write_atomic(target: Path, data: bytes) -> None:
    """Write ``target`` whole or not at all (a crash leaves no torn file), through a temporary
    file of this process and thread: a producer and a sync (or two syncs) may write the same
    file at once, and one's replace must not move the other's file away under it. A failed
    write (a full disk, a file size limit) deletes its temporary file before raising: left, a
    producer retrying on a full disk piled them up by the thousand."""
    tmp = target.with_name(f"{target.name}.tmp{os.getpid()}-{threading.get_ident()}")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):  # the write's own error is the one to raise
            tmp.unlink(missing_ok=True)
        raise


def write_acked(spool: Path, offset: int) -> None:
    """Record that every batch before ``offset`` was acknowledged (atomically replaced), even
    if an offset past it was recorded: only for a cut, under :func:`acked_lock`."""
    write_atomic(acked_path(spool), str(offset).encode())


def advance_acked(spool: Path, offset: int) -> None:
    """Record ``offset`` unless a larger one is recorded already (a sync or the producer went
    further): under :func:`acked_lock`, so that nothing else writes in between."""
    if offset > read_acked(spool):
        write_acked(spool, offset)


def read_header(path: Path) -> dict[str, Any]:
    """The spool's header: the run it belongs to and the producer that wrote it."""
    with path.open("rb") as f:
        header: dict[str, Any] = _decode(f.readline())
    if header.get("spool") not in (1, SPOOL_VERSION):
        raise ValueError(f"{path} is not a runwatch spool (version {header.get('spool')!r})")
    return header


def spooled_bodies(path: Path, start: int = 0) -> Iterator[tuple[int, bytes]]:
    """``(end offset, body)`` of each batch from byte ``start`` on, ready to post, in order.

    A torn last line (the writer died mid-write) is skipped: it was never sent.
    """
    header = read_header(path)
    if header["spool"] == 1:
        for batch in _v1_batches(path):
            batch["producer"] = header["producer"]
            yield path.stat().st_size, _encode(batch)
        return
    with path.open("rb") as f:
        f.readline()
        f.seek(max(start, f.tell()))
        for line in f:
            if not line.endswith(b"\n"):
                return
            yield f.tell(), line[:-1]


def read_batches(path: Path) -> Iterator[dict[str, Any]]:
    """Every whole batch in the spool, decoded, in order."""
    for _, body in spooled_bodies(path):
        yield _decode(body)


def ends_run(path: Path) -> bool:
    """Whether the spool's last batch carries its producer's final status."""
    last = b""
    for _, body in spooled_bodies(path, _tail_start(path)):
        last = body
    try:
        return bool(last) and "status" in _decode(last)
    except msgspec.DecodeError:  # the tail began mid-line (a huge last batch): no status batch
        return False


def _tail_start(path: Path) -> int:
    """Where the last few lines begin (a final-status batch is small)."""
    return max(0, path.stat().st_size - 65_536)


def _v1_batches(path: Path) -> Iterator[dict[str, Any]]:
    """Version 1 spools: one record per line, regrouped into their batches."""
    current: dict[str, Any] | None = None
    with path.open("rb") as f:
        f.readline()  # header
        for line in f:
            try:
                rec = _decode(line)
            except msgspec.DecodeError:
                continue
            b = rec["b"]
            if current is None or current["batch_seq"] != b:
                if current is not None:
                    yield current
                current = {"batch_seq": b, "points": [], "events": []}
            if "event" in rec:
                current["events"].append(rec["event"])
            elif "extra" in rec:
                field, item = rec["extra"]
                current.setdefault(field, []).append(item)
            elif "status" in rec:
                current["status"] = rec["status"]
            else:
                current["points"].append([rec["step"], rec["ts"], rec["values"]])
    if current is not None:
        yield current
