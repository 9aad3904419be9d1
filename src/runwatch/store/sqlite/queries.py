"""Read queries over one SQLite connection (called inside a read transaction)."""

from __future__ import annotations

import math
import sqlite3
from typing import Literal

from runwatch.protocol import encode_value
from runwatch.store import pyramid
from runwatch.store.base import Series
from runwatch.store.chunks import select_range, to_series, unpack_chunk


def metric_keys(conn: sqlite3.Connection, run_id: str) -> list[str]:
    return [
        r[0]
        for r in conn.execute("SELECT key FROM series WHERE run_id = ? ORDER BY key", (run_id,))
    ]


def tails(conn: sqlite3.Connection, run_id: str, keys: list[str], n: int) -> dict[str, Series]:
    """The last ``n`` points of each key: the newest chunks only, read until ``n`` are found."""
    out: dict[str, Series] = {}
    for key in keys:
        chunks = []
        found = 0
        for steps, ts, vals, count in conn.execute(
            "SELECT c.steps, c.ts, c.vals, c.n FROM chunks c JOIN series s ON s.id = c.series_id"
            " WHERE s.run_id = ? AND s.key = ? ORDER BY c.step_max DESC",
            (run_id, key),
        ):
            chunks.append(unpack_chunk(steps, ts, vals))
            found += count
            if found >= n:
                break
        xs, vs = select_range(chunks[::-1], "step", -math.inf, math.inf)
        if xs:
            out[key] = Series(mode="raw", x=xs[-n:], value=[encode_value(v) for v in vs[-n:]])
    return out


def _raw(
    conn: sqlite3.Connection, sid: int, col: str, x: Literal["step", "time"], lo: float, hi: float
) -> tuple[list[float], list[float]]:
    chunks = [
        unpack_chunk(*r)
        for r in conn.execute(
            f"SELECT steps, ts, vals FROM chunks WHERE series_id = ?"
            f" AND {col}_max >= ? AND {col}_min <= ? ORDER BY rowid",
            (sid, lo, hi),
        )
    ]
    return select_range(chunks, x, lo, hi)


def metrics(
    conn: sqlite3.Connection,
    run_id: str,
    keys: list[str],
    start: float | None,
    end: float | None,
    max_points: int,
    x: Literal["step", "time"],
) -> dict[str, Series]:
    """Each key's points in [start, end]: raw when at most ``max_points``, else at most that
    many buckets, built from the pyramid (whole blocks) and raw points (partial edge blocks).

    Where retention dropped raw points, the pyramid answers alone, and the range's edges are
    rounded out to whole blocks.
    """
    col = "step" if x == "step" else "ts"
    axis = pyramid.AXES[x][0]
    out: dict[str, Series] = {}
    for key in keys:
        row = conn.execute(
            f"SELECT id, raw_floor_{col} FROM series WHERE run_id = ? AND key = ?", (run_id, key)
        ).fetchone()
        if row is None:
            continue
        sid, floor = row
        first_x, last_x = conn.execute(
            "SELECT min(first_x), max(last_x) FROM pyramid WHERE series_id = ? AND axis = ?"
            " AND level = ?",
            (sid, axis, pyramid.LEVELS - 1),
        ).fetchone()
        lo = first_x if start is None or first_x is None else max(first_x, start)
        hi = last_x if end is None or last_x is None else min(last_x, end)
        if lo is None or hi is None or lo > hi:
            out[key] = Series(mode="raw", x=[], value=[])
            continue
        (n,) = conn.execute(
            f"SELECT coalesce(sum(n), 0) FROM chunks WHERE series_id = ?"
            f" AND {col}_max >= ? AND {col}_min <= ?",
            (sid, lo, hi),
        ).fetchone()
        level = pyramid.choose_level(x, lo, hi, max_points)
        dropped = floor is not None and lo <= floor
        if not dropped and (n <= max_points or level is None):
            xs, vs = _raw(conn, sid, col, x, lo, hi)
            out[key] = to_series(xs, vs, max_points, x)
        else:
            out[key] = _from_pyramid(conn, sid, col, x, lo, hi, level or 0, max_points, dropped)
    return out


def _from_pyramid(
    conn: sqlite3.Connection,
    sid: int,
    col: str,
    x: Literal["step", "time"],
    lo: float,
    hi: float,
    level: int,
    max_points: int,
    whole_edges: bool,
) -> Series:
    w = pyramid.width(x, level)
    # Steps are integers, so [.., hi] is [.., hi + 1).
    end = hi + 1 if x == "step" else hi
    if whole_edges:  # every block the range touches, whole
        first, stop = math.floor(lo / w), math.floor(end / w) + 1
    else:  # blocks wholly inside [lo, hi]; the partial ones at the edges come from raw points
        first, stop = math.ceil(lo / w), math.floor(end / w)
    if first >= stop:
        stop = first
    bucket = pyramid.bucket_width(x, level, lo, hi, max_points)
    # Whole blocks are merged into buckets by SQLite (C speed, however many blocks); bucket b
    # holds blocks b * m .. (b + 1) * m - 1, since buckets are a multiple m of the block width.
    m = round(bucket / w)
    args = (m, sid, pyramid.AXES[x][0], level, first, stop)
    where = "WHERE series_id = ? AND axis = ? AND level = ? AND block >= ? AND block < ?"
    blocks = [
        pyramid.Block(level, b, n, nf, vmin, vmax, vsum, fx, lx, math.nan)
        for b, n, nf, vmin, vmax, vsum, fx, lx in conn.execute(
            "SELECT block / ? AS b, sum(n), sum(nf), min(vmin), max(vmax), sum(vsum),"
            f" min(first_x), max(last_x) FROM pyramid {where} GROUP BY b",
            args,
        )
    ]
    # With one max() aggregate SQLite takes bare columns from that row: each bucket's last.
    lasts = dict(
        (b, math.nan if last is None else last)
        for b, last, _ in conn.execute(
            f"SELECT block / ? AS b, last, max(last_x) FROM pyramid {where} GROUP BY b", args
        )
    )
    for blk in blocks:
        blk.last = lasts[blk.block]
    edges: list[pyramid.Block] = []
    if not whole_edges:
        for a, b in ((lo, math.nextafter(first * w, -math.inf)), (stop * w, hi)):
            if a <= b:
                edges += pyramid.blocks_of(*_raw(conn, sid, col, x, a, b), w, level)
    return pyramid.buckets_from_blocks(sorted(edges + blocks, key=lambda blk: blk.first_x), bucket)
