"""Run rows and the live journal on PostgreSQL: sequence allocation, status changes, server-made
events. The same jobs as ``store.sqlite.records``, in PostgreSQL's dialect.

Every function runs inside the caller's transaction. Seqs are allocated with
``UPDATE runs SET seq = seq + n … RETURNING``: the row lock it takes is held until commit, so
writers of one run on any replica take turns, and seqs stay gap-free and in commit order.
"""

from __future__ import annotations

import time
from typing import Any

import msgspec
import psycopg

from runwatch.protocol import FINAL_STATUSES
from runwatch.store.base import IngestError, Record, RunInfo
from runwatch.store.prepare import with_seq
from runwatch.store.sqlite.records import RUN_COLUMNS, run_info

__all__ = ["RUN_COLUMNS", "run_info"]
_encode = msgspec.json.encode
Conn = psycopg.Connection[tuple[Any, ...]]


def fetch_run(conn: Conn, run_id: str) -> RunInfo | None:
    row = conn.execute(f"SELECT {RUN_COLUMNS} FROM runs WHERE id = %s", (run_id,)).fetchone()
    return None if row is None else run_info(row)


def lock_run(conn: Conn, run_id: str) -> str:
    """Lock the run's row until commit (writers of one run take turns); return its status.
    404 when there is no such run."""
    row = conn.execute("SELECT status FROM runs WHERE id = %s FOR UPDATE", (run_id,)).fetchone()
    if row is None:
        raise IngestError(404, "run_not_found", f"no run with id {run_id!r}", "run")
    return str(row[0])


def allocate(conn: Conn, run_id: str, n: int) -> int:
    """Reserve ``n`` consecutive seqs of the run (touching its last update); return the first."""
    row = conn.execute(
        "UPDATE runs SET seq = seq + %s, last_update = %s WHERE id = %s RETURNING seq",
        (n, time.time(), run_id),
    ).fetchone()
    assert row is not None
    return int(row[0]) - n + 1


def journal(conn: Conn, run_id: str, records: list[Record]) -> None:
    """Store live records for replay (an executemany: it may join the caller's pipeline)."""
    conn.cursor().executemany(
        "INSERT INTO journal VALUES (%s,%s,%s)", [(run_id, r.seq, r.body) for r in records]
    )


def status_change(
    conn: Conn,
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
        "UPDATE runs SET status=%s, ended_at=%s, error=coalesce(%s, error), exit_code=%s"
        " WHERE id=%s",
        (state, ended, error, exit_code, run_id),
    )
    info = {"state": state, "error": error, "exit_code": exit_code}
    level = "error" if state in ("failed", "crashed") else "info"
    conn.execute(
        "INSERT INTO events (run_id, seq, ts, kind, level, payload)"
        " VALUES (%s,%s,%s,'status',%s,%s)",
        (run_id, seq, ts, level, _encode(info).decode()),
    )
    body = with_seq(seq, _encode({"type": "status", "ts": ts, "level": level, **info}))
    return Record(seq, body, final=state in FINAL_STATUSES)


def server_event(conn: Conn, run_id: str, kind: str, level: str, payload: dict[str, Any]) -> Record:
    """An event the server itself records (a resumed heartbeat, a promotion): allocated,
    stored, journaled; returns its live record."""
    seq = allocate(conn, run_id, 1)
    ts = time.time()
    conn.execute(
        "INSERT INTO events (run_id, seq, ts, kind, level, payload) VALUES (%s,%s,%s,%s,%s,%s)",
        (run_id, seq, ts, kind, level, _encode(payload).decode()),
    )
    event = {"ts": ts, "kind": kind, "level": level, "entity": None, "payload": payload}
    record = Record(seq, with_seq(seq, _encode({"type": "event", "event": event})))
    journal(conn, run_id, [record])
    return record


def live_message(conn: Conn, run_id: str, message: dict[str, Any]) -> Record:
    """A journaled live message that is not an event (e.g. a command's new state)."""
    seq = allocate(conn, run_id, 1)
    record = Record(seq, with_seq(seq, _encode(message)))
    journal(conn, run_id, [record])
    return record
