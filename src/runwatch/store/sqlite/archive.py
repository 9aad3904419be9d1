"""What run archives need from SQLite: a series' raw points in stored order, and restoring an
imported run's times and commands."""

from __future__ import annotations

import sqlite3

import msgspec

from runwatch.protocol import ArchivedCommand, Command
from runwatch.store.base import IngestError, RunInfo
from runwatch.store.chunks import RawPoint, raw_page
from runwatch.store.sql import records
from runwatch.store.sqlite.tx import SqliteTx


def raw_points(
    conn: sqlite3.Connection, run_id: str, key: str, after: int, limit: int
) -> tuple[list[RawPoint], int]:
    """Whole chunks after cursor ``after`` (0 starts) until ``limit`` points are read; returns
    ``[step, wall time, wire value]`` rows in ingest order and the next cursor (0: no more)."""
    row = conn.execute(
        "SELECT id FROM series WHERE run_id = ? AND key = ?", (run_id, key)
    ).fetchone()
    if row is None:
        return [], 0
    # rowid order is ingest order: a chunk is only appended to, and a batch that goes back in
    # steps starts a new chunk.
    return raw_page(
        conn.execute(
            "SELECT rowid, steps, ts, vals FROM chunks WHERE series_id = ? AND rowid > ?"
            " ORDER BY rowid",
            (row[0], after),
        ),
        limit,
    )


def restore_times(
    conn: sqlite3.Connection, run_id: str, created_at: float, started_at: float | None
) -> RunInfo:
    """Set an imported run's creation and start times to the archived ones."""
    updated = conn.execute(
        "UPDATE runs SET created_at = ?, started_at = ? WHERE id = ?",
        (created_at, started_at, run_id),
    ).rowcount
    run = records.fetch_run(SqliteTx(conn), run_id)
    if not updated or run is None:
        raise IngestError(404, "run_not_found", f"no run with id {run_id!r}", "run")
    return run


def restore_commands(
    conn: sqlite3.Connection, run_id: str, commands: list[ArchivedCommand]
) -> list[Command]:
    """Insert an imported run's archived commands as they were (ids from 1, in order)."""
    records.lock_run(SqliteTx(conn), run_id)
    if conn.execute("SELECT 1 FROM commands WHERE run_id = ? LIMIT 1", (run_id,)).fetchone():
        raise IngestError(409, "commands_exist", f"run {run_id!r} has commands already", "run")
    restored = restored_commands(commands)
    conn.executemany(
        "INSERT INTO commands VALUES (?,?,?,?,?,?,?,?)",
        [
            (run_id, c.id, c.kind, msgspec.json.encode(c.payload), c.state, c.created_at,
             c.updated_at, c.error)
            for c in restored
        ],
    )  # fmt: skip
    return restored


def restored_commands(commands: list[ArchivedCommand]) -> list[Command]:
    """The archived commands as the run's own, numbered from 1 (both stores)."""
    return [
        Command(i, c.kind, c.payload, c.state, c.created_at, c.updated_at, c.error)
        for i, c in enumerate(commands, 1)
    ]
