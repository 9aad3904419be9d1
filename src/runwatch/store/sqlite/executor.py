"""SQLite's executor: one file in WAL mode, one writer thread with group commit (``writer``),
and a small pool of read-only connections, one per reader thread."""

from __future__ import annotations

import asyncio
import concurrent.futures
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from runwatch.runs_query import sqlite_regexp
from runwatch.store.errors import StoreUnavailable
from runwatch.store.sql.executor import OnCommit, WriteJob
from runwatch.store.sql.tx import Tx
from runwatch.store.sqlite.schema import migrate
from runwatch.store.sqlite.tx import SqliteTx
from runwatch.store.sqlite.writer import SqliteWriter

T = TypeVar("T")


def connect(path: Path, busy_timeout: float) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are begun explicitly), WAL journal."""
    conn = sqlite3.connect(
        path, isolation_level=None, check_same_thread=False, timeout=busy_timeout
    )
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
    conn.create_function("regexp", 2, sqlite_regexp, deterministic=True)  # runs queries' ~
    return conn


class SqliteExecutor:
    """Writes on the writer thread, reads on ``readers`` threads, all on the file at ``path``."""

    def __init__(self, path: Path, readers: int = 4, busy_timeout: float = 30.0) -> None:
        """``busy_timeout``: seconds a write waits for a lock another process holds before the
        job fails as busy (and the producer retries)."""
        self.path = path
        self._busy_timeout = busy_timeout
        self._reader_pool = concurrent.futures.ThreadPoolExecutor(readers, "runwatch-sqlite-read")
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._writer: SqliteWriter | None = None

    async def open(self, on_commit: OnCommit) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = connect(self.path, self._busy_timeout)
        migrate(conn)
        self._writer = SqliteWriter(conn, on_commit)
        self._writer.start()

    async def close(self) -> None:
        if self._writer is not None:
            await asyncio.to_thread(self._writer.stop)
            self._writer = None
        self._reader_pool.shutdown(wait=True)
        with self._readers_lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()

    async def write(self, job: WriteJob[T]) -> T:
        if self._writer is None:
            raise StoreUnavailable("the store is not open")
        result: T = await asyncio.wrap_future(self._writer.submit(lambda c: job(SqliteTx(c))))
        return result

    async def read(self, fn: Callable[[Tx], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(
            self._reader_pool, self._read_in_thread, fn
        )

    def _read_in_thread(self, fn: Callable[[Tx], T]) -> T:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path, self._busy_timeout)
            conn.execute("PRAGMA query_only = ON")
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        # One transaction per read: every query in ``fn`` sees the same snapshot.
        conn.execute("BEGIN")
        try:
            return fn(SqliteTx(conn))
        finally:
            conn.execute("ROLLBACK")

    async def health(self) -> dict[str, Any]:
        (version,) = await self.read(lambda tx: tx.execute("PRAGMA user_version").fetchone())
        commits = self._writer.commits if self._writer else 0
        return {"backend": "sqlite", "path": str(self.path), "schema": version, "commits": commits}
