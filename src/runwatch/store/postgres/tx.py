"""PostgreSQL's side of the seam: a :class:`~runwatch.store.sql.tx.Tx` over a psycopg connection.

Statements arrive with ``?`` placeholders and are sent with psycopg's ``%s`` (translated once
per distinct statement); results come in binary form, so packed arrays (BYTEA) arrive as they
are rather than as hex text.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from typing import Any

import psycopg

from runwatch.store.sql.tx import Cursor, Dialect

Conn = psycopg.Connection[tuple[Any, ...]]

# The JSON value at a jsonpath parameter in the column {doc} (NULL when absent), read from
# its generated JSONB copy (schema migration 5), which is parsed once per write.
_JSON_AT = "jsonb_path_query_first({doc}_jsonb, CAST(? AS jsonpath), '{}', true)"

POSTGRES = Dialect(
    name="postgresql",
    row_locks=True,
    binary_order=' COLLATE "C"',
    insert_order="id",
    has_tag="tags::jsonb @> jsonb_build_array(CAST(? AS TEXT))",
    # A strict path: a key never indexes an array, as on SQLite and in Python.
    json_root="strict $",
    # One path lookup unless the value is a boolean: a runs page sorted by a config key reads
    # the kind of every matching run's value, and each lookup is a call over the row's JSONB.
    json_kind=f"COALESCE(NULLIF(jsonb_typeof({_JSON_AT}), 'boolean'), ({_JSON_AT})::text)",
    # The path's filter keeps a value of the type only (else the lookup is NULL): one lookup
    # each, where testing jsonb_typeof first took two.
    json_number=f"({_JSON_AT})::float8",
    json_text=f"({_JSON_AT}) #>> '{{}}'",
    json_number_tail=' ? (@.type() == "number")',
    json_text_tail=' ? (@.type() == "string")',
    regex_match="{value} ~ ?",
    xact_lock="SELECT pg_advisory_xact_lock(?)",
    blob="BYTEA",
    text_holds_nul=False,
    analyze="ANALYZE {table}",
)


@functools.lru_cache(maxsize=1024)
def to_psycopg(sql: str) -> str:
    """``?`` placeholders as psycopg's ``%s`` (a literal ``%`` doubled)."""
    return sql.replace("%", "%%").replace("?", "%s")


class PostgresTx:
    """Statements of one transaction on ``conn``."""

    dialect = POSTGRES

    def __init__(self, conn: Conn) -> None:
        self.conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        return self.conn.execute(to_psycopg(sql), params, binary=True)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        # An executemany joins an open pipeline rather than waiting for each row's answer.
        self.conn.cursor().executemany(to_psycopg(sql), rows)

    def copy_rows(self, table: str, columns: str, rows: Iterable[Sequence[Any]]) -> None:
        with self.conn.cursor().copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)

    def insert_many(
        self, table: str, columns: str, types: str, rows: Sequence[Sequence[Any]], tail: str
    ) -> None:
        # One statement over one array per column: far fewer round trips and plans than
        # a row at a time.
        arrays = [list(column) for column in zip(*rows, strict=True)]
        unnest = ", ".join(f"%b::{t.strip()}[]" for t in types.split(","))
        sql = f"INSERT INTO {table} ({columns}) SELECT * FROM unnest({unnest}) {tail.replace('%', '%%')}"
        self.conn.execute(sql, arrays)

    def pipeline(self) -> AbstractContextManager[Any]:
        return self.conn.pipeline()
