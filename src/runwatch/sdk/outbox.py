"""The producer's unacknowledged batches, in order: the spool is the queue, memory its cache.

Every batch is written to the spool first. While the cache has room the encoded batch is also
kept in memory; past ``cap_bytes`` it stays on disk only (consecutive such batches are one disk
range, a few bytes per batch) and is read back when its turn comes. Only a batch the spool cannot
take (disk full or unwritable) *and* the cache has no room for is lost.
"""

from __future__ import annotations

from array import array
from collections import deque
from pathlib import Path

from runwatch.sdk.spool import SpoolReader, SpoolWriter, acked_lock, write_acked

# Delivered batches a spool keeps before it is cut back to its header (when nothing is unsent):
# a short run's spool stays whole, readable afterwards; a long one's does not grow without bound.
COMPACT_BYTES = 4 * 2**20


class _Cached:
    """One batch held in memory (``end``: where it ends in the spool, None: not spooled)."""

    __slots__ = ("body", "end", "records")

    def __init__(self, body: bytes, end: int | None, records: int) -> None:
        self.body = body
        self.end = end
        self.records = records


class _OnDisk:
    """Consecutive spooled batches from byte ``start`` to ``end``, with their record counts."""

    __slots__ = ("counts", "end", "sent", "start")

    def __init__(self, start: int, end: int, records: int) -> None:
        self.start = start
        self.end = end
        self.counts = array("L", [records])
        self.sent = 0  # how many of ``counts`` are acknowledged


class Outbox:
    """Batches waiting for the server's acknowledgement, oldest first (one writer thread)."""

    def __init__(self, spool: SpoolWriter, cap_bytes: int) -> None:
        self.spool = spool
        self.cap_bytes = cap_bytes
        self.cached_bytes = 0
        self.batches = 0
        self.records = 0
        self.acked_offset = spool.size  # everything before it is acknowledged
        self.spool_error: OSError | None = None
        self._items: deque[_Cached | _OnDisk] = deque()
        self._reader: SpoolReader | None = None
        self._head: bytes | None = None  # the first batch's body, once read back from disk

    @property
    def path(self) -> Path:
        return self.spool.path

    def add(self, body: bytes, records: int, pinned: bool = False) -> bool:
        """Spool a batch and queue it; False when it could be neither spooled nor cached (lost).

        A ``pinned`` batch (a status, a loss report: small) is cached even past the cap.
        """
        try:
            start: int | None = self.spool.append(body)
        except OSError as exc:
            self.spool_error, start = exc, None
        room = pinned or self.cached_bytes + len(body) <= self.cap_bytes
        if start is None and not room:
            return False
        end = None if start is None else start + len(body) + 1
        tail = self._items[-1] if self._items else None
        if room:
            self._items.append(_Cached(body, end, records))
            self.cached_bytes += len(body)
        elif isinstance(tail, _OnDisk) and tail.end == start:
            tail.end = end  # type: ignore[assignment]
            tail.counts.append(records)
        else:
            self._items.append(_OnDisk(start, end, records))  # type: ignore[arg-type]
        self.batches += 1
        self.records += records
        return True

    def head(self) -> bytes | None:
        """The body of the oldest unacknowledged batch (read back from the spool if need be)."""
        if not self._items:
            return None
        item = self._items[0]
        if isinstance(item, _Cached):
            return item.body
        if self._head is None:
            if self._reader is None:
                self._reader = SpoolReader(self.spool.path)
            self._head = self._reader.line_at(item.start)
        return self._head

    def ack(self) -> bytes:
        """The oldest batch was acknowledged (or refused for good): drop it; return its body."""
        item = self._items[0]
        if isinstance(item, _Cached):
            body = item.body
            self._items.popleft()
            self.cached_bytes -= len(item.body)
            self.records -= item.records
            if item.end is not None:
                self.acked_offset = item.end
        else:
            assert self._head is not None
            body = self._head
            item.start += len(self._head) + 1
            self.records -= item.counts[item.sent]
            item.sent += 1
            self.acked_offset = item.start
            self._head = None
            if item.start >= item.end:
                self._items.popleft()
        self.batches -= 1
        return body

    def compact(self) -> bool:
        """With every batch acknowledged and more than ``COMPACT_BYTES`` of them spooled, cut
        the spool back to its header; whether it was cut. The acknowledged offset is recorded
        first: a crash in between leaves ``runwatch sync`` resending what the server already
        holds (stored once), never skipping what comes after. Not while a sync holds the
        spool's :func:`acked_lock` (tried again at the next acknowledgement): its offsets would
        name bytes of the cut spool."""
        if self._items or self.spool.size - self.spool.header_end <= COMPACT_BYTES:
            return False
        try:
            with acked_lock(self.spool.path) as held:
                if not held:
                    return False
                write_acked(self.spool.path, self.spool.header_end)
                self.spool.restart()
        except OSError:
            return False  # kept whole: still correct, only larger
        self.acked_offset = self.spool.size
        if self._reader is not None:
            # Its buffer may hold delivered bytes at offsets the next batches will take.
            self._reader.close()
            self._reader = None
        return True

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
        self.spool.close()
