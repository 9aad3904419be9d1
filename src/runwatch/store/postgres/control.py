"""Run lifecycle and control on PostgreSQL: heartbeats, crash detection, commands, promotion.
The same jobs as ``store.sqlite.control``; each runs inside the caller's transaction and returns
the live records it journaled."""

from __future__ import annotations

import time
from typing import Any

import msgspec

from runwatch.protocol import Command
from runwatch.store.base import IngestError, Promotion, Record
from runwatch.store.postgres import records
from runwatch.store.postgres.records import Conn
from runwatch.store.sqlite.control import COMMANDS_LISTED, MISSED_HEARTBEATS, command, promotion

_encode = msgspec.json.encode
_COMMAND_COLUMNS = "id, kind, payload, state, created_at, updated_at, error"


def heard_from(conn: Conn, run_id: str, status: str) -> list[Record]:
    """The producer spoke (a batch or a heartbeat): note the time; a run declared crashed comes
    back to running, and that is recorded. The caller holds the run's lock."""
    now = time.time()
    conn.execute("UPDATE runs SET heartbeat_at = %s WHERE id = %s", (now, run_id))
    if status != "crashed":
        return []
    out = [records.server_event(conn, run_id, "heartbeat.resumed", "warning", {"after": "crashed"})]
    seq = records.allocate(conn, run_id, 1)
    out.append(records.status_change(conn, run_id, seq, "running", now))
    conn.execute("UPDATE runs SET error = NULL WHERE id = %s", (run_id,))
    records.journal(conn, run_id, out[1:])
    return out


def sweep_crashed(conn: Conn, now: float) -> dict[str, list[Record]]:
    """Running runs whose producer went silent for MISSED_HEARTBEATS intervals: crashed.

    Rows another replica is writing are skipped (SKIP LOCKED): that writer is either a producer
    proving the run alive, or another sweeper doing the same job; both replicas sweep safely.
    """
    silent = conn.execute(
        "SELECT id, heartbeat_interval, heartbeat_at FROM runs WHERE status = 'running'"
        " AND heartbeat_at < %s - %s * heartbeat_interval ORDER BY id FOR UPDATE SKIP LOCKED",
        (now, MISSED_HEARTBEATS),
    ).fetchall()
    out: dict[str, list[Record]] = {}
    for run_id, interval, last in silent:
        seq = records.allocate(conn, run_id, 1)
        error = f"no heartbeat for {now - last:.0f} s (expected every {interval:g} s)"
        record = records.status_change(conn, run_id, seq, "crashed", now, error)
        records.journal(conn, run_id, [record])
        out[run_id] = [record]
    return out


def add_command(
    conn: Conn, run_id: str, kind: str, payload: dict[str, Any]
) -> tuple[Command, list[Record]]:
    """Store a command for the producer; cancelling a queued run cancels it at once."""
    status = records.lock_run(conn, run_id)
    if status not in ("queued", "running", "crashed"):
        raise IngestError(409, "run_finished", f"run {run_id!r} is {status}: nothing to command")
    row = conn.execute(
        "SELECT coalesce(max(id), 0) FROM commands WHERE run_id = %s", (run_id,)
    ).fetchone()
    assert row is not None
    now = time.time()
    cmd = Command(int(row[0]) + 1, kind, payload, "pending", now, now)
    conn.execute(
        "INSERT INTO commands VALUES (%s,%s,%s,%s,%s,%s,%s,NULL)",
        (run_id, cmd.id, kind, _encode(payload).decode(), "pending", now, now),
    )
    out = [records.live_message(conn, run_id, {"type": "command", "command": cmd})]
    if kind == "cancel" and status == "queued":
        out += set_command_state(conn, run_id, cmd.id, "applied", None, now)
        seq = records.allocate(conn, run_id, 1)
        out.append(
            records.status_change(conn, run_id, seq, "cancelled", now, "cancelled while queued")
        )
        records.journal(conn, run_id, out[-1:])
        cmd.state = "applied"
    return cmd, out


def deliver_commands(conn: Conn, run_id: str, after: int) -> tuple[list[Command], list[Record]]:
    """Commands after ``after`` the producer has not reported on; pending ones become delivered
    (see ``store.sqlite.control.deliver_commands``)."""
    records.lock_run(conn, run_id)
    rows = conn.execute(
        f"SELECT {_COMMAND_COLUMNS} FROM commands WHERE run_id = %s AND id > %s"
        " AND state IN ('pending', 'delivered') ORDER BY id",
        (run_id, after),
    ).fetchall()
    commands = [command(r) for r in rows]
    out: list[Record] = []
    now = time.time()
    for cmd in commands:
        if cmd.state == "pending":
            out += set_command_state(conn, run_id, cmd.id, "delivered", None, now)
            cmd.state = "delivered"
    return commands, out


def set_command_state(
    conn: Conn, run_id: str, cmd_id: int, state: str, error: str | None, now: float
) -> list[Record]:
    """Move a command forward (pending → delivered → applied | failed); never backwards."""
    allowed = ["pending"] if state == "delivered" else ["pending", "delivered"]
    row = conn.execute(
        "UPDATE commands SET state = %s, error = %s, updated_at = %s"
        f" WHERE run_id = %s AND id = %s AND state = ANY(%s) RETURNING {_COMMAND_COLUMNS}",
        (state, error, now, run_id, cmd_id, allowed),
    ).fetchone()
    if row is None:
        return []
    return [records.live_message(conn, run_id, {"type": "command", "command": command(row)})]


def list_commands(conn: Conn, run_id: str) -> list[Command]:
    rows = conn.execute(
        f"SELECT {_COMMAND_COLUMNS} FROM commands WHERE run_id = %s ORDER BY id DESC LIMIT %s",
        (run_id, COMMANDS_LISTED),
    ).fetchall()
    return [command(r) for r in rows]


_PROMOTION_SELECT = (
    "SELECT p.id, p.run_id, r.name, r.project, p.name, p.artifact, p.sha256, p.created_at,"
    " p.detail FROM promotions p JOIN runs r ON r.id = p.run_id"
)


def promote(
    conn: Conn, run_id: str, name: str, artifact: str | None, sha256: str, detail: dict[str, Any]
) -> tuple[Promotion, list[Record]]:
    """Record a promotion of a succeeded run (anything else is refused: 409)."""
    status = records.lock_run(conn, run_id)
    if status != "succeeded":
        raise IngestError(
            409, "not_promotable", f"only succeeded runs can be promoted; this run is {status}"
        )
    inserted = conn.execute(
        "INSERT INTO promotions (run_id, name, artifact, sha256, created_at, detail)"
        " VALUES (%s,%s,%s,%s,%s,%s) RETURNING id",
        (run_id, name, artifact, sha256, time.time(), _encode(detail).decode()),
    ).fetchone()
    assert inserted is not None
    row = conn.execute(f"{_PROMOTION_SELECT} WHERE p.id = %s", (inserted[0],)).fetchone()
    assert row is not None
    payload = {"name": name, "artifact": artifact, "sha256": sha256}
    return promotion(row), [records.server_event(conn, run_id, "promoted", "info", payload)]


def list_promoted(conn: Conn, limit: int = 1000) -> list[Promotion]:
    rows = conn.execute(f"{_PROMOTION_SELECT} ORDER BY p.id DESC LIMIT %s", (limit,)).fetchall()
    return [promotion(r) for r in rows]
