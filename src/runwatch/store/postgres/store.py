"""PostgreSQL backend of the Store protocol: shared by several server replicas.

Every replica may write any run: a run's row lock orders its writers (see ``runner`` and
``ingest``), batch dedup is a primary key, and nothing is cached across transactions that
another replica could change.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable
from typing import Any, Literal, TypeVar

import msgspec
import psycopg

from runwatch.protocol import BatchAck, Command, Retention, RunCreate
from runwatch.store.base import (
    CommitListener,
    Committed,
    EventRecord,
    IngestError,
    MetricsResult,
    ProjectInfo,
    Promotion,
    Record,
    RunInfo,
    RunState,
    Series,
    TokenInfo,
    replay_sql,
)
from runwatch.store.factory import describe
from runwatch.store.postgres import control, objects, records, retention
from runwatch.store.postgres.archive import PostgresArchive
from runwatch.store.postgres.ingest import ingest_job
from runwatch.store.postgres.queue import PostgresQueue
from runwatch.store.postgres.records import Conn
from runwatch.store.postgres.rules import PostgresRules
from runwatch.store.postgres.runner import MAX_PENDING, TransactionRunner, WriteJob
from runwatch.store.postgres.schema import migrate
from runwatch.store.postgres.tx import PostgresTx
from runwatch.store.prepare import PreparedBatch
from runwatch.store.snapshots import EPSILON
from runwatch.store.sql import events, queries
from runwatch.store.sqlite.store import MAX_RUNS_LISTED, VITALS_HISTORY

T = TypeVar("T")
_encode = msgspec.json.encode
_TOKEN_SELECT = (
    "SELECT id, prefix, name, scope, project, created_at, expires_at, revoked_at FROM tokens"
)


def _text(value: Any) -> str:
    return _encode(value).decode()


class PostgresStore(PostgresQueue, PostgresRules, PostgresArchive):
    """Runs, series, events and the live journal in one PostgreSQL database (``url``)."""

    def __init__(
        self,
        url: str,
        pool_size: int = 8,
        busy_timeout: float = 30.0,
        snapshot_epsilon: float = EPSILON,
        max_pending: int = MAX_PENDING,
    ) -> None:
        """``url``: a libpq URL (``postgresql://user@host:5432/db``). ``pool_size``: connections
        (and worker threads) per replica. ``busy_timeout``: seconds a job waits for a lock or a
        connection before it is answered 503 (and retried by the producer). ``max_pending``:
        jobs queued or running at once; past it, 503."""
        self._max_pending = max_pending
        self.url = url
        self._pool_size = pool_size
        self._busy_timeout = busy_timeout
        self._snapshot_epsilon = snapshot_epsilon
        self._listeners: list[CommitListener] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: TransactionRunner | None = None

    # -- lifecycle -------------------------------------------------------------------------
    async def open(self) -> None:
        self._loop = asyncio.get_running_loop()
        runner = TransactionRunner(
            self.url, self._pool_size, self._busy_timeout, self._dispatch_commit, self._max_pending
        )

        def start() -> None:
            try:
                with psycopg.connect(self.url, autocommit=True) as conn:
                    migrate(conn)
            except psycopg.OperationalError as exc:
                raise RuntimeError(f"cannot reach PostgreSQL at {self.where()}: {exc}") from None
            runner.open(timeout=self._busy_timeout)

        await asyncio.to_thread(start)
        self._runner = runner

    async def close(self) -> None:
        if self._runner is not None:
            await asyncio.to_thread(self._runner.close)
            self._runner = None

    def add_commit_listener(self, listener: CommitListener) -> None:
        self._listeners.append(listener)

    def _dispatch_commit(self, committed: list[Committed]) -> None:
        # Called on a worker thread, under the commit lock: call_soon_threadsafe keeps order.
        if self._loop is not None and not self._loop.is_closed():
            for listener in self._listeners:
                self._loop.call_soon_threadsafe(listener, committed)

    def where(self) -> str:
        """The server and database, without credentials."""
        return describe(self.url)

    def _open_runner(self) -> TransactionRunner:
        if self._runner is None:
            raise IngestError(503, "store_closed", "the store is not open")
        return self._runner

    async def _write(self, job: WriteJob[T]) -> T:
        return await self._open_runner().write(job)

    async def _read(self, fn: Callable[[Conn], T]) -> T:
        return await self._open_runner().read(fn)

    # -- runs ------------------------------------------------------------------------------
    async def create_run(self, spec: RunCreate) -> RunInfo:
        run_id = spec.id or secrets.token_hex(6)
        name = spec.name or f"run-{run_id[:6]}"

        def job(conn: Conn) -> tuple[RunInfo, list[Committed]]:
            now = time.time()
            created = conn.execute(
                f"INSERT INTO runs ({records.RUN_COLUMNS}) VALUES (%s,%s,%s,%s,%s,%s,'running',"
                "%s,%s,NULL,%s,NULL,NULL,1,'{}',%s,%s,%s,'[]') ON CONFLICT (id) DO NOTHING"
                " RETURNING id",
                (run_id, spec.project, name, spec.group, _text(spec.tags), _text(spec.config),
                 now, now, now, _text(spec.snapshot), now, spec.heartbeat),
            ).fetchone()  # fmt: skip
            if created is None:  # a producer retrying its own creation
                existing = records.fetch_run(conn, run_id)
                assert existing is not None
                if existing.project != spec.project:
                    raise IngestError(
                        409, "run_exists", f"run {run_id!r} exists in another project", "$.id"
                    )
                return existing, []
            record = records.status_change(conn, run_id, 1, "running", now)
            records.journal(conn, run_id, [record])
            run = records.fetch_run(conn, run_id)
            assert run is not None
            return run, [Committed(run_id, [record])]

        return await self._write(job)

    async def get_run(self, run_id: str) -> RunInfo | None:
        return await self._read(lambda conn: records.fetch_run(conn, run_id))

    async def list_runs(
        self, project: str | None = None, status: str | None = None, tag: str | None = None
    ) -> list[RunInfo]:
        where, args = ["TRUE"], []
        if project is not None:
            where.append("project = %s")
            args.append(project)
        if status is not None:
            where.append("status = %s")
            args.append(status)
        if tag is not None:
            where.append("tags::jsonb ? %s")
            args.append(tag)
        sql = (
            f"SELECT {records.RUN_COLUMNS} FROM runs WHERE {' AND '.join(where)}"
            f" ORDER BY created_at DESC LIMIT {MAX_RUNS_LISTED}"
        )
        return await self._read(
            lambda conn: [records.run_info(r) for r in conn.execute(sql, args).fetchall()]
        )

    async def list_projects(self) -> list[ProjectInfo]:
        sql = (
            "SELECT project, count(*), count(*) FILTER (WHERE status = 'running'),"
            ' max(last_update) FROM runs GROUP BY project ORDER BY project COLLATE "C"'
        )
        return await self._read(
            lambda conn: [ProjectInfo(r[0], r[1], r[2], r[3]) for r in conn.execute(sql)]
        )

    # -- ingest ----------------------------------------------------------------------------
    async def ingest(self, run_id: str, batch: PreparedBatch) -> BatchAck:
        return await self._write(
            lambda conn: ingest_job(conn, run_id, batch, self._snapshot_epsilon)
        )

    # -- lifecycle and control -------------------------------------------------------------
    async def heartbeat(self, run_id: str) -> RunInfo:
        def job(conn: Conn) -> tuple[RunInfo, list[Committed]]:
            changes = control.heard_from(conn, run_id, records.lock_run(conn, run_id))
            run = records.fetch_run(conn, run_id)
            assert run is not None
            return run, [Committed(run_id, changes)] if changes else []

        return await self._write(job)

    async def sweep_crashed(self, now: float) -> list[str]:
        def job(conn: Conn) -> tuple[list[str], list[Committed]]:
            crashed = control.sweep_crashed(conn, now)
            return list(crashed), [Committed(run_id, recs) for run_id, recs in crashed.items()]

        return await self._write(job)

    async def add_command(self, run_id: str, kind: str, payload: dict[str, Any]) -> Command:
        def job(conn: Conn) -> tuple[Command, list[Committed]]:
            cmd, changes = control.add_command(conn, run_id, kind, payload)
            return cmd, [Committed(run_id, changes)]

        return await self._write(job)

    async def deliver_commands(self, run_id: str, after: int) -> list[Command]:
        def job(conn: Conn) -> tuple[list[Command], list[Committed]]:
            commands, changes = control.deliver_commands(conn, run_id, after)
            return commands, [Committed(run_id, changes)] if changes else []

        return await self._write(job)

    async def list_commands(self, run_id: str) -> list[Command]:
        return await self._read(lambda c: control.list_commands(c, run_id))

    async def promote(
        self, run_id: str, name: str, artifact: str | None, sha256: str, detail: dict[str, Any]
    ) -> Promotion:
        def job(conn: Conn) -> tuple[Promotion, list[Committed]]:
            promoted, changes = control.promote(conn, run_id, name, artifact, sha256, detail)
            return promoted, [Committed(run_id, changes)]

        return await self._write(job)

    async def list_promoted(self) -> list[Promotion]:
        return await self._read(control.list_promoted)

    # -- reads -----------------------------------------------------------------------------
    async def replay(self, run_id: str, since: int, limit: int) -> list[Record]:
        sql = replay_sql("%s")
        return await self._read(
            lambda conn: [
                Record(s, bytes(b))
                for s, b in conn.execute(sql, (run_id, since, limit), binary=True).fetchall()
            ]
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
            lambda conn: events.events(PostgresTx(conn), run_id, after, limit, kind, newest_first)
        )

    async def entity_events(self, run_id: str, entity: str, limit: int) -> list[EventRecord]:
        return await self._read(
            lambda conn: events.entity_events(PostgresTx(conn), run_id, entity, limit)
        )

    async def snapshot_versions(self, run_id: str, key: str) -> list[dict[str, Any]]:
        return await self._read(lambda conn: objects.snapshot_versions(conn, run_id, key))

    async def snapshot_value(self, run_id: str, key: str, version: int | None) -> Any:
        return await self._read(lambda conn: objects.snapshot_value(conn, run_id, key, version))

    async def logs(
        self, run_id: str, after: int, stream: str | None, limit: int
    ) -> list[dict[str, Any]]:
        return await self._read(lambda conn: objects.read_logs(conn, run_id, after, stream, limit))

    async def artifacts(self, run_id: str) -> list[Any]:
        return await self._read(lambda conn: objects.read_manifest(conn, run_id))

    async def sticky(self, run_id: str, kind: Literal["tables", "point_sets"]) -> dict[str, Any]:
        read = objects.tables if kind == "tables" else objects.point_sets
        return await self._read(lambda conn: read(conn, run_id))

    async def metric_keys(self, run_id: str) -> list[str]:
        return await self._read(lambda conn: queries.metric_keys(PostgresTx(conn), run_id))

    async def tails(self, run_id: str, keys: list[str], n: int) -> dict[str, Series]:
        return await self._read(lambda conn: queries.tails(PostgresTx(conn), run_id, keys, n))

    async def metrics(
        self,
        run_id: str,
        keys: list[str],
        start: float | None,
        end: float | None,
        max_points: int,
        x: Literal["step", "time"],
    ) -> MetricsResult:
        def read(conn: Conn) -> MetricsResult:
            row = conn.execute("SELECT seq FROM runs WHERE id = %s", (run_id,)).fetchone()
            series = queries.metrics(PostgresTx(conn), run_id, keys, start, end, max_points, x)
            return MetricsResult(seq=row[0] if row else 0, series=series)

        return await self._read(read)

    async def state(self, run_id: str, max_points: int, events_limit: int) -> RunState | None:
        def read(conn: Conn) -> RunState | None:
            run = records.fetch_run(conn, run_id)
            if run is None:
                return None
            tx = PostgresTx(conn)
            keys = queries.metric_keys(tx, run_id)
            metrics = queries.metrics(tx, run_id, keys, None, None, max_points, "step")
            feed = events.events(tx, run_id, 0, events_limit, None, newest_first=True)
            vital_keys = list(dict.fromkeys(run.vitals + [k for k in keys if k.startswith("sys/")]))
            return RunState(
                run=run,
                seq=run.seq,
                metrics=metrics,
                events=feed,
                vitals=queries.tails(tx, run_id, vital_keys, VITALS_HISTORY),
                tables=objects.tables(conn, run_id),
                point_sets=objects.point_sets(conn, run_id),
                snapshots=objects.snapshot_keys(conn, run_id),
            )

        return await self._read(read)

    # -- tokens ----------------------------------------------------------------------------
    async def add_token(
        self,
        token_hash: str,
        prefix: str,
        name: str | None,
        scope: str,
        project: str | None,
        expires_at: float | None,
    ) -> TokenInfo:
        def job(conn: Conn) -> tuple[TokenInfo, list[Committed]]:
            row = conn.execute(
                "INSERT INTO tokens (hash, prefix, name, scope, project, created_at, expires_at)"
                " VALUES (%s,%s,%s,%s,%s,%s,%s)"
                " RETURNING id, prefix, name, scope, project, created_at, expires_at, revoked_at",
                (token_hash, prefix, name, scope, project, time.time(), expires_at),
            ).fetchone()
            assert row is not None
            return TokenInfo(*row), []

        return await self._write(job)

    async def find_token(self, token_hash: str) -> TokenInfo | None:
        row = await self._read(
            lambda conn: conn.execute(f"{_TOKEN_SELECT} WHERE hash = %s", (token_hash,)).fetchone()
        )
        return None if row is None else TokenInfo(*row)

    async def list_tokens(self) -> list[TokenInfo]:
        rows = await self._read(
            lambda conn: conn.execute(f"{_TOKEN_SELECT} ORDER BY id").fetchall()
        )
        return [TokenInfo(*r) for r in rows]

    async def revoke_token(self, token_id: int) -> bool:
        def job(conn: Conn) -> tuple[bool, list[Committed]]:
            cursor = conn.execute(
                "UPDATE tokens SET revoked_at = %s WHERE id = %s AND revoked_at IS NULL",
                (time.time(), token_id),
            )
            return cursor.rowcount > 0, []

        return await self._write(job)

    async def count_tokens(self) -> int:
        def read(conn: Conn) -> int:
            row = conn.execute(
                "SELECT count(*) FROM tokens WHERE revoked_at IS NULL"
                " AND (expires_at IS NULL OR expires_at > %s)",
                (time.time(),),
            ).fetchone()
            return int(row[0]) if row else 0

        return await self._read(read)

    # -- retention -------------------------------------------------------------------------
    async def get_retention(self, project: str) -> Retention:
        row = await self._read(
            lambda conn: conn.execute(
                "SELECT raw_keep_steps, raw_keep_days FROM retention WHERE project = %s",
                (project,),
            ).fetchone()
        )
        return Retention() if row is None else Retention(*row)

    async def set_retention(self, project: str, rule: Retention) -> int:
        def job(conn: Conn) -> tuple[None, list[Committed]]:
            conn.execute(
                "INSERT INTO retention VALUES (%s, %s, %s) ON CONFLICT (project) DO UPDATE SET"
                " raw_keep_steps = excluded.raw_keep_steps, raw_keep_days = excluded.raw_keep_days",
                (project, rule.raw_keep_steps, rule.raw_keep_days),
            )
            return None, []

        await self._write(job)
        return await self._drop_raw(time.time(), project)

    async def apply_retention(self, now: float) -> int:
        await self._write(lambda conn: (retention.trim_journals(conn), []))
        return await self._drop_raw(now, None)

    async def _drop_raw(self, now: float, project: str | None) -> int:
        # One transaction per run: each holds only its run's lock, and briefly.
        rules = await self._read(lambda conn: retention.runs_with_rules(conn, project))
        dropped = 0
        for run_id, keep_steps, keep_days in rules:

            def job(
                conn: Conn, r: str = run_id, s: int | None = keep_steps, d: float | None = keep_days
            ) -> tuple[int, list[Committed]]:
                return retention.drop_run_raw(conn, r, s, d, now), []

            dropped += await self._write(job)
        return dropped

    async def health(self) -> dict[str, Any]:
        version = await self._read(current_version_read)
        commits = self._runner.commits if self._runner else 0
        return {"backend": "postgresql", "database": self.where(), "schema": version,
                "commits": commits, "pool": self._pool_size}  # fmt: skip


def current_version_read(conn: Conn) -> int:
    """The schema version, inside a read-only transaction (the table exists once open)."""
    row = conn.execute("SELECT max(version) FROM runwatch_schema").fetchone()
    return int(row[0]) if row and row[0] is not None else 0
