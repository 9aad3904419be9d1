"""Read queries over one SQLite connection (called inside a read transaction)."""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterator
from typing import Any, Literal

import msgspec

from runwatch.protocol import encode_value
from runwatch.store import pyramid
from runwatch.store.base import EventRecord, Series
from runwatch.store.chunks import select_range, to_series, unpack_chunk
from runwatch.store.prepare import SeriesColumns


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


PYRAMID_UPSERT = """
INSERT INTO pyramid (series_id, axis, level, block, n, nf, vmin, vmax, vsum, first_x, last_x, last)
VALUES (?,?,?,?,?,?,?,?,?,?,?,?)
ON CONFLICT (series_id, axis, level, block) DO UPDATE SET
    n = n + excluded.n,
    nf = nf + excluded.nf,
    vmin = min(vmin, excluded.vmin),
    vmax = max(vmax, excluded.vmax),
    vsum = vsum + excluded.vsum,
    first_x = min(first_x, excluded.first_x),
    last = CASE WHEN excluded.last_x >= last_x THEN excluded.last ELSE last END,
    last_x = max(last_x, excluded.last_x)
"""
_BLOCK_COLUMNS = "level, block, n, nf, vmin, vmax, vsum, first_x, last_x, last"


def pyramid_rows(sid: int, col: SeriesColumns) -> Iterator[tuple[Any, ...]]:
    """Upsert rows of every block a batch's points touch, on both axes."""
    for axis, xs in (("step", col.step), ("time", col.ts)):
        axis_id = pyramid.AXES[axis][0]
        for blk in pyramid.build_blocks(axis, xs, col.value):  # type: ignore[arg-type]
            yield (sid, axis_id, *msgspec.structs.astuple(blk))


def _block(row: tuple[Any, ...]) -> pyramid.Block:
    # SQLite stores a NaN ``last`` as NULL.
    level, block, n, nf, vmin, vmax, vsum, first_x, last_x, last = row
    return pyramid.Block(
        level, block, n, nf, vmin, vmax, vsum, first_x, last_x, math.nan if last is None else last
    )


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
    many buckets, built from the pyramid (whole blocks) and raw points (partial edge blocks)."""
    col = "step" if x == "step" else "ts"
    out: dict[str, Series] = {}
    for key in keys:
        row = conn.execute(
            "SELECT id FROM series WHERE run_id = ? AND key = ?", (run_id, key)
        ).fetchone()
        if row is None:
            continue
        sid = row[0]
        lo, hi, n = conn.execute(
            f"SELECT min({col}_min), max({col}_max), sum(n) FROM chunks WHERE series_id = ?"
            f" AND {col}_max >= ? AND {col}_min <= ?",
            (sid, -math.inf if start is None else start, math.inf if end is None else end),
        ).fetchone()
        if not n:
            out[key] = Series(mode="raw", x=[], value=[])
            continue
        lo = lo if start is None else max(lo, start)
        hi = hi if end is None else min(hi, end)
        level = pyramid.choose_level(x, lo, hi, max_points)
        if n <= max_points or level is None:
            xs, vs = _raw(conn, sid, col, x, lo, hi)
            out[key] = to_series(xs, vs, max_points, x)
        else:
            out[key] = _from_pyramid(conn, sid, col, x, lo, hi, level, max_points)
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
) -> Series:
    w = pyramid.width(x, level)
    first = math.ceil(lo / w)  # first block wholly inside [lo, hi]
    # Blocks before ``stop`` end inside the range: steps are integers, so [.., hi] = [.., hi + 1).
    stop = math.floor((hi + 1) / w) if x == "step" else math.floor(hi / w)
    blocks = [
        _block(r)
        for r in conn.execute(
            f"SELECT {_BLOCK_COLUMNS} FROM pyramid WHERE series_id = ? AND axis = ?"
            " AND level = ? AND block >= ? AND block < ? ORDER BY block",
            (sid, pyramid.AXES[x][0], level, first, stop),
        )
    ]
    if first >= stop:
        blocks = []
        stop = first
    edges: list[pyramid.Block] = []
    for a, b in ((lo, math.nextafter(first * w, -math.inf)), (stop * w, hi)):
        if a <= b:
            edges += pyramid.blocks_of(*_raw(conn, sid, col, x, a, b), w, level)
    return pyramid.buckets_from_blocks(
        sorted(edges + blocks, key=lambda blk: blk.first_x),
        pyramid.bucket_width(x, level, lo, hi, max_points),
    )
