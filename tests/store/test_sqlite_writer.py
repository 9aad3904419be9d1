"""The SQLite writer thread outlives a waiter that gave up on its job."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

from runwatch.store.sqlite.writer import SqliteWriter


def test_a_cancelled_waiter_does_not_stop_the_writer(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "w.db", check_same_thread=False, isolation_level=None)
    conn.execute("CREATE TABLE t (x INTEGER)")
    writer = SqliteWriter(conn, on_commit=lambda _: None)
    writer.start()
    release = threading.Event()

    def held(c: sqlite3.Connection) -> tuple[Any, list[Any]]:
        release.wait(10)
        return None, []

    def insert(value: int):  # type: ignore[no-untyped-def]
        def job(c: sqlite3.Connection) -> tuple[Any, list[Any]]:
            c.execute("INSERT INTO t VALUES (?)", (value,))
            return value, []

        return job

    try:
        first = writer.submit(held)
        abandoned = writer.submit(insert(1))  # queued behind the held job
        assert abandoned.cancel()  # its request went away (disconnect, shutdown)
        release.set()
        first.result(10)
        assert writer.submit(insert(2)).result(10) == 2
    finally:
        writer.stop()
    check = sqlite3.connect(tmp_path / "w.db")
    assert check.execute("SELECT x FROM t ORDER BY x").fetchall() == [(1,), (2,)]
    check.close()
