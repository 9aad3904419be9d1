"""Read queries over one SQLite connection (called inside a read transaction)."""

from __future__ import annotations

import math
import sqlite3
from typing import Any, Literal

import msgspec

from runwatch.protocol import encode_value
from runwatch.store.base import EventRecord, Series

# Finite values only: NaN is stored as NULL (SQLite's rule) and ±inf are excluded by the bound.
_FINITE = "CASE WHEN abs(value) <= 1.7976931348623157e308 THEN value END"


def _wire(value: float | None) -> Any:
    return "nan" if value is None else encode_value(value)


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
    out: dict[str, Series] = {}
    col = "step" if x == "step" else "ts"
    for key in keys:
        row = conn.execute(
            "SELECT id FROM series WHERE run_id = ? AND key = ?", (run_id, key)
        ).fetchone()
        if row is None:
            continue
        sid = row[0]
        lo, hi, n = conn.execute(
            f"SELECT min({col}), max({col}), count(*) FROM points WHERE series_id = ?"
            f" AND {col} >= ? AND {col} <= ?",
            (sid, -math.inf if start is None else start, math.inf if end is None else end),
        ).fetchone()
        if n == 0:
            out[key] = Series(mode="raw", x=[], value=[])
        elif n <= max_points:
            rows = conn.execute(
                f"SELECT {col}, value FROM points WHERE series_id = ? AND {col} BETWEEN ? AND ?"
                f" ORDER BY {col}, rowid",
                (sid, lo, hi),
            ).fetchall()
            out[key] = Series(mode="raw", x=[r[0] for r in rows], value=[_wire(r[1]) for r in rows])
        else:
            out[key] = _buckets(conn, sid, col, lo, hi, max_points)
    return out


def _buckets(
    conn: sqlite3.Connection, sid: int, col: str, lo: float, hi: float, max_points: int
) -> Series:
    width = (hi - lo) / max_points
    if col == "step":
        width = math.ceil((hi - lo + 1) / max_points)
    bucket = f"CAST(({col} - ?) / ? AS INTEGER)"
    args = (lo, width, sid, lo, hi)
    agg = conn.execute(
        f"SELECT {bucket} AS b, min({col}), min({_FINITE}), max({_FINITE}), avg({_FINITE}), count(*)"
        f" FROM points WHERE series_id = ? AND {col} BETWEEN ? AND ? GROUP BY b ORDER BY b",
        args,
    ).fetchall()
    # With exactly one max() aggregate SQLite takes bare columns from that row: the last point.
    last = {
        r[0]: r[1]
        for r in conn.execute(
            f"SELECT {bucket} AS b, value, max({col}) FROM points"
            f" WHERE series_id = ? AND {col} BETWEEN ? AND ? GROUP BY b",
            args,
        )
    }
    return Series(
        mode="buckets",
        x=[r[1] for r in agg],
        min=[_wire(r[2]) for r in agg],
        max=[_wire(r[3]) for r in agg],
        mean=[_wire(r[4]) for r in agg],
        count=[r[5] for r in agg],
        last=[_wire(last.get(r[0])) for r in agg],
    )
