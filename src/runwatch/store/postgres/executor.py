"""PostgreSQL's executor: transactions on a pool of connections, each job on a worker thread.

Writes: each job is one READ COMMITTED transaction. Jobs that touch a run lock its row first,
so writers of one run (on this replica or another) take turns and commit in seq order. Commit
listeners must hear this process's commits in that order too: COMMIT and the hand-off to the
event loop happen under the run's commit lock, so a job that waited for another's row lock
(and so commits after it) can only hand off after it. The locks are striped by run: commits
of different runs go on in parallel (PostgreSQL groups their flushes), and COMMIT never waits
for a row lock, so a commit lock is held briefly.

Reads: each is one REPEATABLE READ, READ ONLY transaction: every query of a read sees one
snapshot, as a SQLite read transaction does.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import psycopg
from psycopg import errors as pg_errors
from psycopg_pool import ConnectionPool, PoolTimeout

from runwatch.store.errors import InvalidValue, StoreBusy, StoreError, StoreUnavailable
from runwatch.store.location import describe
from runwatch.store.postgres.schema import migrate
from runwatch.store.postgres.tx import Conn, PostgresTx
from runwatch.store.sql.executor import OnCommit, WriteJob
from runwatch.store.sql.tx import Tx

T = TypeVar("T")
# A deadlock or serialization failure is PostgreSQL asking the job to try again.
RETRIES = 3
COMMIT_STRIPES = 64  # commit locks; runs share them by hash
# Jobs queued or running per replica; past it a job is answered 503 at once (the SDK retries)
# instead of waiting in an ever longer queue, as SQLite's write queue does.
MAX_PENDING = 4096
_RETRYABLE = (pg_errors.DeadlockDetected, pg_errors.SerializationFailure)


def as_store_error(exc: BaseException) -> StoreError:
    """A driver or server error as the answer a client can act on."""
    if isinstance(exc, PoolTimeout | pg_errors.LockNotAvailable):
        return StoreBusy(f"the store is busy; retry ({exc})")
    # A NUL character (TEXT cannot hold it), or a value past a limit of PostgreSQL's own (an
    # index row over 2,704 bytes): the same batch would fail the same way on every retry.
    if isinstance(exc, psycopg.DataError | pg_errors.ProgramLimitExceeded):
        return InvalidValue(f"the store cannot keep this value: {exc}")
    return StoreUnavailable(f"the store could not write: {exc}")


def connect(url: str) -> psycopg.Connection[Any]:
    """An autocommit connection to the database at ``url``; one that cannot be made is a
    :class:`RuntimeError` saying where (the CLI prints it as one line)."""
    try:
        return psycopg.connect(url, autocommit=True)
    except psycopg.OperationalError as exc:
        raise RuntimeError(f"cannot reach PostgreSQL at {describe(url)}: {exc}") from None


class PostgresExecutor:
    """Runs write and read jobs on pooled connections; calls ``on_commit`` in commit order."""

    def __init__(
        self, url: str, size: int, lock_timeout: float, max_pending: int = MAX_PENDING
    ) -> None:
        """``size``: connections (and worker threads). ``lock_timeout``: seconds a job waits for
        a lock or a connection before it fails as busy. ``max_pending``: jobs queued or running
        at once; past it, busy at once."""
        self.url = url
        self.size = size
        self._lock_timeout = lock_timeout
        self._on_commit: OnCommit = lambda committed: None
        self._open = False
        self._max_pending = max_pending
        self._commit_locks = [threading.Lock() for _ in range(COMMIT_STRIPES)]
        self._count_lock = threading.Lock()
        self._pending = 0  # touched on the event loop's thread only
        self.commits = 0
        self._pool = ConnectionPool(
            url,
            min_size=1,
            max_size=size,
            open=False,
            timeout=lock_timeout,
            kwargs={
                "autocommit": True,  # transactions are begun and ended explicitly
                "options": f"-c lock_timeout={int(lock_timeout * 1000)}",
            },
            check=ConnectionPool.check_connection,
            name="runwatch",
        )
        # As many threads as connections: a job never waits for a connection another holds.
        self._threads = concurrent.futures.ThreadPoolExecutor(size, "runwatch-postgres")

    async def open(self, on_commit: OnCommit) -> None:
        self._on_commit = on_commit

        def start() -> None:
            with connect(self.url) as conn:
                migrate(conn)
            self._pool.open(wait=True, timeout=self._lock_timeout)

        await asyncio.to_thread(start)
        self._open = True

    async def close(self) -> None:
        if self._open:
            self._open = False
            await asyncio.to_thread(self._close)

    def _close(self) -> None:
        self._threads.shutdown(wait=True)
        self._pool.close()

    async def write(self, job: WriteJob[T]) -> T:
        return await self._submit(self._write_in_thread, job)

    async def read(self, fn: Callable[[Tx], T]) -> T:
        return await self._submit(self._read_in_thread, fn)

    async def health(self) -> dict[str, Any]:
        row = await self.read(
            lambda tx: tx.execute("SELECT max(version) FROM runwatch_schema").fetchone()
        )
        version = int(row[0]) if row and row[0] is not None else 0
        return {"backend": "postgresql", "database": describe(self.url), "schema": version,
                "commits": self.commits, "pool": self.size}  # fmt: skip

    async def _submit(self, run: Callable[[Any], T], work: Any) -> T:
        if not self._open:
            raise StoreUnavailable("the store is not open")
        if self._pending >= self._max_pending:
            raise StoreBusy("the store's job queue is full; retry")
        self._pending += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._threads, run, work)
        finally:
            self._pending -= 1

    def _write_in_thread(self, job: WriteJob[T]) -> T:
        for attempt in range(RETRIES):
            try:
                with self._pool.connection() as conn:
                    return self._transaction(conn, job)
            except _RETRYABLE as exc:
                if attempt == RETRIES - 1:
                    raise as_store_error(exc) from exc
            except (psycopg.Error, PoolTimeout) as exc:
                raise as_store_error(exc) from exc
        raise AssertionError("unreachable")

    def _transaction(self, conn: Conn, job: WriteJob[T]) -> T:
        conn.execute("BEGIN")
        try:
            result, committed = job(PostgresTx(conn))
        except BaseException:
            _rollback(conn)
            raise
        # Taken in one (sorted) order, and only here: threads never wait on each other in a cycle.
        stripes = sorted({hash(c.run_id) % COMMIT_STRIPES for c in committed})
        with contextlib.ExitStack() as held:
            for i in stripes:
                held.enter_context(self._commit_locks[i])
            conn.execute("COMMIT")
            with self._count_lock:
                self.commits += 1
            if committed:
                self._on_commit(committed)
        return result

    def _read_in_thread(self, fn: Callable[[Tx], T]) -> T:
        try:
            with self._pool.connection() as conn:
                conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                try:
                    return fn(PostgresTx(conn))
                finally:
                    _rollback(conn)
        except psycopg.DataError as exc:  # a value no column holds (a NUL): nothing matches it
            raise InvalidValue(f"the store cannot look up: {exc}", code="invalid_request") from exc
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise StoreUnavailable(f"the store could not read: {exc}") from exc


def _rollback(conn: Conn) -> None:
    """End a failed transaction; a broken connection is left for the pool to discard."""
    with contextlib.suppress(psycopg.Error):
        conn.execute("ROLLBACK")
