"""Writing a batch's points on PostgreSQL: chunks of raw points and the pyramid, in a few round
trips per batch whatever its number of keys.

No cache of open chunks: another replica may have appended to a series since, so each batch
reads its series' newest chunks (one query; the caller holds the run's lock, so nobody else
writes them until commit). New chunks go in with one COPY, pyramid blocks with one upsert of
arrays.
"""

from __future__ import annotations

from typing import Any

from runwatch.store.chunks import CHUNK_MAX, pack
from runwatch.store.postgres.records import Conn
from runwatch.store.prepare import SeriesColumns
from runwatch.store.sqlite.queries import pyramid_rows

_PYRAMID_UPSERT = """
INSERT INTO pyramid (series_id, axis, level, block, n, nf, vmin, vmax, vsum, first_x, last_x, last)
SELECT * FROM unnest(%s::bigint[], %s::smallint[], %s::smallint[], %s::bigint[], %s::bigint[],
    %s::bigint[], %s::float8[], %s::float8[], %s::float8[], %s::float8[], %s::float8[],
    %s::float8[])
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


def series_ids(conn: Conn, run_id: str, keys: list[str]) -> dict[str, int]:
    """Each key's series id, creating the missing ones."""
    conn.execute(
        "INSERT INTO series (run_id, key) SELECT %s, unnest(%s::text[]) ON CONFLICT DO NOTHING",
        (run_id, keys),
    )
    rows = conn.execute(
        "SELECT key, id FROM series WHERE run_id = %s AND key = ANY(%s)", (run_id, keys)
    ).fetchall()
    return {k: int(i) for k, i in rows}


def write_points(conn: Conn, run_id: str, columns: dict[str, SeriesColumns]) -> None:
    """Append a batch's points: fill each series' open chunk, COPY new ones, upsert blocks."""
    ids = series_ids(conn, run_id, list(columns))
    open_chunks = {
        sid: (cid, n, step_max)
        for sid, cid, n, step_max in conn.execute(
            "SELECT DISTINCT ON (series_id) series_id, id, n, step_max FROM chunks"
            " WHERE series_id = ANY(%s) ORDER BY series_id, step_max DESC, id DESC",
            (list(ids.values()),),
        ).fetchall()
    }
    appends: list[tuple[Any, ...]] = []
    fresh: list[tuple[Any, ...]] = []
    blocks: list[tuple[Any, ...]] = []
    for key, col in columns.items():
        sid = ids[key]
        total = len(col.step)
        pos = 0
        chunk = open_chunks.get(sid)
        if chunk is not None and chunk[1] < CHUNK_MAX and min(col.step) >= chunk[2]:
            pos = min(CHUNK_MAX - chunk[1], total)
            steps, ts = col.step[:pos], col.ts[:pos]
            appends.append(
                (pack("q", steps), pack("d", ts), pack("d", col.value[:pos]), pos,
                 max(steps), min(ts), max(ts), chunk[0])
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
    if appends:
        conn.cursor().executemany(
            "UPDATE chunks SET steps = steps || %s, ts = ts || %s, vals = vals || %s,"
            " n = n + %s, step_max = greatest(step_max, %s), ts_min = least(ts_min, %s),"
            " ts_max = greatest(ts_max, %s) WHERE id = %s",
            appends,
        )
    if fresh:
        with conn.cursor().copy(_COPY_CHUNKS) as copy:
            for row in fresh:
                copy.write_row(row)
    if blocks:
        columns_of = list(zip(*blocks, strict=True))
        # float8[] wants floats only (a step axis' first_x is an int).
        arrays = [list(c) for c in columns_of[:6]] + [[float(v) for v in c] for c in columns_of[6:]]
        conn.execute(_PYRAMID_UPSERT, arrays)
