"""Run rows and the live journal: sequence allocation, status changes, server-made events.

Every function runs inside the caller's transaction. Seqs are allocated with
``UPDATE runs SET seq = seq + n … RETURNING``: where writers run in parallel (PostgreSQL), the row
lock it takes is held until commit, so writers of one run on any replica take turns, and seqs
stay gap-free and in commit order.
"""

from __future__ import annotations

import time
from typing import Any

import msgspec

from runwatch.protocol import CLOSED_STATUSES, FINAL_STATUSES
from runwatch.runs_query.nodes import STOPPED_EARLY
from runwatch.store.base import Record, RunInfo
from runwatch.store.errors import RunDeleted, RunNotFound
from runwatch.store.prepare import with_seq
from runwatch.store.sql.tx import Tx

_encode = msgspec.json.encode
_decode = msgspec.json.decode
RUN_COLUMNS = (
    "id, project, name, grp, tags, config, status, created_at, started_at, ended_at, "
    "last_update, exit_code, error, seq, summary, snapshot, heartbeat_at, heartbeat_interval, vitals, "
    "extremes, command_kinds, lost"
)
# What a RunInfo reads: the row's columns, and what it has from elsewhere (its trial's reason
# for an early stop), as the query's field computes it.
RUN_SELECT = ", ".join(f"runs.{c.strip()}" for c in RUN_COLUMNS.split(",")) + f", {STOPPED_EARLY}"
RUN_SELECTED = len(RUN_COLUMNS.split(",")) + 1  # the values RUN_SELECT reads


def json_text(value: Any) -> str:
    """A value as the JSON text a TEXT column keeps (both databases take ``str``)."""
    return _encode(value).decode()


def run_info(row: tuple[Any, ...]) -> RunInfo:
    """A ``runs`` row read with :data:`RUN_SELECT`."""
    return RunInfo(
        id=row[0],
        project=row[1],
        name=row[2],
        group=row[3],
        tags=_decode(row[4]),
        config=_decode(row[5]),
        status=row[6],
        created_at=row[7],
        started_at=row[8],
        ended_at=row[9],
        last_update=row[10],
        exit_code=row[11],
        error=row[12],
        seq=row[13],
        summary=_decode(row[14]),
        snapshot=_decode(row[15]),
        heartbeat_at=row[16],
        heartbeat=row[17],
        vitals=_decode(row[18]),
        extremes=_decode(row[19]),
        command_kinds=_decode(row[20]),
        lost=row[21],
        stopped_early=row[22],
    )


def fetch_run(tx: Tx, run_id: str) -> RunInfo | None:
    """The run, or None when there is no such run."""
    row = tx.execute(f"SELECT {RUN_SELECT} FROM runs WHERE id = ?", (run_id,)).fetchone()
    return None if row is None else run_info(row)


def lock_run(tx: Tx, run_id: str) -> str:
    """Lock the run's row until commit (writers of one run take turns); return its status.
    :class:`RunNotFound` when there is no such run."""
    row = tx.execute(
        f"SELECT status FROM runs WHERE id = ?{tx.dialect.for_update}", (run_id,)
    ).fetchone()
    if row is None:
        raise missing(tx, run_id)
    return str(row[0])


def missing(tx: Tx, run_id: str) -> RunNotFound:
    """Why there is no run ``run_id``: :class:`RunDeleted` when it was deleted (see
    ``store.sql.purge``), else :class:`RunNotFound`."""
    if tx.execute("SELECT 1 FROM deleted_runs WHERE run_id = ?", (run_id,)).fetchone():
        return RunDeleted(f"run {run_id!r} was deleted", "run")
    return RunNotFound(f"no run with id {run_id!r}", "run")


def allocate(tx: Tx, run_id: str, n: int) -> int:
    """Reserve ``n`` consecutive seqs of the run (touching its last update); return the first."""
    row = tx.execute(
        "UPDATE runs SET seq = seq + ?, last_update = ? WHERE id = ? RETURNING seq",
        (n, time.time(), run_id),
    ).fetchone()
    assert row is not None
    return int(row[0]) - n + 1


def journal(tx: Tx, run_id: str, records: list[Record]) -> None:
    """Store live records for replay (an executemany: it may join the caller's pipeline)."""
    tx.executemany(
        "INSERT INTO journal (run_id, seq, body) VALUES (?,?,?)",
        [(run_id, r.seq, r.body) for r in records],
    )


def status_change(
    tx: Tx,
    run_id: str,
    seq: int,
    state: str,
    ts: float,
    error: str | None = None,
    exit_code: int | None = None,
) -> Record:
    """Apply a status change and store it as an event; return its live record (not journaled)."""
    ended = ts if state in FINAL_STATUSES else None
    tx.execute(
        "UPDATE runs SET status=?, ended_at=?, error=coalesce(?, error), exit_code=? WHERE id=?",
        (state, ended, error, exit_code, run_id),
    )
    info = {"state": state, "error": error, "exit_code": exit_code}
    level = "error" if state in ("failed", "crashed") else "info"
    tx.execute(
        "INSERT INTO events (run_id, seq, ts, kind, level, payload) VALUES (?,?,?,'status',?,?)",
        (run_id, seq, ts, level, json_text(info)),
    )
    body = with_seq(seq, _encode({"type": "status", "ts": ts, "level": level, **info}))
    return Record(seq, body, final=state in CLOSED_STATUSES)


def server_event(tx: Tx, run_id: str, kind: str, level: str, payload: dict[str, Any]) -> Record:
    """An event the server itself records (a resumed heartbeat, a promotion, an alert):
    allocated, stored, journaled; returns its live record."""
    seq = allocate(tx, run_id, 1)
    ts = time.time()
    tx.execute(
        "INSERT INTO events (run_id, seq, ts, kind, level, payload) VALUES (?,?,?,?,?,?)",
        (run_id, seq, ts, kind, level, json_text(payload)),
    )
    event = {"ts": ts, "kind": kind, "level": level, "entity": None, "payload": payload}
    record = Record(seq, with_seq(seq, _encode({"type": "event", "event": event})))
    journal(tx, run_id, [record])
    return record


def live_message(tx: Tx, run_id: str, message: dict[str, Any]) -> Record:
    """A journaled live message that is not an event (e.g. a command's new state)."""
    seq = allocate(tx, run_id, 1)
    record = Record(seq, with_seq(seq, _encode(message)))
    journal(tx, run_id, [record])
    return record
