"""The run queue: templated runs wait in ``run_queue``, oldest first.

Only the server writes ``run_queue`` (the submit route), so it is the authority on what may be
launched: a producer that sets its own run's status to ``queued`` or writes a ``template`` into
its snapshot starts nothing. The scheduler claims the oldest waiting run when fewer than
``max_running`` queued-and-started runs are running. It all lives in the store, so the queue
survives a server restart.

Where every replica runs a scheduler (PostgreSQL), queue jobs take the dialect's
transaction-scoped lock first: two replicas never count the same free slot or claim the same
run. A claim then locks the run's row (as every writer of a run does) and re-reads its status,
so a run cancelled while the claim looked at it is dropped from the queue, never started.
"""

from __future__ import annotations

import time
from typing import Any

import msgspec

from runwatch.protocol import RunCreate
from runwatch.store.base import QueuedRun, Record, RunInfo
from runwatch.store.errors import LimitExceeded, RunExists
from runwatch.store.sql import purge, records, runs
from runwatch.store.sql.records import json_text
from runwatch.store.sql.tx import Tx

# Runs waiting to start at once; past it a submission is refused (422) until some start or go.
MAX_WAITING = 1000
# The queue's lock key: "rwqueue!" in ASCII (the PostgreSQL schema's lock is "runwatch").
_QUEUE_LOCK = 0x7277717565756521


def queue_full() -> LimitExceeded:
    """The answer to a submission past :data:`MAX_WAITING`."""
    return LimitExceeded(
        f"the run queue is full (max_waiting={MAX_WAITING}): cancel some or wait", "queue"
    )


def _lock_queue(tx: Tx) -> None:
    if tx.dialect.xact_lock:
        tx.execute(tx.dialect.xact_lock, (_QUEUE_LOCK,))


def enqueue(
    tx: Tx, run_id: str, spec: RunCreate, template: str, params: dict[str, Any]
) -> tuple[RunInfo, Record]:
    """Create a run in status ``queued`` (not started, no heartbeat expected yet)."""
    _lock_queue(tx)
    (waiting,) = tx.execute(
        "SELECT count(*) FROM run_queue q JOIN runs r ON r.id = q.run_id"
        " WHERE q.started_at IS NULL AND r.status = 'queued'"
    ).fetchone()
    if waiting >= MAX_WAITING:
        raise queue_full()
    now = time.time()
    created = tx.execute(
        f"INSERT INTO runs ({records.RUN_COLUMNS}) VALUES (?,?,?,?,?,?,'queued',"
        "?,NULL,NULL,?,NULL,NULL,1,'{}',?,NULL,?,'[]','{}','[]',0) ON CONFLICT (id) DO NOTHING RETURNING id",
        (run_id, spec.project, spec.name or runs.default_name(run_id), spec.group, json_text(spec.tags),
         json_text(spec.config), now, now, json_text(spec.snapshot), spec.heartbeat),
    ).fetchone()  # fmt: skip
    if created is None:
        raise RunExists(f"run {run_id!r} exists", "$.id")
    purge.reusing(tx, run_id)
    tx.execute(
        "INSERT INTO run_queue (run_id, template, params, queued_at) VALUES (?,?,?,?)",
        (run_id, template, json_text(params), now),
    )
    record = records.status_change(tx, run_id, 1, "queued", now)
    records.journal(tx, run_id, [record])
    run = records.fetch_run(tx, run_id)
    assert run is not None
    return run, record


def claim(tx: Tx, max_running: int) -> tuple[QueuedRun, Record] | None:
    """The oldest waiting run, now ``running``, if a slot is free (else None)."""
    _lock_queue(tx)
    # Runs cancelled while they waited leave the queue (they will never start).
    tx.execute(
        "DELETE FROM run_queue WHERE started_at IS NULL"
        " AND run_id IN (SELECT id FROM runs WHERE status != 'queued')"
    )
    (running,) = tx.execute(
        "SELECT count(*) FROM runs r JOIN run_queue q ON q.run_id = r.id WHERE r.status = 'running'"
    ).fetchone()
    if running >= max_running:
        return None
    while True:
        waiting = tx.execute(
            "SELECT run_id, template, params FROM run_queue WHERE started_at IS NULL"
            f" ORDER BY queued_at, {tx.dialect.insert_order} LIMIT 1"
        ).fetchone()
        if waiting is None:
            return None
        run_id, template, params = waiting
        if records.lock_run(tx, run_id) == "queued":
            break
        # Cancelled after the sweep above, before we held its row.
        tx.execute("DELETE FROM run_queue WHERE run_id = ?", (run_id,))
    now = time.time()
    tx.execute("UPDATE run_queue SET started_at = ? WHERE run_id = ?", (now, run_id))
    # The launcher has three heartbeats' time from now to speak before the run is crashed.
    tx.execute("UPDATE runs SET started_at = ?, heartbeat_at = ? WHERE id = ?", (now, now, run_id))
    seq = records.allocate(tx, run_id, 1)
    record = records.status_change(tx, run_id, seq, "running", now)
    records.journal(tx, run_id, [record])
    run = records.fetch_run(tx, run_id)
    assert run is not None
    return QueuedRun(run, template, msgspec.json.decode(params)), record
