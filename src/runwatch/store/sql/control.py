"""Run lifecycle and control: heartbeats, crash detection, commands, promotion.

Each function runs inside the caller's transaction and returns the live records it journaled.
A run's writers take its row lock first (``records.lock_run``), so on PostgreSQL concurrent
replicas take turns on one run.
"""

from __future__ import annotations

import time
from typing import Any

import msgspec

from runwatch.protocol import Command
from runwatch.store.base import Promotion, Record
from runwatch.store.errors import Conflict, RunFinished
from runwatch.store.sql import records, values
from runwatch.store.sql.records import json_text
from runwatch.store.sql.tx import Tx

# Silent for this many heartbeat intervals, a running run is declared crashed.
MISSED_HEARTBEATS = 3
COMMANDS_LISTED = 200
# Idempotency keys a run keeps: its newest commands' (a retry of an older one is a new command).
MAX_COMMAND_KEYS = 1_000
_COMMAND_COLUMNS = "id, kind, payload, state, created_at, updated_at, error"
_PROMOTION_SELECT = (
    "SELECT p.id, p.run_id, r.name, r.project, p.name, p.artifact, p.sha256, p.created_at,"
    " p.detail FROM promotions p JOIN runs r ON r.id = p.run_id"
)


def command(row: tuple[Any, ...]) -> Command:
    """A ``commands`` row read with its command columns."""
    return Command(row[0], row[1], msgspec.json.decode(row[2]), row[3], row[4], row[5], row[6])


def promotion(row: tuple[Any, ...]) -> Promotion:
    """A promotion row read with its run's name and project."""
    pid, run_id, run_name, project, name, artifact, sha256, created_at, detail = row
    decoded = msgspec.json.decode(detail)
    return Promotion(pid, run_id, run_name, project, name, artifact, sha256, created_at, decoded)


def heard_from(tx: Tx, run_id: str, status: str) -> list[Record]:
    """The producer spoke (a batch or a heartbeat): note the time; a run declared crashed comes
    back to running, and that is recorded, not silently ignored. The caller holds the run's lock."""
    now = time.time()
    tx.execute("UPDATE runs SET heartbeat_at = ? WHERE id = ?", (now, run_id))
    if status != "crashed":
        return []
    out = [records.server_event(tx, run_id, "heartbeat.resumed", "warning", {"after": "crashed"})]
    seq = records.allocate(tx, run_id, 1)
    out.append(records.status_change(tx, run_id, seq, "running", now))
    tx.execute("UPDATE runs SET error = NULL WHERE id = ?", (run_id,))
    values.reindex(tx, run_id)
    records.journal(tx, run_id, out[1:])
    return out


def sweep_crashed(tx: Tx, now: float, listening_since: float = 0.0) -> dict[str, list[Record]]:
    """Running runs whose producer went silent for MISSED_HEARTBEATS intervals while this
    sweeper could hear it (since ``listening_since``): crashed.

    A server that was down or hung could not hear anyone: counting that time would crash runs
    whose producers are retrying, so both the last heartbeat and ``listening_since`` must be
    that old. Rows another writer holds are skipped (``skip_locked``): that writer is either a
    producer proving the run alive, or another sweeper doing the same job; every replica sweeps
    safely.
    """
    silent = tx.execute(
        "SELECT id, heartbeat_interval, heartbeat_at FROM runs WHERE status = 'running'"
        " AND heartbeat_at < ? - ? * heartbeat_interval AND ? < ? - ? * heartbeat_interval"
        f" ORDER BY id{tx.dialect.skip_locked}",
        (now, MISSED_HEARTBEATS, listening_since, now, MISSED_HEARTBEATS),
    ).fetchall()
    out: dict[str, list[Record]] = {}
    for run_id, interval, last in silent:
        seq = records.allocate(tx, run_id, 1)
        error = f"no heartbeat for {now - last:.0f} s (expected every {interval:g} s)"
        record = records.status_change(tx, run_id, seq, "crashed", now, error)
        values.reindex(tx, run_id)
        records.journal(tx, run_id, [record])
        out[run_id] = [record]
    return out


