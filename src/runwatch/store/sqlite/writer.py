"""The single SQLite writer thread: every write goes through it, grouped into one commit.

Group commit: the thread takes every job waiting in its queue (up to ``max_group``), runs each in
a savepoint of one transaction (a failing job rolls back alone), commits once, and only then
resolves the jobs' futures and hands what was committed to the commit callback, in order.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import queue
import sqlite3
import threading
from collections.abc import Callable
from typing import Any

from runwatch.store.base import Committed
from runwatch.store.errors import StoreBusy, StoreUnavailable

Job = Callable[[sqlite3.Connection], tuple[Any, list[Committed]]]
_STOP = object()


class SqliteWriter:
    """Owns the write connection; jobs run on its thread in submission order."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        on_commit: Callable[[list[Committed]], None],
        max_queue: int = 4096,
        max_group: int = 512,
    ) -> None:
        self._conn = conn
        self._on_commit = on_commit
        self._max_group = max_group
        # Bounded: when the writer cannot keep up, ingest answers 503 instead of queueing forever.
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max_queue)
        self._thread = threading.Thread(
            target=self._run, name="runwatch-sqlite-writer", daemon=True
        )
        self.commits = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Finish the jobs already queued, then close the connection."""
        self._queue.put(_STOP)
        self._thread.join()

    def submit(self, job: Job) -> concurrent.futures.Future[Any]:
        """Queue a job; raise :class:`StoreBusy` when the queue is full."""
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        try:
            self._queue.put_nowait((job, future))
        except queue.Full:
            raise StoreBusy("the store's write queue is full; retry") from None
        return future

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is _STOP:
                break
            group = [first]
            while len(group) < self._max_group:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stopping = True
                    break
                group.append(item)
            self._commit_group(group)
        self._conn.close()

    def _commit_group(self, group: list[tuple[Job, concurrent.futures.Future[Any]]]) -> None:
        conn = self._conn
        outcomes: list[tuple[Any, BaseException | None]] = []
        committed: list[Committed] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for job, _ in group:
                conn.execute("SAVEPOINT job")
                try:
                    result, changes = job(conn)
                except Exception as exc:
                    conn.execute("ROLLBACK TO job")
                    if isinstance(exc, sqlite3.Error):  # disk full, I/O error: not the client's
                        exc = StoreUnavailable(f"the store could not write: {exc}")
                    outcomes.append((None, exc))
                else:
                    committed.extend(changes)
                    outcomes.append((result, None))
                conn.execute("RELEASE job")
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            failure = StoreUnavailable(f"the store could not commit: {exc}")
            for _, future in group:
                _settle(future, None, failure)
            return
        self.commits += 1
        # Acks first, then fan-out: both are scheduled on the event loop in this order, so a
        # producer's ack never waits behind a whole round of viewer wake-ups.
        for (_, future), (result, error) in zip(group, outcomes, strict=True):
            _settle(future, result, error)
        if committed:
            self._on_commit(committed)


def _settle(
    future: concurrent.futures.Future[Any], result: Any, error: BaseException | None
) -> None:
    """Answer a job's waiter, unless it gave up (a request cancelled on disconnect or shutdown):
    its job stands, committed or not, and the writer thread must live on."""
    with contextlib.suppress(concurrent.futures.InvalidStateError):
        if error is None:
            future.set_result(result)
        else:
            future.set_exception(error)
