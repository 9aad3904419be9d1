"""What run archives need from the store: a series' raw points in stored order, and restoring
an imported run's times and commands."""

from __future__ import annotations

from collections.abc import Iterator

from runwatch.protocol import ArchivedCommand, Command
from runwatch.store.base import RunInfo
from runwatch.store.chunks import RawPoint, raw_page
from runwatch.store.errors import Conflict, RunNotFound
from runwatch.store.sql import records
from runwatch.store.sql.records import json_text
from runwatch.store.sql.tx import Tx

_CHUNKS_PAGE = 8  # chunks per query: a page of points reads only the chunks it returns


def _chunks_after(tx: Tx, series_id: int, after: int) -> Iterator[tuple[int, bytes, bytes, bytes]]:
    """The series' chunks numbered after ``after`` in insertion order (ingest order: a chunk is
    only appended to, and a batch that goes back in steps starts a new one), fetched as needed."""
    cid = tx.dialect.insert_order
    while True:
        rows = tx.execute(
            f"SELECT {cid}, steps, ts, vals FROM chunks WHERE series_id = ? AND {cid} > ?"
            f" ORDER BY {cid} LIMIT ?",
            (series_id, after, _CHUNKS_PAGE),
        ).fetchall()
        yield from rows
        if len(rows) < _CHUNKS_PAGE:
            return
        after = rows[-1][0]


def raw_points(tx: Tx, run_id: str, key: str, after: int, limit: int) -> tuple[list[RawPoint], int]:
    """Whole chunks after cursor ``after`` (0 starts) until ``limit`` points are read; returns
    ``[step, wall time, wire value]`` rows in ingest order and the next cursor (0: no more)."""
    row = tx.execute("SELECT id FROM series WHERE run_id = ? AND key = ?", (run_id, key)).fetchone()
    if row is None:
        return [], 0
    return raw_page(_chunks_after(tx, row[0], after), limit)


def restore_times(tx: Tx, run_id: str, created_at: float, started_at: float | None) -> RunInfo:
    """Set an imported run's creation and start times to the archived ones."""
    updated = tx.execute(
        "UPDATE runs SET created_at = ?, started_at = ? WHERE id = ?",
        (created_at, started_at, run_id),
    ).rowcount
    run = records.fetch_run(tx, run_id)
    if not updated or run is None:
        raise RunNotFound(f"no run with id {run_id!r}", "run")
    return run


def restore_commands(tx: Tx, run_id: str, commands: list[ArchivedCommand]) -> list[Command]:
    """Insert an imported run's archived commands as they were (ids from 1, in order)."""
    records.lock_run(tx, run_id)
    if tx.execute("SELECT 1 FROM commands WHERE run_id = ? LIMIT 1", (run_id,)).fetchone():
        raise Conflict(f"run {run_id!r} has commands already", "run", code="commands_exist")
    restored = [
        Command(i, c.kind, c.payload, c.state, c.created_at, c.updated_at, c.error)
        for i, c in enumerate(commands, 1)
    ]
    tx.executemany(
        "INSERT INTO commands (run_id, id, kind, payload, state, created_at, updated_at, error)"
        " VALUES (?,?,?,?,?,?,?,?)",
        [
            (run_id, c.id, c.kind, json_text(c.payload), c.state, c.created_at, c.updated_at,
             c.error)
            for c in restored
        ],
    )  # fmt: skip
    return restored
