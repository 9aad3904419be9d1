"""Appending a batch's points: per series, fill its newest chunk, add new chunks, and merge the
batch's pyramid blocks, in a few statements per batch whatever its number of keys.

No cache of series or open chunks: each batch reads its series' newest chunks in one query. On
PostgreSQL another replica may have appended since; on SQLite the lookup costs less than a
batch's noise (measured with ``benchmarks/store_backends.py``), and nothing can go stale after a
rollback, a retention sweep or a restart. The caller holds the run's lock (or is the one writer
thread), so nobody else writes these series until commit. Only the newest chunk (by id) is
appended to, so chunk-id order stays ingest order (what reads and archives go by) when steps go
back and then forward again.
"""

from __future__ import annotations

from typing import Any

import msgspec

from runwatch.store import pyramid
from runwatch.store.chunks import CHUNK_MAX, pack
from runwatch.store.prepare import SeriesColumns
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


def pyramid_rows(sid: int, col: SeriesColumns) -> list[tuple[Any, ...]]:
    """Upsert rows of every block a batch's points touch, on both axes (x and values as floats,
    which typed bulk inserts want)."""
    rows = []
    for axis, xs in (("step", col.step), ("time", col.ts)):
        axis_id = pyramid.AXES[axis][0]
        for blk in pyramid.build_blocks(axis, xs, col.value):  # type: ignore[arg-type]
            level, block, n, nf, *floats = msgspec.structs.astuple(blk)
            rows.append((sid, axis_id, level, block, n, nf, *map(float, floats)))
    return rows


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
        for key, col in columns.items():
            sid, cid, n, step_max, ts_min, ts_max = newest[key]
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
            blocks.extend(pyramid_rows(sid, col))
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
        if len(fresh) > COPY_ABOVE:  # after the pipeline: PostgreSQL's COPY runs outside one
            tx.copy_rows("chunks", _CHUNK_COLUMNS, fresh)


def _series(tx: Tx, run_id: str, keys: list[str]) -> dict[str, tuple[Any, ...]]:
    """Per key: its series id and its newest chunk's (id, n, step_max, ts_min, ts_max), or
    Nones; creates the series not seen before."""
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
        f"SELECT s.key, s.id, c.{cid}, c.n, c.step_max, c.ts_min, c.ts_max FROM series s"
        f" LEFT JOIN chunks c ON c.{cid} = (SELECT max({cid}) FROM chunks WHERE series_id = s.id)"
        f" WHERE s.run_id = ? AND s.key IN ({','.join('?' * len(keys))})",
        [run_id, *keys],
    ).fetchall()
    return {key: tuple(rest) for key, *rest in rows}
