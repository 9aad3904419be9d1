"""Writing a batch's points: chunks of raw points, and the pyramid, with the writer's caches.

Lives on the writer thread; its caches are dropped whenever a transaction rolls back.
"""

from __future__ import annotations

import sqlite3

from runwatch.store.chunks import CHUNK_MAX, pack
from runwatch.store.prepare import SeriesColumns
from runwatch.store.sqlite import queries

# Past this many entries a cache is cleared (and refilled lazily).
CACHE_CAP = 50_000


class PointWriter:
    """Appends points per series: fills the open chunk, starts new ones, updates the pyramid."""

    def __init__(self) -> None:
        self._series: dict[tuple[str, str], int] = {}
        # Per series, the chunk still being filled: [rowid, points in it, its step_max].
        self._open_chunks: dict[int, list[int]] = {}

    def forget(self) -> None:
        self._series.clear()
        self._open_chunks.clear()

    def write(
        self, conn: sqlite3.Connection, run_id: str, columns: dict[str, SeriesColumns]
    ) -> None:
        for key, col in columns.items():
            sid = self._series_id(conn, run_id, key)
            self._append(conn, sid, col)
            conn.executemany(queries.PYRAMID_UPSERT, queries.pyramid_rows(sid, col))

    def _append(self, conn: sqlite3.Connection, sid: int, col: SeriesColumns) -> None:
        """Fill the series' open chunk (when the new points come after it), then new chunks."""
        total = len(col.step)
        pos = 0
        open_chunk = self._open_chunk(conn, sid)
        if open_chunk is not None and min(col.step) >= open_chunk[2]:
            rowid, n, _ = open_chunk
            pos = min(CHUNK_MAX - n, total)
            steps, ts = col.step[:pos], col.ts[:pos]
            conn.execute(
                # || yields TEXT; the cast keeps the concatenated bytes (NULs included) a BLOB.
                "UPDATE chunks SET steps = CAST(steps || ? AS BLOB), ts = CAST(ts || ? AS BLOB),"
                " vals = CAST(vals || ? AS BLOB), n = n + ?, step_max = max(step_max, ?),"
                " ts_min = min(ts_min, ?), ts_max = max(ts_max, ?) WHERE rowid = ?",
                (pack("q", steps), pack("d", ts), pack("d", col.value[:pos]), pos,
                 max(steps), min(ts), max(ts), rowid),
            )  # fmt: skip
            open_chunk[1] += pos
            open_chunk[2] = max(open_chunk[2], max(steps))
        while pos < total:
            end = pos + CHUNK_MAX
            steps, ts = col.step[pos:end], col.ts[pos:end]
            cursor = conn.execute(
                "INSERT INTO chunks (series_id, n, step_min, step_max, ts_min, ts_max, steps, ts,"
                " vals) VALUES (?,?,?,?,?,?,?,?,?)",
                (sid, len(steps), min(steps), max(steps), min(ts), max(ts),
                 pack("q", steps), pack("d", ts), pack("d", col.value[pos:end])),
            )  # fmt: skip
            self._open_chunks[sid] = [int(cursor.lastrowid or 0), len(steps), max(steps)]
            pos = end

    def _open_chunk(self, conn: sqlite3.Connection, sid: int) -> list[int] | None:
        """The series' last chunk if it still has room (looked up once, then cached)."""
        chunk = self._open_chunks.get(sid)
        if chunk is None:
            row = conn.execute(
                "SELECT rowid, n, step_max FROM chunks WHERE series_id = ?"
                " ORDER BY step_max DESC LIMIT 1",
                (sid,),
            ).fetchone()
            if row is None:
                return None
            if len(self._open_chunks) >= CACHE_CAP:
                self._open_chunks.clear()
            chunk = self._open_chunks[sid] = list(row)
        return chunk if chunk[1] < CHUNK_MAX else None

    def _series_id(self, conn: sqlite3.Connection, run_id: str, key: str) -> int:
        sid = self._series.get((run_id, key))
        if sid is None:
            conn.execute("INSERT OR IGNORE INTO series (run_id, key) VALUES (?, ?)", (run_id, key))
            (sid,) = conn.execute(
                "SELECT id FROM series WHERE run_id = ? AND key = ?", (run_id, key)
            ).fetchone()
            if len(self._series) >= CACHE_CAP:
                self._series.clear()
            self._series[(run_id, key)] = sid
        return int(sid)
