"""Reading metric series (inside one read transaction): keys, tails, and ranges answered from
raw chunks and the pyramid (the range logic lives in ``store.pyramid`` and ``store.chunks``).

Chunks are read in id order, which is ingest order: a chunk is only appended to while it is a
series' newest (see ``store.sql.points``).
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Iterator
from operator import itemgetter
from typing import Literal

from runwatch.protocol import encode_value
from runwatch.store import pyramid
from runwatch.store.base import Series
from runwatch.store.chunks import (
    CHUNK_MAX,
    Chunk,
    last_per_step,
    select_range,
    to_series,
    unpack_chunk,
)
from runwatch.store.sql.tx import Tx

_TAIL_PAGE = 4  # chunks per query when reading a series' tail
# Buckets narrower than the pyramid's finest blocks are built from raw points only while the
# range holds at most this many points per bucket asked (plus its two edge chunks: chunks are
# counted whole); past that, level-0 blocks answer (fewer, wider buckets), so a query costs what
# it returns rather than every point of the range.
RAW_PER_BUCKET = 32


def metric_keys(tx: Tx, run_id: str) -> list[str]:
    """The run's metric keys, in code-point order."""
    sql = f"SELECT key FROM series WHERE run_id = ? ORDER BY key{tx.dialect.binary_order}"
    return [r[0] for r in tx.execute(sql, (run_id,)).fetchall()]


def _newest_chunks(tx: Tx, run_id: str, key: str) -> Iterator[tuple[int, bytes, bytes, bytes, int]]:
    """The series' ``(id, steps, ts, vals, step_max)`` chunks, highest steps first, read a page at
    a time as far as the caller goes (a client-side cursor would fetch the whole series)."""
    cid = tx.dialect.insert_order
    for page in itertools.count():
        rows = tx.execute(
            f"SELECT c.{cid}, c.steps, c.ts, c.vals, c.step_max FROM chunks c JOIN series s"
            " ON s.id = c.series_id WHERE s.run_id = ? AND s.key = ?"
            f" ORDER BY c.step_max DESC, c.{cid} DESC LIMIT ? OFFSET ?",
            (run_id, key, _TAIL_PAGE, page * _TAIL_PAGE),
        ).fetchall()
        yield from rows
        if len(rows) < _TAIL_PAGE:
            return


def tails(tx: Tx, run_id: str, keys: list[str], n: int) -> dict[str, Series]:
    """The last ``n`` points of each key: the chunks with the highest steps only, read until
    ``n`` are found and no chunk left reaches down among them (a resumed run's chunk that logs
    some of those steps again, and replaces them)."""
    out: dict[str, Series] = {}
    for key in keys:
        chunks: list[tuple[int, Chunk]] = []
        read = 0  # points in the chunks read
        floor: float | None = None  # once n points are read: the lowest step among the last n
        for chunk_id, steps, ts, vals, step_max in _newest_chunks(tx, run_id, key):
            if floor is not None and step_max < floor:
                break
            chunk = unpack_chunk(steps, ts, vals)
            chunks.append((chunk_id, chunk))
            read += len(chunk.step)
            if floor is None and read >= n:
                newest = heapq.nlargest(n, itertools.chain.from_iterable(c.step for _, c in chunks))
                floor = newest[-1]
        chunks.sort(key=itemgetter(0))  # ingest order: of two points at a step, the later stays
        in_order = [chunk for _, chunk in chunks]
        xs, vs = last_per_step(*select_range(in_order, "step", -math.inf, math.inf)[:2])
        if xs:
            out[key] = Series(mode="raw", x=xs[-n:], value=[encode_value(v) for v in vs[-n:]])
    return out


def raw_points(
    tx: Tx, sid: int, col: str, x: Literal["step", "time"], lo: float, hi: float
) -> tuple[list[float], list[float], list[int] | None]:
    """(x, value, step) of the series' raw points in [lo, hi], ordered by x (ingest order for
    ties); the steps on the time axis only."""
    cid = tx.dialect.insert_order
    rows = tx.execute(
        f"SELECT steps, ts, vals FROM chunks WHERE series_id = ?"
        f" AND {col}_max >= ? AND {col}_min <= ? ORDER BY {cid}",
        (sid, lo, hi),
    ).fetchall()
    return select_range([unpack_chunk(*r) for r in rows], x, lo, hi)


