"""Watch rules and their alerts in SQLite: rule CRUD, one alert per episode, action outcomes.

The SQL functions run inside a transaction (the writer's, or a reader's snapshot);
:class:`SqliteRules` is the part of :class:`~runwatch.store.sqlite.SqliteStore` that calls them.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec

from runwatch.rules.spec import (
    Action,
    Alert,
    CommandAction,
    Condition,
    EventAction,
    Rule,
    RuleIn,
    WebhookAction,
    mask_url,
)
from runwatch.store.base import Committed, Record
from runwatch.store.sqlite import records

T = TypeVar("T")
_encode = msgspec.json.encode
# Alerts kept per project; the oldest go first (each also lives on as an event in its run's feed).
ALERTS_KEEP = 10_000
ALERTS_LISTED = 1_000
_RULE_COLUMNS = "id, project, name, run_id, spec, source, created_at"
_ALERT_COLUMNS = (
    "id, rule_id, rule_name, project, run_id, run_name, ts, level, message, detail, event_seq,"
    " actions"
)


class _Stored(msgspec.Struct):
    condition: Condition
    actions: list[Action]
    cooldown: float


_stored = msgspec.json.Decoder(_Stored)


def _rule(row: tuple[Any, ...]) -> Rule:
    rid, project, name, run_id, spec, source, created_at = row
    s = _stored.decode(spec)
    return Rule(rid, project, name, run_id, s.condition, s.actions, s.cooldown, source, created_at)


def _alert(row: tuple[Any, ...]) -> Alert:
    aid, rule_id, rule_name, project, run_id, run_name, ts, level, message = row[:9]
    decode = msgspec.json.decode
    return Alert(
        aid, rule_id, rule_name, project, run_id, run_name, ts, level, message,
        decode(row[9]), row[10], decode(row[11]),
    )  # fmt: skip


def add_rule(conn: sqlite3.Connection, project: str, spec: RuleIn, source: str) -> Rule:
    body = _encode(_Stored(spec.condition, spec.actions, spec.cooldown))
    cursor = conn.execute(
        "INSERT INTO rules (project, name, run_id, spec, source, created_at) VALUES (?,?,?,?,?,?)",
        (project, spec.name, spec.run, body, source, time.time()),
    )
    row = conn.execute(f"SELECT {_RULE_COLUMNS} FROM rules WHERE id = ?", (cursor.lastrowid,))
    return _rule(row.fetchone())


def list_rules(conn: sqlite3.Connection, project: str | None) -> list[Rule]:
    rows = conn.execute(
        f"SELECT {_RULE_COLUMNS} FROM rules WHERE ? IS NULL OR project = ? ORDER BY id",
        (project, project),
    )
    return [_rule(r) for r in rows]


def delete_rule(conn: sqlite3.Connection, project: str, rule_id: int) -> bool:
    cursor = conn.execute("DELETE FROM rules WHERE id = ? AND project = ?", (rule_id, project))
    return cursor.rowcount > 0


def replace_file_rules(conn: sqlite3.Connection, rules: list[tuple[str, RuleIn]]) -> list[Rule]:
    """The rules of a rules file replace those loaded from a file before (API rules stay)."""
    conn.execute("DELETE FROM rules WHERE source = 'file'")
    return [add_rule(conn, project, spec, "file") for project, spec in rules]


def _initial_outcome(action: Action) -> dict[str, Any]:
    kind = type(action).__struct_config__.tag
    if isinstance(action, WebhookAction):
        return {"type": kind, "state": "pending", "target": mask_url(action.url), "attempts": 0}
    if isinstance(action, CommandAction):
        return {"type": kind, "state": "pending", "kind": action.kind}
    if isinstance(action, EventAction):
        return {"type": kind, "state": "done", "level": action.level}
    return {"type": kind, "state": "pending"}


def record_alert(
    conn: sqlite3.Connection,
    rule: Rule,
    run_id: str,
    message: str,
    detail: dict[str, Any],
    now: float,
) -> tuple[Alert | None, list[Record]]:
    """Record a firing and put an ``alert`` event into the run's feed; None (nothing written)
    when the rule fired on this run less than its cooldown ago, or the run is gone."""
    run = records.fetch_run(conn, run_id)
    if run is None:
        return None, []
    (last,) = conn.execute(
        "SELECT max(ts) FROM alerts WHERE rule_id = ? AND run_id = ?", (rule.id, run_id)
    ).fetchone()
    if last is not None and now - last < rule.cooldown:
        return None, []
    outcomes = [_initial_outcome(a) for a in rule.actions]
    cursor = conn.execute(
        "INSERT INTO alerts (rule_id, rule_name, project, run_id, run_name, ts, level, message,"
        " detail, event_seq, actions) VALUES (?,?,?,?,?,?,?,?,?,0,?)",
        (rule.id, rule.name, run.project, run_id, run.name, now, rule.level, message,
         _encode(detail), _encode(outcomes)),
    )  # fmt: skip
    alert_id = int(cursor.lastrowid or 0)
    # Message first: the feed shows a payload's fields in order, cut to one line.
    payload = {"message": message, "rule": rule.name, **detail}
    payload.update(rule_id=rule.id, alert_id=alert_id)
    record = records.server_event(conn, run_id, "alert", rule.level, payload)
    conn.execute("UPDATE alerts SET event_seq = ? WHERE id = ?", (record.seq, alert_id))
    conn.execute(
        "DELETE FROM alerts WHERE project = ? AND id <= ?", (run.project, alert_id - ALERTS_KEEP)
    )
    return get_alert(conn, alert_id), [record]


def set_alert_action(
    conn: sqlite3.Connection, alert_id: int, index: int, outcome: dict[str, Any]
) -> Alert | None:
    """Merge ``outcome`` into the alert's ``index``-th action (None when the alert is gone)."""
    conn.execute(
        "UPDATE alerts SET actions = json_set(actions, ?, json_patch(json_extract(actions, ?), ?))"
        " WHERE id = ?",
        (f"$[{index}]", f"$[{index}]", _encode(outcome), alert_id),
    )
    return get_alert(conn, alert_id)


