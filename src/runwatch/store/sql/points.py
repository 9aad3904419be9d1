"""Appending a batch's points: per series, fill its newest chunk, add new chunks, and merge the
batch's pyramid blocks, in a few statements per batch whatever its number of keys. The step
axis takes one point a step, the last: a batch that logs steps the series stored already has its
step-axis blocks recomputed and replaced (:func:`relogged_blocks`); only then are stored points
read.

No cache of series or open chunks: each batch reads its series' newest chunks in one query. On
PostgreSQL another replica may have appended since; on SQLite the lookup costs less than a
batch's noise (measured with ``benchmarks/store_backends.py``), and nothing can go stale after a
rollback, a retention sweep or a restart. The caller holds the run's lock (or is the one writer
thread), so nobody else writes these series until commit. Only the newest chunk (by id) is
appended to, so chunk-id order stays ingest order (what reads and archives go by) when steps go
back and then forward again.
"""

from __future__ import annotations

import itertools
import math
from typing import Any, Literal

import msgspec

from runwatch.store import pyramid
from runwatch.store.chunks import CHUNK_MAX, last_per_step, pack
from runwatch.store.prepare import SeriesColumns
from runwatch.store.pyramid import Block
from runwatch.store.sql.queries import raw_points
from runwatch.store.sql.tx import Tx

# Past this many new chunks in a batch, one bulk copy beats many INSERTs (PostgreSQL's COPY).
COPY_ABOVE = 16
_CHUNK_COLUMNS = "series_id, n, step_min, step_max, ts_min, ts_max, steps, ts, vals"
_PYRAMID_COLUMNS = "series_id, axis, level, block, n, nf, vmin, vmax, vsum, first_x, last_x, last"
_PYRAMID_TYPES = "bigint, smallint, smallint, bigint, bigint, bigint" + ", float8" * 6


def _least(a: str, b: str) -> str:
    return f"CASE WHEN {b} < {a} THEN {b} ELSE {a} END"


def _greatest(a: str, b: str) -> str:
    return f"CASE WHEN {b} > {a} THEN {b} ELSE {a} END"


# Blocks merge exactly: counts and sums add, extremes compare, the last point is the greatest x.
_PYRAMID_MERGE = f"""
ON CONFLICT (series_id, axis, level, block) DO UPDATE SET
    n = pyramid.n + excluded.n,
    nf = pyramid.nf + excluded.nf,
    vmin = {_least("pyramid.vmin", "excluded.vmin")},
    vmax = {_greatest("pyramid.vmax", "excluded.vmax")},
    vsum = pyramid.vsum + excluded.vsum,
    first_x = {_least("pyramid.first_x", "excluded.first_x")},
    last = CASE WHEN excluded.last_x >= pyramid.last_x THEN excluded.last ELSE pyramid.last END,
    last_x = {_greatest("pyramid.last_x", "excluded.last_x")}
"""


# A re-log recomputes the blocks it touches from their stored points while these hold at most
# this many points a step (resumes from a checkpoint: one or a few attempts). A series that logs
# one step over and over (``step=epoch`` on every iteration) would have each batch read them all
# again, more every time: there the batch's points are merged into the blocks as before.
RELOG_PER_STEP = 4
# A block recomputed from the points it holds now replaces the stored one.
_PYRAMID_REPLACE = """
ON CONFLICT (series_id, axis, level, block) DO UPDATE SET n = excluded.n, nf = excluded.nf,
    vmin = excluded.vmin, vmax = excluded.vmax, vsum = excluded.vsum, first_x = excluded.first_x,
    last_x = excluded.last_x, last = excluded.last
"""


def pyramid_rows(
    sid: int, axis: Literal["step", "time"], blocks: list[Block]
) -> list[tuple[Any, ...]]:
    """Upsert rows of a series' blocks on one axis (x and values as floats, which typed bulk
    inserts want)."""
    axis_id = pyramid.AXES[axis][0]
    rows = []
    for blk in blocks:
        level, block, n, nf, *floats = msgspec.structs.astuple(blk)
        rows.append((sid, axis_id, level, block, n, nf, *map(float, floats)))
    return rows