def add_command(
    tx: Tx, run_id: str, kind: str, payload: dict[str, Any], key: str | None = None
) -> tuple[Command, bool, list[Record]]:
    """Store a command for the producer; cancelling a queued run cancels it at once.

    With an idempotency ``key`` one of the run's newest MAX_COMMAND_KEYS commands already took,
    that command is answered as it is now (``False``: nothing new), even once the run has
    ended; the same key with another kind or payload is refused (409).
    """
    status = records.lock_run(tx, run_id)
    if key is not None:
        row = tx.execute(
            f"SELECT {_COMMAND_COLUMNS} FROM commands WHERE run_id = ? AND idem_key = ?",
            (run_id, key),
        ).fetchone()
        if row is not None:
            earlier = command(row)
            if earlier.kind != kind or earlier.payload != payload:
                raise Conflict(
                    f"Idempotency-Key {key!r} was used for another command ({earlier.kind}"
                    f" #{earlier.id}); use a new key for a new command",
                    code="idempotency_key_reused",
                    field="Idempotency-Key",
                )
            return earlier, False, []
    if status not in ("queued", "running", "crashed"):
        raise RunFinished(f"run {run_id!r} is {status}: nothing to command")
    row = tx.execute(
        "SELECT coalesce(max(id), 0) FROM commands WHERE run_id = ?", (run_id,)
    ).fetchone()
    now = time.time()
    cmd = Command(int(row[0]) + 1, kind, payload, "pending", now, now)
    tx.execute(
        f"INSERT INTO commands (run_id, {_COMMAND_COLUMNS}, idem_key)"
        " VALUES (?,?,?,?,?,?,?,NULL,?)",
        (run_id, cmd.id, kind, json_text(payload), "pending", now, now, key),
    )
    # Ids are dense, so this keeps the keys of the newest MAX_COMMAND_KEYS commands only.
    tx.execute(
        "UPDATE commands SET idem_key = NULL WHERE run_id = ? AND id = ? AND idem_key IS NOT NULL",
        (run_id, cmd.id - MAX_COMMAND_KEYS),
    )
    out = [records.live_message(tx, run_id, {"type": "command", "command": cmd})]
    if kind == "cancel" and status == "queued":
        out += set_command_state(tx, run_id, cmd.id, "applied", None, now)
        seq = records.allocate(tx, run_id, 1)
        out.append(
            records.status_change(tx, run_id, seq, "cancelled", now, "cancelled while queued")
        )
        values.reindex(tx, run_id)
        records.journal(tx, run_id, out[-1:])
        cmd.state = "applied"
    return cmd, True, out


def deliver_commands(tx: Tx, run_id: str, after: int) -> tuple[list[Command], list[Record]]:
    """Commands after ``after`` the producer has not reported on; pending ones become delivered.

    A producer asks again with the same ``after`` until it has seen them, so a lost answer only
    means they are sent again; it applies each id once.
    """
    records.lock_run(tx, run_id)
    rows = tx.execute(
        f"SELECT {_COMMAND_COLUMNS} FROM commands WHERE run_id = ? AND id > ?"
        " AND state IN ('pending', 'delivered') ORDER BY id",
        (run_id, after),
    ).fetchall()
    commands = [command(r) for r in rows]
    out: list[Record] = []
    now = time.time()
    for cmd in commands:
        if cmd.state == "pending":
            out += set_command_state(tx, run_id, cmd.id, "delivered", None, now)
            cmd.state = "delivered"
    return commands, out


def set_command_state(
    tx: Tx, run_id: str, cmd_id: int, state: str, error: str | None, now: float
) -> list[Record]:
    """Move a command forward (pending → delivered → applied | failed); never backwards."""
    allowed = ("pending",) if state == "delivered" else ("pending", "delivered")
    marks = ",".join("?" * len(allowed))
    row = tx.execute(
        "UPDATE commands SET state = ?, error = ?, updated_at = ?"
        f" WHERE run_id = ? AND id = ? AND state IN ({marks}) RETURNING {_COMMAND_COLUMNS}",
        (state, error, now, run_id, cmd_id, *allowed),
    ).fetchone()
    if row is None:
        return []
    return [records.live_message(tx, run_id, {"type": "command", "command": command(row)})]


def list_commands(tx: Tx, run_id: str) -> list[Command]:
    """The run's newest commands, newest first."""
    rows = tx.execute(
        f"SELECT {_COMMAND_COLUMNS} FROM commands WHERE run_id = ? ORDER BY id DESC LIMIT ?",
        (run_id, COMMANDS_LISTED),
    ).fetchall()
    return [command(r) for r in rows]


def promote(
    tx: Tx, run_id: str, name: str, artifact: str | None, sha256: str, detail: dict[str, Any]
) -> tuple[Promotion, list[Record]]:
    """Record a promotion of a succeeded run (anything else is refused: 409)."""
    status = records.lock_run(tx, run_id)
    if status != "succeeded":
        raise Conflict(
            f"only succeeded runs can be promoted; this run is {status}", code="not_promotable"
        )
    inserted = tx.execute(
        "INSERT INTO promotions (run_id, name, artifact, sha256, created_at, detail)"
        " VALUES (?,?,?,?,?,?) RETURNING id",
        (run_id, name, artifact, sha256, time.time(), json_text(detail)),
    ).fetchone()
    row = tx.execute(f"{_PROMOTION_SELECT} WHERE p.id = ?", (inserted[0],)).fetchone()
    payload = {"name": name, "artifact": artifact, "sha256": sha256}
    return promotion(row), [records.server_event(tx, run_id, "promoted", "info", payload)]


def list_promoted(tx: Tx, limit: int = 1000) -> list[Promotion]:
    """Promotions, newest first."""
    rows = tx.execute(f"{_PROMOTION_SELECT} ORDER BY p.id DESC LIMIT ?", (limit,)).fetchall()
    return [promotion(r) for r in rows]
