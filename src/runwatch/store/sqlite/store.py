"""SQLite backend of the Store protocol: WAL, one writer thread with group commit, pooled readers."""

from __future__ import annotations

import asyncio
import concurrent.futures
import math
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, TypeVar

import msgspec

from runwatch.protocol import FINAL_STATUSES, BatchAck, Retention, RunCreate
from runwatch.store.base import (
    CommitListener,
    Committed,
    EventRecord,
    IngestError,
    ProjectInfo,
    Record,
    RunInfo,
    RunState,
    Series,
)
from runwatch.store.chunks import CHUNK_MAX, pack
from runwatch.store.prepare import PreparedBatch, SeriesColumns, with_seq
from runwatch.store.sqlite import queries
from runwatch.store.sqlite.schema import migrate
from runwatch.store.sqlite.writer import SqliteWriter

T = TypeVar("T")
_encode = msgspec.json.encode
_RUN_COLUMNS = (
    "id, project, name, grp, tags, config, status, created_at, started_at, ended_at, "
    "last_update, exit_code, error, seq, summary"
)
MAX_RUNS_LISTED = 1000
# A run in one of these took its final status from its producer: later batches are refused.
# ("crashed" is the server's guess, so a producer that comes back may still report.)
CLOSED_STATUSES = frozenset({"succeeded", "failed", "cancelled"})
# Series ids are cached in the writer; past this many the cache is cleared (and refilled lazily).
SERIES_CACHE_CAP = 50_000


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA busy_timeout = 30000")
    return conn


def _run_info(row: tuple[Any, ...]) -> RunInfo:
    return RunInfo(
        id=row[0],
        project=row[1],
        name=row[2],
        group=row[3],
        tags=msgspec.json.decode(row[4]),
        config=msgspec.json.decode(row[5]),
        status=row[6],
        created_at=row[7],
        started_at=row[8],
        ended_at=row[9],
        last_update=row[10],
        exit_code=row[11],
        error=row[12],
        seq=row[13],
        summary=msgspec.json.decode(row[14]),
    )