def get_alert(conn: sqlite3.Connection, alert_id: int) -> Alert | None:
    row = conn.execute(f"SELECT {_ALERT_COLUMNS} FROM alerts WHERE id = ?", (alert_id,)).fetchone()
    return None if row is None else _alert(row)


def list_alerts(
    conn: sqlite3.Connection, project: str, run_id: str | None, limit: int
) -> list[Alert]:
    rows = conn.execute(
        f"SELECT {_ALERT_COLUMNS} FROM alerts WHERE project = ? AND (? IS NULL OR run_id = ?)"
        " ORDER BY id DESC LIMIT ?",
        (project, run_id, run_id, min(limit, ALERTS_LISTED)),
    )
    return [_alert(r) for r in rows]


class SqliteRules:
    """The rules and alerts methods of the Store protocol, for the SQLite store."""

    if TYPE_CHECKING:

        async def _write(
            self, job: Callable[[sqlite3.Connection], tuple[T, list[Committed]]]
        ) -> T: ...

        async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T: ...

    async def add_rule(self, project: str, spec: RuleIn, source: str = "api") -> Rule:
        return await self._write(lambda conn: (add_rule(conn, project, spec, source), []))

    async def list_rules(self, project: str | None = None) -> list[Rule]:
        return await self._read(lambda conn: list_rules(conn, project))

    async def delete_rule(self, project: str, rule_id: int) -> bool:
        return await self._write(lambda conn: (delete_rule(conn, project, rule_id), []))

    async def replace_file_rules(self, rules: list[tuple[str, RuleIn]]) -> list[Rule]:
        return await self._write(lambda conn: (replace_file_rules(conn, rules), []))

    async def record_alert(
        self, rule: Rule, run_id: str, message: str, detail: dict[str, Any], now: float
    ) -> Alert | None:
        def job(conn: sqlite3.Connection) -> tuple[Alert | None, list[Committed]]:
            alert, changes = record_alert(conn, rule, run_id, message, detail, now)
            return alert, [Committed(run_id, changes)] if changes else []

        return await self._write(job)

    async def set_alert_action(
        self, alert_id: int, index: int, outcome: dict[str, Any]
    ) -> Alert | None:
        return await self._write(
            lambda conn: (set_alert_action(conn, alert_id, index, outcome), [])
        )

    async def list_alerts(
        self, project: str, run_id: str | None = None, limit: int = 200
    ) -> list[Alert]:
        return await self._read(lambda conn: list_alerts(conn, project, run_id, limit))
