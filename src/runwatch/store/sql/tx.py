"""The seam between the shared SQL of every storage concern and the database it runs on.

Shared modules (``store.sql.*``) write each statement once, with ``?`` placeholders, and run it
through a :class:`Tx`: one open transaction on one connection, handed to a job by the backend's
executor (SQLite's writer thread, PostgreSQL's pooled runner). What really differs between the
two databases is what a Tx carries: its :class:`Dialect` (the few SQL fragments that are spelt
differently) and its bulk operations (PostgreSQL's pipeline and COPY; plain ``executemany`` on
SQLite). A third SQL backend is one more Tx, its Dialect, its migrations and its executor.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Dialect:
    """The SQL fragments that differ between databases; everything else is written once."""

    name: str
    # Whether writers run in parallel and lock rows (PostgreSQL), or one writer thread owns
    # the file and nobody else changes a row inside a transaction (SQLite): the lock clauses
    # below are empty where there are no row locks.
    row_locks: bool
    # Appended to ORDER BY of text: code-point order, as Python sorts.
    binary_order: str
    # The column that numbers a table's rows in insertion order (chunks of a series, queued
    # runs): SQLite's implicit rowid, PostgreSQL's identity ``id``.
    insert_order: str
    # A WHERE condition: the run's JSON ``tags`` array holds the ``?`` parameter.
    has_tag: str
    # A value in the run's JSON text column ``{doc}`` at the path in ``?`` (each ``?`` of one
    # fragment is the same path: ``json_root`` then ``."key"`` per key; see runs_query.sql):
    # its kind ('number', 'string', 'true', 'false', 'null', 'array', 'object'; NULL when
    # absent), its number as a float (NULL unless a number), its text (NULL unless a string).
    # A dialect may read a parsed copy kept beside the column (PostgreSQL: ``{doc}_jsonb``).
    json_root: str
    json_kind: str
    json_number: str
    json_text: str
    # Appended to the path parameter of ``json_number`` and ``json_text``: a filter that lets
    # one lookup both test the value's type and read it (PostgreSQL); empty where the fragment
    # tests the type itself (SQLite).
    json_number_tail: str
    json_text_tail: str
    # A WHERE condition: the text ``{value}`` matches the ``?`` regular expression somewhere
    # (a canonical runs_query pattern; SQLite runs runs_query.regex.sqlite_regexp for it).
    regex_match: str
    # A statement taking a transaction-scoped lock on the ``?`` integer key, where writers run
    # in parallel (PostgreSQL's replicas); empty where one writer thread orders every write.
    xact_lock: str
    # The type of byte strings, for CAST (SQLite's || yields TEXT even of two BLOBs).
    blob: str
    # Whether a TEXT value may hold a NUL character (PostgreSQL's cannot).
    text_holds_nul: bool
    # A statement refreshing the planner's statistics of ``{table}`` after a bulk fill, where
    # the planner would otherwise plan on stale ones until a background job catches up
    # (PostgreSQL's autovacuum); empty where the planner keeps none by default (SQLite).
    analyze: str

    @property
    def for_update(self) -> str:
        """Appended to a SELECT that reads a row the transaction will change."""
        return " FOR UPDATE" if self.row_locks else ""

    @property
    def for_share(self) -> str:
        """Appended to a SELECT that reads a row which must not change before commit, while
        other readers take the same lock side by side."""
        return " FOR SHARE" if self.row_locks else ""

    @property
    def skip_locked(self) -> str:
        """The same as :attr:`for_update`, for a sweep that must not wait behind rows other
        writers hold."""
        return " FOR UPDATE SKIP LOCKED" if self.row_locks else ""


class Cursor(Protocol):
    """What the shared code reads from a statement: the DB-API cursor subset both drivers have."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Tx(Protocol):
    """One open transaction: statements with ``?`` placeholders, and bulk operations."""

    dialect: Dialect

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor: ...

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None: ...

    def copy_rows(self, table: str, columns: str, rows: Iterable[Sequence[Any]]) -> None:
        """Insert many whole rows at once (``columns`` as in an INSERT's column list)."""
        ...

    def insert_many(
        self, table: str, columns: str, types: str, rows: Sequence[Sequence[Any]], tail: str
    ) -> None:
        """Insert many rows with one statement where the database takes arrays (else
        ``executemany``); ``types`` are the columns' SQL types, ``tail`` ends the INSERT (e.g.
        its ON CONFLICT clause)."""
        ...

    def pipeline(self) -> AbstractContextManager[Any]:
        """A block whose statements may be sent without waiting for each answer."""
        ...
