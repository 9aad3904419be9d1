"""Read queries over one SQLite connection (called inside a read transaction)."""

from __future__ import annotations

import math
import sqlite3
from typing import Any, Literal

import msgspec

from runwatch.store.base import EventRecord, Series
from runwatch.store.chunks import select_range, to_series, unpack_chunk


def events(
    conn: sqlite3.Connection,
    run_id: str,
    after: int,
    limit: int,
    kind: str | None,
    newest_first: bool,
) -> list[EventRecord]:
    """Events of a run with seq > ``after``, oldest first unless ``newest_first``."""
    where = "run_id = ? AND seq > ?" + (" AND kind = ?" if kind is not None else "")
    args: list[Any] = [run_id, after] + ([kind] if kind is not None else [])
    order = "DESC" if newest_first else "ASC"
    sql = (
        f"SELECT seq, ts, kind, level, entity, payload FROM events WHERE {where}"
        f" ORDER BY seq {order} LIMIT ?"
    )
    return [
        EventRecord(
            seq=r[0], ts=r[1], kind=r[2], level=r[3], entity=r[4], payload=msgspec.json.decode(r[5])
        )
        for r in conn.execute(sql, [*args, limit])
    ]


def metric_keys(conn: sqlite3.Connection, run_id: str) -> list[str]:
    return [
        r[0]
        for r in conn.execute("SELECT key FROM series WHERE run_id = ? ORDER BY key", (run_id,))
    ]


def metrics(
    conn: sqlite3.Connection,
    run_id: str,
    keys: list[str],
    start: float | None,
    end: float | None,
    max_points: int,
    x: Literal["step", "time"],
) -> dict[str, Series]:
    """Each key's points in [start, end]: raw when at most ``max_points``, else that many buckets."""
    lo = -math.inf if start is None else start
    hi = math.inf if end is None else end
    col = "step" if x == "step" else "ts"
    out: dict[str, Series] = {}
    for key in keys:
        row = conn.execute(
            "SELECT id FROM series WHERE run_id = ? AND key = ?", (run_id, key)
        ).fetchone()
        if row is None:
            continue
        chunks = [
            unpack_chunk(*r)
            for r in conn.execute(
                f"SELECT steps, ts, vals FROM chunks WHERE series_id = ?"
                f" AND {col}_max >= ? AND {col}_min <= ? ORDER BY rowid",
                (row[0], lo, hi),
            )
        ]
        xs, vs = select_range(chunks, x, lo, hi)
        out[key] = to_series(xs, vs, max_points, x)
    return out
