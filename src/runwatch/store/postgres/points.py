"""Writing a batch's points on PostgreSQL: chunks of raw points and the pyramid, in a few round
trips per batch whatever its number of keys.

No cache of open chunks: another replica may have appended to a series since, so each batch
reads its series' newest chunks (the caller holds the run's lock, so nobody else writes them
until commit). Only the newest chunk (by id) is appended to, so id order stays ingest order
(what archives read, see ``archive``) when steps go back and then forward again. Pyramid
blocks go in with one upsert of arrays.
"""

from __future__ import annotations

from typing import Any

from runwatch.store.chunks import CHUNK_MAX, pack
from runwatch.store.postgres.tx import Conn
from runwatch.store.prepare import SeriesColumns
from runwatch.store.sqlite.queries import pyramid_rows

_PYRAMID_UPSERT = """
INSERT INTO pyramid (series_id, axis, level, block, n, nf, vmin, vmax, vsum, first_x, last_x, last)
SELECT * FROM unnest(%b::bigint[], %b::smallint[], %b::smallint[], %b::bigint[], %b::bigint[],
    %b::bigint[], %b::float8[], %b::float8[], %b::float8[], %b::float8[], %b::float8[],
    %b::float8[])
ON CONFLICT (series_id, axis, level, block) DO UPDATE SET
    n = pyramid.n + excluded.n,
    nf = pyramid.nf + excluded.nf,
    vmin = least(pyramid.vmin, excluded.vmin),
    vmax = greatest(pyramid.vmax, excluded.vmax),
    vsum = pyramid.vsum + excluded.vsum,
    first_x = least(pyramid.first_x, excluded.first_x),
    last = CASE WHEN excluded.last_x >= pyramid.last_x THEN excluded.last ELSE pyramid.last END,
    last_x = greatest(pyramid.last_x, excluded.last_x)
"""
_COPY_CHUNKS = (
    "COPY chunks (series_id, n, step_min, step_max, ts_min, ts_max, steps, ts, vals) FROM STDIN"
)


_SERIES_AND_OPEN_CHUNKS = """
WITH keys AS (SELECT unnest(%s::text[]) AS key),
created AS (
    INSERT INTO series (run_id, key) SELECT %s, key FROM keys ON CONFLICT DO NOTHING
    RETURNING id, key
),
found AS (
    SELECT id, key FROM created
    UNION ALL SELECT s.id, s.key FROM series s JOIN keys k ON k.key = s.key WHERE s.run_id = %s
)
SELECT f.key, f.id, c.id, c.n, c.step_max FROM found f LEFT JOIN LATERAL (
    SELECT id, n, step_max FROM chunks WHERE series_id = f.id ORDER BY id DESC LIMIT 1
) c ON TRUE
"""
# Past this many new chunks in a batch, COPY beats pipelined INSERTs.
COPY_ABOVE = 16


def write_points(conn: Conn, run_id: str, columns: dict[str, SeriesColumns]) -> None:
    """Append a batch's points: fill each series' open chunk, add new ones, upsert blocks.

    One query finds (or creates) the series and their newest chunks; the writes then go out
    together in one pipeline (or with one COPY for many new chunks).
    """
    found = conn.execute(_SERIES_AND_OPEN_CHUNKS, (list(columns), run_id, run_id)).fetchall()
    series = {key: (sid, cid, n, step_max) for key, sid, cid, n, step_max in found}
    appends: list[tuple[Any, ...]] = []
    fresh: list[tuple[Any, ...]] = []
    blocks: list[tuple[Any, ...]] = []
    for key, col in columns.items():
        sid, cid, n, step_max = series[key]
        total = len(col.step)
        pos = 0
        if cid is not None and n < CHUNK_MAX and min(col.step) >= step_max:
            pos = min(CHUNK_MAX - n, total)
            steps, ts = col.step[:pos], col.ts[:pos]
            appends.append(
                (pack("q", steps), pack("d", ts), pack("d", col.value[:pos]), pos,
                 max(steps), min(ts), max(ts), cid)
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
    with conn.pipeline():
        cursor = conn.cursor()
        if appends:
            cursor.executemany(_APPEND, appends)
        if fresh and len(fresh) <= COPY_ABOVE:
            cursor.executemany(_INSERT_CHUNK, fresh)
        if blocks:
            columns_of = list(zip(*blocks, strict=True))
            # float8[] wants floats only (a step axis' first_x is an int).
            arrays = [list(c) for c in columns_of[:6]]
            arrays += [[float(v) for v in c] for c in columns_of[6:]]
            cursor.execute(_PYRAMID_UPSERT, arrays)
    if len(fresh) > COPY_ABOVE:
        with conn.cursor().copy(_COPY_CHUNKS) as copy:
            for row in fresh:
                copy.write_row(row)


_APPEND = (
    "UPDATE chunks SET steps = steps || %s, ts = ts || %s, vals = vals || %s, n = n + %s,"
    " step_max = greatest(step_max, %s), ts_min = least(ts_min, %s),"
    " ts_max = greatest(ts_max, %s) WHERE id = %s"
)
_INSERT_CHUNK = (
    "INSERT INTO chunks (series_id, n, step_min, step_max, ts_min, ts_max, steps, ts, vals)"
    " VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s)"
)
