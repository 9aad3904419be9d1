"""The run queue on the writer thread: templated runs wait in ``run_queue``, oldest first.

Only the server writes ``run_queue`` (the submit route), so it is the authority on what may be
launched: a producer that sets its own run's status to ``queued`` or writes a ``template`` into
its snapshot starts nothing. The scheduler claims the oldest waiting run when fewer than
``max_running`` queued-and-started runs are running. It all lives in the store, so the queue
survives a server restart.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

import msgspec

from runwatch.protocol import RunCreate
from runwatch.store.base import IngestError, QueuedRun, Record, RunInfo
from runwatch.store.sqlite import records

_encode = msgspec.json.encode
# Runs waiting to start at once; past it a submission is refused (422) until some start or go.
MAX_WAITING = 1000


def queue_full() -> IngestError:
    """The answer to a submission past :data:`MAX_WAITING` (every backend gives the same)."""
    return IngestError(
        422, "limit_exceeded",
        f"the run queue is full (max_waiting={MAX_WAITING}): cancel some or wait", "queue",
    )  # fmt: skip


def enqueue(
    conn: sqlite3.Connection, run_id: str, spec: RunCreate, template: str, params: dict[str, Any]
) -> tuple[RunInfo, Record]:
    """Create a run in status ``queued`` (not started, no heartbeat expected yet)."""
    (waiting,) = conn.execute(
        "SELECT count(*) FROM run_queue q JOIN runs r ON r.id = q.run_id"
        " WHERE q.started_at IS NULL AND r.status = 'queued'"
    ).fetchone()
    if waiting >= MAX_WAITING:
        raise queue_full()
    now = time.time()
    conn.execute(
        f"INSERT INTO runs ({records.RUN_COLUMNS}) VALUES"
        " (?,?,?,?,?,?,'queued',?,NULL,NULL,?,NULL,NULL,1,'{}',?,NULL,?,'[]')",
        (run_id, spec.project, spec.name or f"run-{run_id[:6]}", spec.group,
         _encode(spec.tags).decode(), _encode(spec.config).decode(), now, now,
         _encode(spec.snapshot).decode(), spec.heartbeat),
    )  # fmt: skip
    conn.execute(
        "INSERT INTO run_queue (run_id, template, params, queued_at) VALUES (?,?,?,?)",
        (run_id, template, _encode(params).decode(), now),
    )
    record = records.status_change(conn, run_id, 1, "queued", now)
    records.journal(conn, run_id, [record])
    run = records.fetch_run(conn, run_id)
    assert run is not None
    return run, record


def claim(conn: sqlite3.Connection, max_running: int) -> tuple[QueuedRun, Record] | None:
    """The oldest waiting run, now ``running``, if a slot is free (else None)."""
    # Runs cancelled while they waited leave the queue (they will never start).
    conn.execute(
        "DELETE FROM run_queue WHERE started_at IS NULL"
        " AND run_id IN (SELECT id FROM runs WHERE status != 'queued')"
    )
    (running,) = conn.execute(
        "SELECT count(*) FROM runs r JOIN run_queue q ON q.run_id = r.id WHERE r.status = 'running'"
    ).fetchone()
    if running >= max_running:
        return None
    row = conn.execute(
        "SELECT run_id, template, params FROM run_queue WHERE started_at IS NULL"
        " ORDER BY queued_at, rowid LIMIT 1"
    ).fetchone()
    if row is None:
        return None
    run_id, template, params = row
    now = time.time()
    conn.execute("UPDATE run_queue SET started_at = ? WHERE run_id = ?", (now, run_id))
    # The launcher has three heartbeats' time from now to speak before the run is crashed.
    conn.execute(
        "UPDATE runs SET started_at = ?, heartbeat_at = ? WHERE id = ?", (now, now, run_id)
    )
    seq = records.allocate(conn, run_id, 1)
    record = records.status_change(conn, run_id, seq, "running", now)
    records.journal(conn, run_id, [record])
    run = records.fetch_run(conn, run_id)
    assert run is not None
    return QueuedRun(run, template, msgspec.json.decode(params)), record