def relogged_blocks(tx: Tx, sid: int, col: SeriesColumns, floor: int | None) -> list[Block]:
    """The step-axis blocks of every level that a batch logging stored steps again changes,
    recomputed: level 0 from the last point a step of the stored chunks and the batch (chunk
    ids are ingest order), each coarser level from its children. Below ``floor`` retention
    dropped raw points, and past :data:`RELOG_PER_STEP` stored points a step reading them costs
    too much, so there the batch's points add to the blocks as they are."""
    xs, vs = last_per_step(col.step, col.value)  # type: ignore[arg-type]
    order = sorted(range(len(xs)), key=xs.__getitem__)
    w, f, top_level = int(pyramid.width("step", 0)), pyramid.FACTOR, pyramid.LEVELS - 1
    batch = pyramid.blocks_of([xs[i] for i in order], [vs[i] for i in order], w)
    lo, hi = batch[0].block, batch[-1].block
    # Every sibling of a block that changes, on the levels below the top.
    ranges = [(k, lo // f ** (k + 1) * f, (hi // f ** (k + 1) + 1) * f) for k in range(top_level)]
    where = " OR ".join(["(level = ? AND block >= ? AND block < ?)"] * top_level)
    rows = tx.execute(
        "SELECT level, block, n, nf, vmin, vmax, vsum, first_x, last_x, last FROM pyramid"
        f" WHERE series_id = ? AND axis = ? AND ({where})",
        (sid, pyramid.AXES["step"][0], *itertools.chain.from_iterable(ranges)),
    ).fetchall()
    stored = {
        (level, block): Block(
            level, block, n, nf, vmin, vmax, vsum, fx, lx, math.nan if last is None else last
        )
        for level, block, n, nf, vmin, vmax, vsum, fx, lx, last in rows
    }  # SQLite keeps a NaN ``last`` as NULL
    whole = [blk.block for blk in batch if floor is None or blk.block * w > floor]
    fresh: dict[int, Block] = {}
    if whole:
        start, end = whole[0] * w, (whole[-1] + 1) * w - 1
        (inside,) = tx.execute(
            "SELECT coalesce(sum(n), 0) FROM chunks WHERE series_id = ? AND step_min >= ?"
            " AND step_max <= ?",
            (sid, start, end),
        ).fetchone()
        if inside > RELOG_PER_STEP * (end - start + 1):
            whole = []  # a step logged over and over: merged, so a batch reads no more points
    if whole:
        xs, vs, _ = raw_points(tx, sid, "step", "step", start, end)
        # The batch's points after the stored ones (a stable sort): at a step, the batch's stays.
        read = len(xs)
        for s, v in zip(col.step, col.value, strict=True):
            if start <= s <= end:
                xs.append(s)
                vs.append(v)
        if read < len(xs):
            order = sorted(range(len(xs)), key=xs.__getitem__)
            xs, vs = [xs[i] for i in order], [vs[i] for i in order]
        fresh = {blk.block: blk for blk in pyramid.blocks_of(*last_per_step(xs, vs), w)}
    changed = {}
    for blk in batch:
        old = stored.get((0, blk.block))
        if blk.block not in fresh and old is not None:
            old.merge(blk)
        changed[blk.block] = fresh.get(blk.block) or old or blk
    out = list(changed.values())
    for level in range(1, top_level + 1):
        parents: dict[int, Block] = {}
        for p in sorted({b // f for b in changed}):
            for c in range(p * f, (p + 1) * f):
                child = changed.get(c) or stored.get((level - 1, c))
                if child is None:
                    continue
                if p in parents:
                    parents[p].merge(child)
                else:
                    parents[p] = msgspec.structs.replace(child, level=level, block=p)
        changed = parents
        out += parents.values()
    return out


class Points:
    """Writes a batch's points (the ingest job's point sink)."""

    def write(self, tx: Tx, run_id: str, columns: dict[str, SeriesColumns]) -> None:
        """Append each key's points: fill its newest chunk when the points come after it, add
        new chunks, upsert the pyramid blocks; one pipeline (and one copy for many chunks)."""
        newest = _series(tx, run_id, list(columns))
        d = tx.dialect
        appends: list[tuple[Any, ...]] = []
        fresh: list[tuple[Any, ...]] = []
        blocks: list[tuple[Any, ...]] = []
        replaced: list[tuple[Any, ...]] = []
        for key, col in columns.items():
            sid, cid, n, step_max, ts_min, ts_max, top, floor = newest[key]
            total = len(col.step)
            pos = 0
            if cid is not None and n < CHUNK_MAX and min(col.step) >= step_max:
                pos = min(CHUNK_MAX - n, total)
                steps, ts = col.step[:pos], col.ts[:pos]
                appends.append(
                    (pack("q", steps), pack("d", ts), pack("d", col.value[:pos]), pos,
                     max(steps), min(ts_min, min(ts)), max(ts_max, max(ts)), cid)
                )  # fmt: skip
            while pos < total:
                end = pos + CHUNK_MAX
                steps, ts = col.step[pos:end], col.ts[pos:end]
                fresh.append(
                    (sid, len(steps), min(steps), max(steps), min(ts), max(ts),
                     pack("q", steps), pack("d", ts), pack("d", col.value[pos:end]))
                )  # fmt: skip
                pos = end
            blocks += pyramid_rows(sid, "time", pyramid.build_blocks("time", col.ts, col.value))
            if top is not None and min(col.step) <= top:  # steps logged again: rare
                replaced += pyramid_rows(sid, "step", relogged_blocks(tx, sid, col, floor))
            else:  # only new steps: one point a step, merged into the blocks
                xs, vs = last_per_step(col.step, col.value)  # type: ignore[arg-type]
                blocks += pyramid_rows(sid, "step", pyramid.build_blocks("step", xs, vs))
        with tx.pipeline():
            if appends:
                # || of two BLOBs is TEXT on SQLite: the cast keeps the bytes (NULs too) a BLOB.
                tx.executemany(
                    f"UPDATE chunks SET steps = CAST(steps || ? AS {d.blob}),"
                    f" ts = CAST(ts || ? AS {d.blob}), vals = CAST(vals || ? AS {d.blob}),"
                    f" n = n + ?, step_max = ?, ts_min = ?, ts_max = ? WHERE {d.insert_order} = ?",
                    appends,
                )
            if fresh and len(fresh) <= COPY_ABOVE:
                marks = ",".join("?" * 9)
                tx.executemany(f"INSERT INTO chunks ({_CHUNK_COLUMNS}) VALUES ({marks})", fresh)
            if blocks:
                tx.insert_many("pyramid", _PYRAMID_COLUMNS, _PYRAMID_TYPES, blocks, _PYRAMID_MERGE)
            if replaced:
                tx.insert_many(
                    "pyramid", _PYRAMID_COLUMNS, _PYRAMID_TYPES, replaced, _PYRAMID_REPLACE
                )
        if len(fresh) > COPY_ABOVE:  # after the pipeline: PostgreSQL's COPY runs outside one
            tx.copy_rows("chunks", _CHUNK_COLUMNS, fresh)


def _series(tx: Tx, run_id: str, keys: list[str]) -> dict[str, tuple[Any, ...]]:
    """Per key: its series id, its newest chunk's (id, n, step_max, ts_min, ts_max) or Nones,
    the greatest step it stored (or None) and its raw floor by step (retention's, or None);
    creates the series not seen before."""
    found = _newest_chunks(tx, run_id, keys)
    missing = [k for k in keys if k not in found]
    if missing:
        tx.executemany(
            "INSERT INTO series (run_id, key) VALUES (?, ?) ON CONFLICT (run_id, key) DO NOTHING",
            [(run_id, k) for k in missing],
        )
        found.update(_newest_chunks(tx, run_id, missing))
    return found


def _newest_chunks(tx: Tx, run_id: str, keys: list[str]) -> dict[str, tuple[Any, ...]]:
    cid = tx.dialect.insert_order
    rows = tx.execute(
        f"SELECT s.key, s.id, c.{cid}, c.n, c.step_max, c.ts_min, c.ts_max,"
        " (SELECT max(step_max) FROM chunks WHERE series_id = s.id), s.raw_floor_step"
        f" FROM series s LEFT JOIN chunks c"
        f" ON c.{cid} = (SELECT max({cid}) FROM chunks WHERE series_id = s.id)"
        f" WHERE s.run_id = ? AND s.key IN ({','.join('?' * len(keys))})",
        [run_id, *keys],
    ).fetchall()
    # Steps up to the raw floor were stored too, though retention dropped their chunks.
    return {
        key: (*rest, max((s for s in (top, floor) if s is not None), default=None), floor)
        for key, *rest, top, floor in rows
    }
