"""``runwatch migrate``: copy a SQLite data dir into an empty PostgreSQL database.

Everything goes in one PostgreSQL transaction, table by table with COPY, and row counts are
compared before it commits: a migration lands whole or not at all. Ids (series, chunks,
promotions, tokens) are kept, and each identity sequence is moved past them. The value index of
finished runs is rebuilt from the copied runs, not copied (what it holds follows the database:
PostgreSQL's TEXT cannot hold the NUL characters SQLite's may).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import psycopg

from runwatch.store.postgres.executor import connect
from runwatch.store.postgres.schema import migrate as migrate_postgres
from runwatch.store.postgres.tx import PostgresTx
from runwatch.store.sql import values
from runwatch.store.sql.records import RUN_COLUMNS
from runwatch.store.sqlite.schema import migrate as migrate_sqlite


class Table(msgspec.Struct, frozen=True):
    """One table to copy: the PostgreSQL columns, and the SQLite expressions that fill them."""

    name: str
    columns: str
    select: str | None = None  # SQLite expressions, when they differ from ``columns``
    binary: frozenset[str] = frozenset()  # BYTEA columns; other bytes are UTF-8 text (JSON)
    identity: bool = False  # an ``id`` identity column whose sequence must move on
    order: str = ""

    @property
    def source(self) -> str:
        return f"SELECT {self.select or self.columns} FROM {self.name} {self.order}"


TABLES = [
    Table("runs", RUN_COLUMNS),
    Table("series", "id, run_id, key, raw_floor_step, raw_floor_ts", identity=True),
    Table(
        "chunks",
        "id, series_id, n, step_min, step_max, ts_min, ts_max, steps, ts, vals",
        "rowid, series_id, n, step_min, step_max, ts_min, ts_max, steps, ts, vals",
        frozenset({"steps", "ts", "vals"}),
        identity=True,
        order="ORDER BY rowid",  # chunk ids keep their order: the order of their points
    ),
    Table(
        "pyramid", "series_id, axis, level, block, n, nf, vmin, vmax, vsum, first_x, last_x, last"
    ),
    Table(
        "events",
        "run_id, seq, ts, kind, level, entity, entity_int, payload, step, entities",
        "run_id, seq, ts, kind, level, entity, entity_int != 0, payload, step, entities",
    ),
    Table(
        "event_entities", "run_id, seq, entity, entity_int", "run_id, seq, entity, entity_int != 0"
    ),
    Table("journal", "run_id, seq, body", binary=frozenset({"body"})),
    Table("batches", "run_id, producer, batch_seq, seq_first, seq_last"),
    Table("retention", "project, raw_keep_steps, raw_keep_days"),
    Table("commands", "run_id, id, kind, payload, state, created_at, updated_at, error, idem_key"),
    Table("promotions", "id, run_id, name, artifact, sha256, created_at, detail", identity=True),
    Table(
        "tokens",
        "id, hash, prefix, name, scope, project, created_at, expires_at, revoked_at",
        identity=True,
    ),
    Table("tables", "run_id, name, version, rows, updated_at"),
    Table("point_sets", "run_id, name, version, points, updated_at"),
    Table(
        "snapshot_keys",
        "run_id, key, first_step, next_age, last_version, entity, entity_int",
        "run_id, key, first_step, next_age, last_version, entity, entity_int != 0",
    ),
    Table("snapshots", "run_id, key, version, step, ts, reason, value"),
    Table("logs", "run_id, line, stream, ts, text"),
    Table("artifacts", "run_id, manifest, updated_at"),
    Table(
        "run_queue",
        "id, run_id, template, params, queued_at, started_at",
        "rowid, run_id, template, params, queued_at, started_at",
        identity=True,
        order="ORDER BY rowid",  # the tie-break of runs queued in the same instant
    ),
    Table("rules", "id, project, name, run_id, spec, source, created_at", identity=True),
    Table(
        "alerts",
        "id, rule_id, rule_name, project, run_id, run_name, ts, level, message, detail,"
        " event_seq, actions",
        identity=True,
    ),
    Table("blobs", "sha256, mime, size, created_at, data", binary=frozenset({"data"})),
    Table("media_keys", "run_id, key, kind, first_step, next_age"),
    Table(
        "media",
        "run_id, key, step, ts, kind, sha256, mime, size, width, height, caption, entity,"
        " entity_int, vmin, vmax, log_keep",
        "run_id, key, step, ts, kind, sha256, mime, size, width, height, caption, entity,"
        " entity_int != 0, vmin, vmax, log_keep != 0",
    ),
    # A purge left halfway goes on in PostgreSQL (its rows are copied as they are).
    Table(
        "deleted_runs",
        "run_id, project, deleted_at, purged",
        "run_id, project, deleted_at, purged != 0",
    ),
    Table(
        "sweeps",
        "id, project, name, method, spec, seed, state, trial_limit, limit_reason, next_index,"
        " created_at, updated_at",
    ),
    Table(
        "sweep_trials",
        "sweep_id, idx, run_id, config, agent, claimed_at, retry_of, stopped_early, run_deleted",
        "sweep_id, idx, run_id, config, agent, claimed_at, retry_of, stopped_early,"
        " run_deleted != 0",
    ),
    Table("sweep_rungs", "sweep_id, rung, idx, value"),
    Table("histogram_keys", "run_id, key, first_step, stride, kept"),
    Table(
        "histograms",
        "run_id, key, step, ts, edges, counts, nan, inf, neg_inf",
        binary=frozenset({"edges", "counts"}),
    ),
]
# Not copied: rebuilt from the copied runs (see above).
NOT_COPIED = frozenset({"run_values"})
Progress = Callable[[str, int], None]  # (table, rows just copied)
_READ_ROWS = 2000


class MigrationError(RuntimeError):
    """The migration cannot start or did not verify; nothing was written."""


def source_counts(conn: sqlite3.Connection) -> dict[str, int]:
    return {t.name: conn.execute(f"SELECT count(*) FROM {t.name}").fetchone()[0] for t in TABLES}


def _open_source(data_dir: Path) -> sqlite3.Connection:
    """The data dir's SQLite file, brought forward to the current schema (as `serve` would)."""
    path = Path(data_dir) / "runwatch.sqlite3"
    if not path.exists():
        raise MigrationError(f"no runwatch store in {data_dir} (no runwatch.sqlite3)")
    source = sqlite3.connect(path, isolation_level=None)
    migrate_sqlite(source)
    return source


