"""Reading a series' raw points in the order they were stored (for archives: export/import)."""

from __future__ import annotations

import sqlite3

from runwatch.protocol import encode_value
from runwatch.store.chunks import unpack_chunk

RawPoint = tuple[int, float, float | str | None]


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
    points: list[RawPoint] = []
    cursor = 0
    # rowid order is ingest order: a chunk is only appended to, and a batch that goes back in
    # steps starts a new chunk.
    for rowid, steps, ts, vals in conn.execute(
        "SELECT rowid, steps, ts, vals FROM chunks WHERE series_id = ? AND rowid > ? ORDER BY rowid",
        (row[0], after),
    ):
        if len(points) >= limit:
            return points, cursor
        chunk = unpack_chunk(steps, ts, vals)
        points += zip(chunk.step, chunk.ts, map(encode_value, chunk.value), strict=True)
        cursor = rowid
    return points, 0