def metrics(
    tx: Tx,
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
        row = tx.execute(
            f"SELECT id, raw_floor_{col} FROM series WHERE run_id = ? AND key = ?", (run_id, key)
        ).fetchone()
        if row is None:
            continue
        sid, floor = row
        first_x, last_x = tx.execute(
            "SELECT min(first_x), max(last_x) FROM pyramid WHERE series_id = ? AND axis = ?"
            " AND level = ?",
            (sid, axis, pyramid.LEVELS - 1),
        ).fetchone()
        lo = first_x if start is None or first_x is None else max(first_x, start)
        hi = last_x if end is None or last_x is None else min(last_x, end)
        if lo is None or hi is None or lo > hi:
            out[key] = Series(mode="raw", x=[], value=[])
            continue
        (n,) = tx.execute(
            f"SELECT coalesce(sum(n), 0) FROM chunks WHERE series_id = ?"
            f" AND {col}_max >= ? AND {col}_min <= ?",
            (sid, lo, hi),
        ).fetchone()
        level = pyramid.choose_level(x, lo, hi, max_points)
        dropped = floor is not None and lo <= floor
        affordable = n <= RAW_PER_BUCKET * max_points + 2 * CHUNK_MAX
        raw = n <= max_points or (level is None and affordable)
        if not dropped and raw:
            xs, vs, steps = raw_points(tx, sid, col, x, lo, hi)
            out[key] = to_series(xs, vs, max_points, x, steps)
        else:
            out[key] = _from_pyramid(tx, sid, col, x, lo, hi, level or 0, max_points, dropped)
    return out


def curves(
    tx: Tx, run_ids: list[str], key: str, max_points: int, project: str | None
) -> dict[str, Series]:
    """Each run's whole series of ``key`` as :func:`metrics` answers it (x by step), for a chart
    of many runs' curves: ``x`` and ``value`` (raw) or ``x`` and ``mean`` (buckets) only. Runs
    that do not exist, are not in ``project`` (when given) or never logged ``key`` are left out."""
    if not run_ids:
        return {}  # ``IN ()`` is no SQL
    marks = ",".join("?" * len(run_ids))
    sql = f"SELECT id FROM runs WHERE id IN ({marks})"
    params: list[str] = list(run_ids)
    if project is not None:
        sql += " AND project = ?"
        params.append(project)
    out: dict[str, Series] = {}
    for (run_id,) in tx.execute(sql, params).fetchall():
        series = metrics(tx, run_id, [key], None, None, max_points, "step").get(key)
        if series is not None and series.x:
            out[run_id] = Series(series.mode, series.x, value=series.value, mean=series.mean)
    return out


def _from_pyramid(
    tx: Tx,
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
    # Whole blocks are merged into buckets by the database, however many blocks; bucket b holds
    # blocks b * m .. (b + 1) * m - 1, since buckets are a multiple m of the block width (integer
    # division truncates toward zero in both databases). A bucket's last point is its greatest
    # block's (a level's blocks are disjoint ranges of x, in order), looked up by a subquery: a
    # join's plan would rest on the planner's estimates of rows just written.
    m = round(bucket / w)
    at = (sid, pyramid.AXES[x][0], level)
    rows = tx.execute(
        "SELECT g.b, g.n, g.nf, g.vmin, g.vmax, g.vsum, g.first_x, g.last_x, (SELECT p.last"
        " FROM pyramid p WHERE p.series_id = ? AND p.axis = ? AND p.level = ? AND p.block = g.top)"
        " FROM (SELECT block / CAST(? AS BIGINT) AS b, sum(n) AS n, sum(nf) AS nf,"
        " min(vmin) AS vmin, max(vmax) AS vmax, sum(vsum) AS vsum, min(first_x) AS first_x,"
        " max(last_x) AS last_x, max(block) AS top FROM pyramid WHERE series_id = ? AND axis = ?"
        " AND level = ? AND block >= ? AND block < ? GROUP BY b) AS g",
        (*at, m, *at, first, stop),
    ).fetchall()
    blocks = [
        # SQLite keeps a NaN ``last`` as NULL.
        pyramid.Block(level, b, int(n), int(nf), vmin, vmax, vsum, fx, lx,
                      math.nan if last is None else last)
        for b, n, nf, vmin, vmax, vsum, fx, lx, last in rows
    ]  # fmt: skip
    edges: list[pyramid.Block] = []
    if not whole_edges:
        # A range inside one block has no whole block: its left edge is all of it.
        left = min(hi, math.nextafter(first * w, -math.inf))
        for a, b in ((lo, left), (stop * w, hi)):
            if a <= b:
                xs, vs, _ = raw_points(tx, sid, col, x, a, b)
                if x == "step":  # as the blocks: one point a step
                    xs, vs = last_per_step(xs, vs)
                edges += pyramid.blocks_of(xs, vs, w, level)
    return pyramid.buckets_from_blocks(sorted(edges + blocks, key=lambda blk: blk.first_x), bucket)
