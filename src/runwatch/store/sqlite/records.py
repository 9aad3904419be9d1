"""Run rows and the live journal: sequence allocation, status changes, server-made events.

Every function runs on the writer thread inside the current transaction.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

import msgspec

from runwatch.protocol import FINAL_STATUSES
from runwatch.store.base import IngestError, Record, RunInfo
from runwatch.store.prepare import with_seq

_encode = msgspec.json.encode
RUN_COLUMNS = (
    "id, project, name, grp, tags, config, status, created_at, started_at, ended_at, "
    "last_update, exit_code, error, seq, summary, snapshot, heartbeat_at, heartbeat_interval, vitals"
)


def run_info(row: tuple[Any, ...]) -> RunInfo:
    decode = msgspec.json.decode
    return RunInfo(
        id=row[0],
        project=row[1],
        name=row[2],
        group=row[3],
        tags=decode(row[4]),
        config=decode(row[5]),
        status=row[6],
        created_at=row[7],
        started_at=row[8],
        ended_at=row[9],
        last_update=row[10],
        exit_code=row[11],
        error=row[12],
        seq=row[13],
        summary=decode(row[14]),
        snapshot=decode(row[15]),
        heartbeat_at=row[16],
        heartbeat=row[17],
        vitals=decode(row[18]),
    )


def fetch_run(conn: sqlite3.Connection, run_id: str) -> RunInfo | None:
    row = conn.execute(f"SELECT {RUN_COLUMNS} FROM runs WHERE id = ?", (run_id,)).fetchone()
    return None if row is None else run_info(row)


def run_status(conn: sqlite3.Connection, run_id: str) -> str:
    """The run's status; 404 when there is no such run."""
    row = conn.execute("SELECT status FROM runs WHERE id = ?", (run_id,)).fetchone()
    if row is None:
        raise IngestError(404, "run_not_found", f"no run with id {run_id!r}", "run")
    return str(row[0])


def allocate(conn: sqlite3.Connection, run_id: str, n: int) -> int:
    """Reserve ``n`` consecutive seqs of the run (touching its last update); return the first."""
    (last,) = conn.execute(
        "UPDATE runs SET seq = seq + ?, last_update = ? WHERE id = ? RETURNING seq",
        (n, time.time(), run_id),
    ).fetchone()
    return int(last) - n + 1


def journal(conn: sqlite3.Connection, run_id: str, records: list[Record]) -> None:
    conn.executemany(
        "INSERT INTO journal VALUES (?,?,?)", [(run_id, r.seq, r.body) for r in records]
    )


def status_change(
    conn: sqlite3.Connection,
    run_id: str,
    seq: int,
    state: str,
    ts: float,
    error: str | None = None,
    exit_code: int | None = None,
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
        "INSERT INTO events (run_id, seq, ts, kind, level, payload) VALUES (?,?,?,'status',?,?)",
        (run_id, seq, ts, level, _encode(info)),
    )
    body = with_seq(seq, _encode({"type": "status", "ts": ts, "level": level, **info}))
    return Record(seq, body, final=state in FINAL_STATUSES)


def server_event(
    conn: sqlite3.Connection, run_id: str, kind: str, level: str, payload: dict[str, Any]
) -> Record:
    """An event the server itself records (a resumed heartbeat, a command's progress):
    allocated, stored, journaled; returns its live record."""
    seq = allocate(conn, run_id, 1)
    ts = time.time()
    conn.execute(
        "INSERT INTO events (run_id, seq, ts, kind, level, payload) VALUES (?,?,?,?,?,?)",
        (run_id, seq, ts, kind, level, _encode(payload)),
    )
    event = {"ts": ts, "kind": kind, "level": level, "entity": None, "payload": payload}
    record = Record(seq, with_seq(seq, _encode({"type": "event", "event": event})))
    journal(conn, run_id, [record])
    return record


def live_message(conn: sqlite3.Connection, run_id: str, message: dict[str, Any]) -> Record:
    """A journaled live message that is not an event (e.g. a command's new state)."""
    seq = allocate(conn, run_id, 1)
    record = Record(seq, with_seq(seq, _encode(message)))
    journal(conn, run_id, [record])
    return record
