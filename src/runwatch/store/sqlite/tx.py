"""SQLite's side of the seam: a :class:`~runwatch.store.sql.tx.Tx` over a ``sqlite3`` connection."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from runwatch.store.sql.tx import Cursor, Dialect

SQLITE = Dialect(
    name="sqlite",
    row_locks=False,
    binary_order="",  # SQLite compares text byte by byte already
    insert_order="rowid",
    has_tag="EXISTS (SELECT 1 FROM json_each(runs.tags) WHERE value = ?)",
    json_root="$",
    json_kind="CASE json_type({doc}, ?) WHEN 'integer' THEN 'number' WHEN 'real' THEN 'number'"
    " WHEN 'text' THEN 'string' ELSE json_type({doc}, ?) END",
    json_number="CASE WHEN json_type({doc}, ?) IN ('integer', 'real')"
    " THEN CAST(json_extract({doc}, ?) AS REAL) END",
    json_text="CASE WHEN json_type({doc}, ?) = 'text' THEN json_extract({doc}, ?) END",
    json_number_tail="",
    json_text_tail="",
    # REGEXP calls the connection's regexp(): runs_query.regex.sqlite_regexp, which
    # executor.connect registers on every connection.
    regex_match="{value} REGEXP ?",
    xact_lock="",
    blob="BLOB",
    text_holds_nul=True,
    analyze="",
)


class SqliteTx:
    """Statements of one transaction on ``conn`` (SQLite speaks ``?`` already)."""

    dialect = SQLITE

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        return self.conn.execute(sql, params)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self.conn.executemany(sql, rows)

    def copy_rows(self, table: str, columns: str, rows: Iterable[Sequence[Any]]) -> None:
        marks = ",".join("?" * len(columns.split(",")))
        self.conn.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)

    def insert_many(
        self, table: str, columns: str, types: str, rows: Sequence[Sequence[Any]], tail: str
    ) -> None:
        marks = ",".join("?" * len(columns.split(",")))
        self.conn.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks}) {tail}", rows)

    def pipeline(self) -> contextlib.nullcontext[None]:
        return contextlib.nullcontext()