class SqliteStore:
    """Runs, series, events and the live journal in one SQLite file under ``data_dir``."""

    def __init__(self, data_dir: Path | str, readers: int = 4) -> None:
        self.path = Path(data_dir) / "runwatch.sqlite3"
        self._listeners: list[CommitListener] = []
        self._reader_pool = concurrent.futures.ThreadPoolExecutor(readers, "runwatch-sqlite-read")
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._series: dict[tuple[str, str], int] = {}
        # Per series, the chunk still being filled: [rowid, points in it, its step_max].
        self._open_chunks: dict[int, list[int]] = {}
        self._writer: SqliteWriter | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- lifecycle -------------------------------------------------------------------------
    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._loop = asyncio.get_running_loop()
        conn = _connect(self.path)
        migrate(conn)
        self._writer = SqliteWriter(conn, self._dispatch_commit, self._forget_caches)
        self._writer.start()

    async def close(self) -> None:
        if self._writer is not None:
            await asyncio.to_thread(self._writer.stop)
            self._writer = None
        self._reader_pool.shutdown(wait=True)
        with self._readers_lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()

    def _forget_caches(self) -> None:
        self._series.clear()
        self._open_chunks.clear()

    def add_commit_listener(self, listener: CommitListener) -> None:
        self._listeners.append(listener)

    def _dispatch_commit(self, committed: list[Committed]) -> None:
        # Called on the writer thread; call_soon_threadsafe keeps commit order on the loop.
        if self._loop is not None and not self._loop.is_closed():
            for listener in self._listeners:
                self._loop.call_soon_threadsafe(listener, committed)

    # -- plumbing --------------------------------------------------------------------------
    async def _write(self, job: Callable[[sqlite3.Connection], tuple[T, list[Committed]]]) -> T:
        if self._writer is None:
            raise IngestError(503, "store_closed", "the store is not open")
        result: T = await asyncio.wrap_future(self._writer.submit(job))
        return result

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(
            self._reader_pool, self._read_in_thread, fn
        )

    def _read_in_thread(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = _connect(self.path)
            conn.execute("PRAGMA query_only = ON")
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        # One transaction per read: every query in ``fn`` sees the same snapshot.
        conn.execute("BEGIN")
        try:
            return fn(conn)
        finally:
            conn.execute("ROLLBACK")

    # -- runs ------------------------------------------------------------------------------
    async def create_run(self, spec: RunCreate) -> RunInfo:
        run_id = spec.id or secrets.token_hex(6)
        now = time.time()
        name = spec.name or f"run-{run_id[:6]}"

        def job(conn: sqlite3.Connection) -> tuple[RunInfo, list[Committed]]:
            row = conn.execute(
                f"SELECT {_RUN_COLUMNS} FROM runs WHERE id = ?", (run_id,)
            ).fetchone()
            if row is not None:  # a producer retrying its own creation
                if row[1] != spec.project:
                    raise IngestError(
                        409, "run_exists", f"run {run_id!r} exists in another project", "$.id"
                    )
                return _run_info(row), []
            conn.execute(
                f"INSERT INTO runs ({_RUN_COLUMNS})"
                " VALUES (?,?,?,?,?,?,'running',?,?,NULL,?,NULL,NULL,1,'{}')",
                (
                    run_id,
                    spec.project,
                    name,
                    spec.group,
                    _encode(spec.tags).decode(),
                    _encode(spec.config).decode(),
                    now,
                    now,
                    now,
                ),
            )
            record = self._status_record(conn, run_id, 1, "running", now, None, None)
            conn.execute("INSERT INTO journal VALUES (?,?,?)", (run_id, 1, record.body))
            row = conn.execute(
                f"SELECT {_RUN_COLUMNS} FROM runs WHERE id = ?", (run_id,)
            ).fetchone()
            return _run_info(row), [Committed(run_id, [record], status_changed=True)]

        return await self._write(job)

    async def get_run(self, run_id: str) -> RunInfo | None:
        def read(conn: sqlite3.Connection) -> RunInfo | None:
            row = conn.execute(
                f"SELECT {_RUN_COLUMNS} FROM runs WHERE id = ?", (run_id,)
            ).fetchone()
            return None if row is None else _run_info(row)

        return await self._read(read)

    async def list_runs(
        self, project: str | None = None, status: str | None = None, tag: str | None = None
    ) -> list[RunInfo]:
        where, args = ["1"], []
        if project is not None:
            where.append("project = ?")
            args.append(project)
        if status is not None:
            where.append("status = ?")
            args.append(status)
        if tag is not None:
            where.append("EXISTS (SELECT 1 FROM json_each(runs.tags) WHERE value = ?)")
            args.append(tag)
        sql = (
            f"SELECT {_RUN_COLUMNS} FROM runs WHERE {' AND '.join(where)}"
            f" ORDER BY created_at DESC LIMIT {MAX_RUNS_LISTED}"
        )
        return await self._read(lambda conn: [_run_info(r) for r in conn.execute(sql, args)])

    async def list_projects(self) -> list[ProjectInfo]:
        sql = (
            "SELECT project, count(*), sum(status = 'running'), max(last_update) "
            "FROM runs GROUP BY project ORDER BY project"
        )
        return await self._read(
            lambda conn: [ProjectInfo(r[0], r[1], r[2] or 0, r[3]) for r in conn.execute(sql)]
        )

    # -- ingest ----------------------------------------------------------------------------
    async def ingest(self, run_id: str, batch: PreparedBatch) -> BatchAck:
        return await self._write(lambda conn: self._ingest_job(conn, run_id, batch))

    def _ingest_job(
        self, conn: sqlite3.Connection, run_id: str, b: PreparedBatch
    ) -> tuple[BatchAck, list[Committed]]:
        fresh = conn.execute(
            "INSERT OR IGNORE INTO batches VALUES (?,?,?,0,0)", (run_id, b.producer, b.batch_seq)
        ).rowcount
        if not fresh:
            first, last = conn.execute(
                "SELECT seq_first, seq_last FROM batches WHERE run_id=? AND producer=? AND batch_seq=?",
                (run_id, b.producer, b.batch_seq),
            ).fetchone()
            return BatchAck(first, last, True, b.points_count, len(b.events)), []
        status = conn.execute("SELECT status FROM runs WHERE id = ?", (run_id,)).fetchone()
        if status is None:
            raise IngestError(404, "run_not_found", f"no run with id {run_id!r}", "run")
        if status[0] in CLOSED_STATUSES:
            raise IngestError(
                409, "run_finished", f"run {run_id!r} is {status[0]}: it takes no more data", "run"
            )
        n = b.record_count
        row = conn.execute(
            "UPDATE runs SET seq = seq + ?, last_update = ? WHERE id = ? RETURNING seq",
            (n, time.time(), run_id),
        ).fetchone()
        seq = first = row[0] - n + 1
        records: list[Record] = []
        if b.points_body is not None:
            for key, col in b.columns.items():
                sid = self._series_id(conn, run_id, key)
                self._append_points(conn, sid, col)
                conn.executemany(queries.PYRAMID_UPSERT, queries.pyramid_rows(sid, col))
            conn.execute(
                "UPDATE runs SET summary = json_patch(summary, ?) WHERE id = ?",
                (b.summary_json, run_id),
            )
            records.append(Record(seq, with_seq(seq, b.points_body)))
            seq += 1
        if b.events:
            conn.executemany(
                "INSERT INTO events VALUES (?,?,?,?,?,?,?)",
                [
                    (run_id, seq + i, e.ts, e.kind, e.level, e.entity, e.payload_json)
                    for i, e in enumerate(b.events)
                ],
            )
            records.extend(
                Record(seq + i, with_seq(seq + i, e.body)) for i, e in enumerate(b.events)
            )
            seq += len(b.events)
        if b.status is not None:
            s = b.status
            records.append(
                self._status_record(conn, run_id, seq, s.state, s.ts, s.error, s.exit_code)
            )
        conn.executemany(
            "INSERT INTO journal VALUES (?,?,?)", [(run_id, r.seq, r.body) for r in records]
        )
        last = first + n - 1
        conn.execute(
            "UPDATE batches SET seq_first=?, seq_last=? WHERE run_id=? AND producer=? AND batch_seq=?",
            (first, last, run_id, b.producer, b.batch_seq),
        )
        ack = BatchAck(first, last, False, b.points_count, len(b.events))
        return ack, [Committed(run_id, records, status_changed=b.status is not None)]

    def _status_record(
        self,
        conn: sqlite3.Connection,
        run_id: str,
        seq: int,
        state: str,
        ts: float,
        error: str | None,
        exit_code: int | None,
    ) -> Record:
        """Apply a status change and store it as an event; return its live record (not journaled)."""
        ended = ts if state in FINAL_STATUSES else None
        conn.execute(
            "UPDATE runs SET status=?, ended_at=?, error=coalesce(?, error), exit_code=? WHERE id=?",
            (state, ended, error, exit_code, run_id),
        )
        info = {"state": state, "error": error, "exit_code": exit_code}
        level = "error" if state in ("failed", "crashed") else "info"
        conn.execute(
            "INSERT INTO events VALUES (?,?,?,'status',?,NULL,?)",
            (run_id, seq, ts, level, _encode(info)),
        )
        body = _encode({"type": "status", "ts": ts, "level": level, **info})
        return Record(seq, with_seq(seq, body))

    def _append_points(self, conn: sqlite3.Connection, sid: int, col: SeriesColumns) -> None:
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
                " ts_min = min(ts_min, ?), ts_max = max(ts_max, ?)"
                " WHERE rowid = ?",
                (
                    pack("q", steps),
                    pack("d", ts),
                    pack("d", col.value[:pos]),
                    pos,
                    max(steps),
                    min(ts),
                    max(ts),
                    rowid,
                ),
            )
            open_chunk[1] += pos
            open_chunk[2] = max(open_chunk[2], max(steps))
        while pos < total:
            end = pos + CHUNK_MAX
            steps, ts = col.step[pos:end], col.ts[pos:end]
            cursor = conn.execute(
                "INSERT INTO chunks (series_id, n, step_min, step_max, ts_min, ts_max, steps, ts, vals)"
                " VALUES (?,?,?,?,?,?,?,?,?)",
                (
                    sid,
                    len(steps),
                    min(steps),
                    max(steps),
                    min(ts),
                    max(ts),
                    pack("q", steps),
                    pack("d", ts),
                    pack("d", col.value[pos:end]),
                ),
            )
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
            if len(self._open_chunks) >= SERIES_CACHE_CAP:
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
            if len(self._series) >= SERIES_CACHE_CAP:
                self._series.clear()
            self._series[(run_id, key)] = sid
        return int(sid)

    # -- reads -----------------------------------------------------------------------------
    async def replay(self, run_id: str, since: int, limit: int) -> list[Record]:
        sql = "SELECT seq, body FROM journal WHERE run_id = ? AND seq > ? ORDER BY seq LIMIT ?"
        return await self._read(
            lambda conn: [Record(s, bytes(b)) for s, b in conn.execute(sql, (run_id, since, limit))]
        )

    async def events(
        self,
        run_id: str,
        after: int = 0,
        limit: int = 100,
        kind: str | None = None,
        newest_first: bool = False,
    ) -> list[EventRecord]:
        return await self._read(
            lambda conn: queries.events(conn, run_id, after, limit, kind, newest_first)
        )

    async def metric_keys(self, run_id: str) -> list[str]:
        return await self._read(lambda conn: queries.metric_keys(conn, run_id))

    async def tails(self, run_id: str, keys: list[str], n: int) -> dict[str, Series]:
        return await self._read(lambda conn: queries.tails(conn, run_id, keys, n))

    async def metrics(
        self,
        run_id: str,
        keys: list[str],
        start: float | None,
        end: float | None,
        max_points: int,
        x: Literal["step", "time"],
    ) -> dict[str, Series]:
        return await self._read(
            lambda conn: queries.metrics(conn, run_id, keys, start, end, max_points, x)
        )

    async def state(self, run_id: str, max_points: int, events_limit: int) -> RunState | None:
        def read(conn: sqlite3.Connection) -> RunState | None:
            row = conn.execute(
                f"SELECT {_RUN_COLUMNS} FROM runs WHERE id = ?", (run_id,)
            ).fetchone()
            if row is None:
                return None
            run = _run_info(row)
            keys = queries.metric_keys(conn, run_id)
            metrics = queries.metrics(conn, run_id, keys, None, None, max_points, "step")
            events = queries.events(conn, run_id, 0, events_limit, None, newest_first=True)
            return RunState(run=run, seq=run.seq, metrics=metrics, events=events)

        return await self._read(read)

    # -- retention -------------------------------------------------------------------------
    async def get_retention(self, project: str) -> Retention:
        row = await self._read(
            lambda conn: conn.execute(
                "SELECT raw_keep_steps, raw_keep_days FROM retention WHERE project = ?", (project,)
            ).fetchone()
        )
        return Retention() if row is None else Retention(*row)

    async def set_retention(self, project: str, retention: Retention) -> int:
        def job(conn: sqlite3.Connection) -> tuple[int, list[Committed]]:
            conn.execute(
                "INSERT OR REPLACE INTO retention VALUES (?, ?, ?)",
                (project, retention.raw_keep_steps, retention.raw_keep_days),
            )
            return self._drop_raw(conn, time.time(), project), []

        return await self._write(job)

    async def apply_retention(self, now: float) -> int:
        return await self._write(lambda conn: (self._drop_raw(conn, now, None), []))

    def _drop_raw(self, conn: sqlite3.Connection, now: float, project: str | None) -> int:
        """Delete raw chunks past retention; record per series how far raw is now incomplete."""
        rules = conn.execute(
            "SELECT project, raw_keep_steps, raw_keep_days FROM retention"
            " WHERE (raw_keep_steps IS NOT NULL OR raw_keep_days IS NOT NULL)"
            " AND (? IS NULL OR project = ?)",
            (project, project),
        ).fetchall()
        dropped = 0
        for name, keep_steps, keep_days in rules:
            series = conn.execute(
                "SELECT s.id FROM series s JOIN runs r ON r.id = s.run_id WHERE r.project = ?",
                (name,),
            ).fetchall()
            for (sid,) in series:
                newest = conn.execute(
                    "SELECT max(step_max) FROM chunks WHERE series_id = ?", (sid,)
                ).fetchone()[0]
                if newest is None:
                    continue
                step_cut = -math.inf if keep_steps is None else newest - keep_steps
                ts_cut = -math.inf if keep_days is None else now - keep_days * 86400
                where = "series_id = ? AND (step_max < ? OR ts_max < ?)"
                args = (sid, step_cut, ts_cut)
                floor_step, floor_ts, count = conn.execute(
                    f"SELECT max(step_max), max(ts_max), count(*) FROM chunks WHERE {where}", args
                ).fetchone()
                if not count:
                    continue
                conn.execute(f"DELETE FROM chunks WHERE {where}", args)
                conn.execute(
                    "UPDATE series SET raw_floor_step = max(coalesce(raw_floor_step, ?), ?),"
                    " raw_floor_ts = max(coalesce(raw_floor_ts, ?), ?) WHERE id = ?",
                    (floor_step, floor_step, floor_ts, floor_ts, sid),
                )
                dropped += count
        if dropped:
            self._forget_caches()  # the open chunk of a series may be gone
        return dropped

    async def health(self) -> dict[str, Any]:
        (version,) = await self._read(lambda conn: conn.execute("PRAGMA user_version").fetchone())
        commits = self._writer.commits if self._writer else 0
        return {"backend": "sqlite", "path": str(self.path), "schema": version, "commits": commits}