def count_rows(data_dir: Path) -> int:
    """How many rows a migration of ``data_dir`` copies (for a progress bar)."""
    source = _open_source(data_dir)
    try:
        return sum(source_counts(source).values())
    finally:
        source.close()


def _rows(conn: sqlite3.Connection, table: Table) -> Iterator[list[tuple[Any, ...]]]:
    columns = [c.strip() for c in table.columns.split(",")]
    text = [i for i, c in enumerate(columns) if c not in table.binary]
    cursor = conn.execute(table.source)
    while rows := cursor.fetchmany(_READ_ROWS):
        out = []
        for row in rows:
            values = list(row)
            for i in text:  # SQLite keeps encoded JSON as BLOBs; PostgreSQL as TEXT
                if isinstance(values[i], bytes):
                    values[i] = values[i].decode()
            if table.name == "events":
                values[6] = bool(values[6])
            out.append(tuple(values))
        yield out


def copy_sqlite_to_postgres(data_dir: Path, url: str, progress: Progress) -> dict[str, int]:
    """Copy every table of the SQLite store in ``data_dir`` into the (empty) database at
    ``url``; return the row count of each table, verified equal on both sides."""
    source = _open_source(data_dir)
    try:
        source.execute("BEGIN")  # one snapshot: a server still writing changes nothing we read
        counts = source_counts(source)
        with connect(url) as target:
            migrate_postgres(target)
            with target.transaction():
                _refuse_non_empty(target)
                for table in TABLES:
                    _copy_table(source, target, table, progress)
                values.rebuild(PostgresTx(target))
                _verify(target, counts)
        return counts
    finally:
        source.close()


def _refuse_non_empty(target: psycopg.Connection[Any]) -> None:
    for table in ("runs", "tokens"):
        row = target.execute(f"SELECT count(*) FROM {table}").fetchone()
        if row and row[0]:
            raise MigrationError(
                f"the target database already holds {row[0]} {table}: migrate into an empty one"
            )


def _copy_table(
    source: sqlite3.Connection, target: psycopg.Connection[Any], table: Table, progress: Progress
) -> None:
    try:
        with target.cursor().copy(f"COPY {table.name} ({table.columns}) FROM STDIN") as copy:
            for rows in _rows(source, table):
                for row in rows:
                    copy.write_row(row)
                progress(table.name, len(rows))
    except psycopg.DataError as exc:
        raise MigrationError(
            f"a row of {table.name} cannot be stored in PostgreSQL: {exc}"
        ) from exc
    if table.identity:
        target.execute(
            f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), max(id))"
            f" FROM {table.name} HAVING max(id) IS NOT NULL"
        )


def _verify(target: psycopg.Connection[Any], counts: dict[str, int]) -> None:
    for name, expected in counts.items():
        row = target.execute(f"SELECT count(*) FROM {name}").fetchone()
        got = row[0] if row else 0
        if got != expected:
            raise MigrationError(f"{name}: {expected} rows in SQLite but {got} in PostgreSQL")
