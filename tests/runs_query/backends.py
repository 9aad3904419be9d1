"""The runs table of each real store, opened for queries: SQLite (a file) and PostgreSQL (a
fresh database), each migrated by its store, then read and written through the store's own
Tx (with SQLite's REGEXP function registered, as the server must)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import msgspec
import psycopg

from runwatch.runs_query import Node, compile_where, sqlite_regexp
from runwatch.runs_query.sql import Where
from runwatch.store.base import Store
from runwatch.store.postgres import PostgresStore
from runwatch.store.postgres.tx import PostgresTx
from runwatch.store.sql import values
from runwatch.store.sql.tx import Tx
from runwatch.store.sqlite import SqliteStore
from runwatch.store.sqlite.tx import SqliteTx
from tests.store.aio import run

COLUMNS = (
    "id, project, name, grp, tags, config, status, created_at, started_at, ended_at,"
    " last_update, summary, extremes, lost"
)
_json = msgspec.json.encode


class Runs:
    """A runs table to fill with runs (dicts of RunInfo fields) and query."""

    def __init__(self, tx: Tx) -> None:
        self.tx = tx

    def replace(self, runs: Sequence[dict[str, Any]]) -> None:
        """Make ``runs`` the only rows of the table."""
        self.tx.execute("DELETE FROM runs")
        rows = [
            (
                r["id"],
                r["project"],
                r["name"],
                r["group"],
                _json(r["tags"]).decode(),
                _json(r["config"]).decode(),
                r["status"],
                r["created_at"],
                r["started_at"],
                r["ended_at"],
                r["last_update"],
                _json(r["summary"]).decode(),
                _json(r.get("extremes", {})).decode(),
                r.get("lost", 0),
            )
            for r in runs
        ]
        self.tx.executemany(f"INSERT INTO runs ({COLUMNS}) VALUES ({', '.join('?' * 14)})", rows)
        values.rebuild(self.tx)  # the finished runs' value index, as a migration fills it

    def select(self, node: Node) -> set[str]:
        """The ids of the runs the query selects in SQL: its exact condition on the candidates
        of the value index, as the store asks."""
        where = compile_where(node, self.tx.dialect)
        candidates = values.prefilter(node, self.tx.dialect) or Where("TRUE")
        sql = f"SELECT id FROM runs WHERE {candidates.sql} AND {where.sql}"
        return {row[0] for row in self.tx.execute(sql, [*candidates.params, *where.params])}

    def count(self) -> int:
        row = self.tx.execute("SELECT COUNT(*) FROM runs").fetchone()
        return int(row[0])


def _migrate(store: Store) -> None:
    async def open_and_close() -> None:
        await store.open()
        await store.close()

    run(open_and_close())


@contextmanager
def sqlite_runs(data_dir: Path) -> Iterator[Runs]:
    """The runs table of a SQLite store in ``data_dir`` (migrated now unless it was)."""
    store = SqliteStore(data_dir)
    _migrate(store)
    conn = sqlite3.connect(store.path, isolation_level=None)
    conn.create_function("regexp", 2, sqlite_regexp, deterministic=True)
    try:
        yield Runs(SqliteTx(conn))
    finally:
        conn.close()


@contextmanager
def postgres_runs(url: str) -> Iterator[Runs]:
    """The runs table of a PostgreSQL store at ``url`` (migrated now unless it was)."""
    _migrate(PostgresStore(url))
    with psycopg.connect(url, autocommit=True) as conn:
        yield Runs(PostgresTx(conn))
