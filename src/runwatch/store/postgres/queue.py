"""The run queue on PostgreSQL: the same jobs as ``store.sqlite.queue``, safe across replicas.

Every replica runs a scheduler, so queue jobs take one transaction-scoped advisory lock first:
two replicas never count the same free slot or claim the same run. A claim then locks the run's
row (as every writer of a run does) and re-reads its status, so a run cancelled while the claim
looked at it is dropped from the queue, never started.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec

from runwatch.protocol import RunCreate
from runwatch.store.base import Committed, IngestError, QueuedRun, Record, RunInfo
from runwatch.store.postgres import records
from runwatch.store.postgres.records import Conn
from runwatch.store.sqlite.queue import MAX_WAITING, queue_full

T = TypeVar("T")
_encode = msgspec.json.encode
# pg_advisory_xact_lock key: "rwqueue!" in ASCII (the schema's lock is "runwatch").
_QUEUE_LOCK = 0x7277717565756521


def _text(value: Any) -> str:
    return _encode(value).decode()


def enqueue(
    conn: Conn, run_id: str, spec: RunCreate, template: str, params: dict[str, Any]
) -> tuple[RunInfo, Record]:
    """Create a run in status ``queued`` (not started, no heartbeat expected yet)."""
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (_QUEUE_LOCK,))
    row = conn.execute(
        "SELECT count(*) FROM run_queue q JOIN runs r ON r.id = q.run_id"
        " WHERE q.started_at IS NULL AND r.status = 'queued'"
    ).fetchone()
    if row is not None and row[0] >= MAX_WAITING:
        raise queue_full()
    now = time.time()
    created = conn.execute(
        f"INSERT INTO runs ({records.RUN_COLUMNS}) VALUES (%s,%s,%s,%s,%s,%s,'queued',"
        "%s,NULL,NULL,%s,NULL,NULL,1,'{}',%s,NULL,%s,'[]') ON CONFLICT (id) DO NOTHING RETURNING id",
        (run_id, spec.project, spec.name or f"run-{run_id[:6]}", spec.group, _text(spec.tags),
         _text(spec.config), now, now, _text(spec.snapshot), spec.heartbeat),
    ).fetchone()  # fmt: skip
    if created is None:
        raise IngestError(409, "run_exists", f"run {run_id!r} exists", "$.id")
    conn.execute(
        "INSERT INTO run_queue (run_id, template, params, queued_at) VALUES (%s,%s,%s,%s)",
        (run_id, template, _text(params), now),
    )
    record = records.status_change(conn, run_id, 1, "queued", now)
    records.journal(conn, run_id, [record])
    run = records.fetch_run(conn, run_id)
    assert run is not None
    return run, record


def claim(conn: Conn, max_running: int) -> tuple[QueuedRun, Record] | None:
    """The oldest waiting run, now ``running``, if a slot is free (else None)."""
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (_QUEUE_LOCK,))
    # Runs cancelled while they waited leave the queue (they will never start).
    conn.execute(
        "DELETE FROM run_queue q USING runs r WHERE q.run_id = r.id AND q.started_at IS NULL"
        " AND r.status != 'queued'"
    )
    row = conn.execute(
        "SELECT count(*) FROM runs r JOIN run_queue q ON q.run_id = r.id WHERE r.status = 'running'"
    ).fetchone()
    if row is not None and row[0] >= max_running:
        return None
    while True:
        waiting = conn.execute(
            "SELECT run_id, template, params FROM run_queue WHERE started_at IS NULL"
            " ORDER BY queued_at, id LIMIT 1"
        ).fetchone()
        if waiting is None:
            return None
        run_id, template, params = waiting
        if records.lock_run(conn, run_id) == "queued":
            break
        # Cancelled after the sweep above, before we held its row.
        conn.execute("DELETE FROM run_queue WHERE run_id = %s", (run_id,))
    now = time.time()
    conn.execute("UPDATE run_queue SET started_at = %s WHERE run_id = %s", (now, run_id))
    # The launcher has three heartbeats' time from now to speak before the run is crashed.
    conn.execute(
        "UPDATE runs SET started_at = %s, heartbeat_at = %s WHERE id = %s", (now, now, run_id)
    )
    seq = records.allocate(conn, run_id, 1)
    record = records.status_change(conn, run_id, seq, "running", now)
    records.journal(conn, run_id, [record])
    run = records.fetch_run(conn, run_id)
    assert run is not None
    return QueuedRun(run, template, msgspec.json.decode(params)), record


class PostgresQueue:
    """The run queue methods of the Store protocol, for the PostgreSQL store."""

    if TYPE_CHECKING:

        async def _write(self, job: Callable[[Conn], tuple[T, list[Committed]]]) -> T: ...

    async def enqueue_run(self, spec: RunCreate, template: str, params: dict[str, Any]) -> RunInfo:
        run_id = spec.id or secrets.token_hex(6)

        def job(conn: Conn) -> tuple[RunInfo, list[Committed]]:
            run, record = enqueue(conn, run_id, spec, template, params)
            return run, [Committed(run_id, [record])]

        return await self._write(job)

    async def claim_queued(self, max_running: int) -> QueuedRun | None:
        def job(conn: Conn) -> tuple[QueuedRun | None, list[Committed]]:
            claimed = claim(conn, max_running)
            if claimed is None:
                return None, []
            queued, record = claimed
            return queued, [Committed(queued.run.id, [record])]

        return await self._write(job)
