"""Read queries on PostgreSQL (called inside one repeatable-read transaction). The same answers
as ``store.sqlite.queries``: the range logic lives in ``store.pyramid`` and ``store.chunks``."""

from __future__ import annotations

import itertools
import math
from typing import Literal

from runwatch.protocol import encode_value
from runwatch.store import pyramid
from runwatch.store.base import Series
from runwatch.store.chunks import select_range, to_series, unpack_chunk
from runwatch.store.postgres.tx import Conn

_TAIL_PAGE = 4  # chunks per query when reading a series' tail


def metric_keys(conn: Conn, run_id: str) -> list[str]:
    rows = conn.execute(
        'SELECT key FROM series WHERE run_id = %s ORDER BY key COLLATE "C"', (run_id,)
    ).fetchall()
    return [r[0] for r in rows]


def tails(conn: Conn, run_id: str, keys: list[str], n: int) -> dict[str, Series]:
    """The last ``n`` points of each key: the newest chunks only, read until ``n`` are found."""
    out: dict[str, Series] = {}
    for key in keys:
        chunks = []
        found = 0
        # A page of chunks at a time: a client-side cursor would fetch the whole series.
        for page in itertools.count():
            rows = conn.execute(
                "SELECT c.steps, c.ts, c.vals, c.n FROM chunks c JOIN series s"
                " ON s.id = c.series_id WHERE s.run_id = %s AND s.key = %s"
                " ORDER BY c.step_max DESC, c.id DESC LIMIT %s OFFSET %s",
                (run_id, key, _TAIL_PAGE, page * _TAIL_PAGE),
                binary=True,
            ).fetchall()
            for steps, ts, vals, count in rows:
                if found >= n:
                    break
                chunks.append(unpack_chunk(steps, ts, vals))
                found += count
            if found >= n or len(rows) < _TAIL_PAGE:
                break
        xs, vs = select_range(chunks[::-1], "step", -math.inf, math.inf)
        if xs:
            out[key] = Series(mode="raw", x=xs[-n:], value=[encode_value(v) for v in vs[-n:]])
    return out


def _raw(
    conn: Conn, sid: int, col: str, x: Literal["step", "time"], lo: float, hi: float
) -> tuple[list[float], list[float]]:
    chunks = [
        unpack_chunk(*r)
        for r in conn.execute(
            f"SELECT steps, ts, vals FROM chunks WHERE series_id = %s"
            f" AND {col}_max >= %s AND {col}_min <= %s ORDER BY id",
            (sid, lo, hi),
            binary=True,  # packed arrays as they are, not hex text
        ).fetchall()
    ]
    return select_range(chunks, x, lo, hi)


def metrics(
    conn: Conn,
    run_id: str,
    keys: list[str],
    start: float | None,
    end: float | None,
    max_points: int,
    x: Literal["step", "time"],
) -> dict[str, Series]:
    """Each key's points in [start, end]: raw when at most ``max_points``, else buckets from
    the pyramid and raw edges (see ``store.sqlite.queries.metrics``)."""
    col = "step" if x == "step" else "ts"
    axis = pyramid.AXES[x][0]
    out: dict[str, Series] = {}
    for key in keys:
        row = conn.execute(
            f"SELECT id, raw_floor_{col} FROM series WHERE run_id = %s AND key = %s", (run_id, key)
        ).fetchone()
        if row is None:
            continue
        sid, floor = row
        bounds = conn.execute(
            "SELECT min(first_x), max(last_x) FROM pyramid WHERE series_id = %s AND axis = %s"
            " AND level = %s",
            (sid, axis, pyramid.LEVELS - 1),
        ).fetchone()
        first_x, last_x = bounds if bounds else (None, None)
        lo = first_x if start is None or first_x is None else max(first_x, start)
        hi = last_x if end is None or last_x is None else min(last_x, end)
        if lo is None or hi is None or lo > hi:
            out[key] = Series(mode="raw", x=[], value=[])
            continue
        counted = conn.execute(
            f"SELECT coalesce(sum(n), 0) FROM chunks WHERE series_id = %s"
            f" AND {col}_max >= %s AND {col}_min <= %s",
            (sid, lo, hi),
        ).fetchone()
        n = int(counted[0]) if counted else 0
        level = pyramid.choose_level(x, lo, hi, max_points)
        dropped = floor is not None and lo <= floor
        if not dropped and (n <= max_points or level is None):
            xs, vs = _raw(conn, sid, col, x, lo, hi)
            out[key] = to_series(xs, vs, max_points, x)
        else:
            out[key] = _from_pyramid(conn, sid, col, x, lo, hi, level or 0, max_points, dropped)
    return out


def _from_pyramid(
    conn: Conn,
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
    end = hi + 1 if x == "step" else hi  # steps are integers: [.., hi] is [.., hi + 1)
    if whole_edges:
        first, stop = math.floor(lo / w), math.floor(end / w) + 1
    else:
        first, stop = math.ceil(lo / w), math.floor(end / w)
    if first >= stop:
        stop = first
    bucket = pyramid.bucket_width(x, level, lo, hi, max_points)
    m = round(bucket / w)
    where = "WHERE series_id = %s AND axis = %s AND level = %s AND block >= %s AND block < %s"
    args = (m, sid, pyramid.AXES[x][0], level, first, stop)
    # Integer division truncates toward zero, as SQLite's does: the same buckets.
    rows = conn.execute(
        "SELECT block / %s::bigint AS b, sum(n), sum(nf), min(vmin), max(vmax), sum(vsum),"
        f" min(first_x), max(last_x) FROM pyramid {where} GROUP BY b",
        args,
    ).fetchall()
    blocks = [
        pyramid.Block(level, b, int(n), int(nf), vmin, vmax, vsum, fx, lx, math.nan)
        for b, n, nf, vmin, vmax, vsum, fx, lx in rows
    ]
    lasts = {
        b: math.nan if last is None else last
        for b, last in conn.execute(
            "SELECT DISTINCT ON (b) block / %s::bigint AS b, last FROM pyramid"
            f" {where} ORDER BY b, last_x DESC, block DESC",
            args,
        ).fetchall()
    }
    for blk in blocks:
        blk.last = lasts[blk.block]
    edges: list[pyramid.Block] = []
    if not whole_edges:
        for a, b in ((lo, math.nextafter(first * w, -math.inf)), (stop * w, hi)):
            if a <= b:
                edges += pyramid.blocks_of(*_raw(conn, sid, col, x, a, b), w, level)
    return pyramid.buckets_from_blocks(sorted(edges + blocks, key=lambda blk: blk.first_x), bucket)
