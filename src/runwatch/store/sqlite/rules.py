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

from runwatch.rules.spec import Alert, Rule, RuleIn
from runwatch.store.base import Committed, Record
from runwatch.store.rule_rows import (
    ALERT_COLUMNS,
    ALERTS_KEEP,
    ALERTS_LISTED,
    RULE_COLUMNS,
    alert_from_row,
    alert_payload,
    initial_outcome,
    rule_from_row,
    stored_spec,
)
from runwatch.store.sql import records
from runwatch.store.sqlite.tx import SqliteTx

T = TypeVar("T")
_encode = msgspec.json.encode


def add_rule(conn: sqlite3.Connection, project: str, spec: RuleIn, source: str) -> Rule:
    body = stored_spec(spec)
    cursor = conn.execute(
        "INSERT INTO rules (project, name, run_id, spec, source, created_at) VALUES (?,?,?,?,?,?)",
        (project, spec.name, spec.run, body, source, time.time()),
    )
    row = conn.execute(f"SELECT {RULE_COLUMNS} FROM rules WHERE id = ?", (cursor.lastrowid,))
    return rule_from_row(row.fetchone())


def list_rules(conn: sqlite3.Connection, project: str | None) -> list[Rule]:
    rows = conn.execute(
        f"SELECT {RULE_COLUMNS} FROM rules WHERE ? IS NULL OR project = ? ORDER BY id",
        (project, project),
    )
    return [rule_from_row(r) for r in rows]


def delete_rule(conn: sqlite3.Connection, project: str, rule_id: int) -> bool:
    cursor = conn.execute("DELETE FROM rules WHERE id = ? AND project = ?", (rule_id, project))
    return cursor.rowcount > 0


def replace_file_rules(conn: sqlite3.Connection, rules: list[tuple[str, RuleIn]]) -> list[Rule]:
    """The rules of a rules file replace those loaded from a file before (API rules stay)."""
    conn.execute("DELETE FROM rules WHERE source = 'file'")
    return [add_rule(conn, project, spec, "file") for project, spec in rules]


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
    run = records.fetch_run(SqliteTx(conn), run_id)
    if run is None:
        return None, []
    (last,) = conn.execute(
        "SELECT max(ts) FROM alerts WHERE rule_id = ? AND run_id = ?", (rule.id, run_id)
    ).fetchone()
    if last is not None and now - last < rule.cooldown:
        return None, []
    outcomes = [initial_outcome(a) for a in rule.actions]
    cursor = conn.execute(
        "INSERT INTO alerts (rule_id, rule_name, project, run_id, run_name, ts, level, message,"
        " detail, event_seq, actions) VALUES (?,?,?,?,?,?,?,?,?,0,?)",
        (rule.id, rule.name, run.project, run_id, run.name, now, rule.level, message,
         _encode(detail), _encode(outcomes)),
    )  # fmt: skip
    alert_id = int(cursor.lastrowid or 0)
    payload = alert_payload(rule, message, detail, alert_id)
    record = records.server_event(SqliteTx(conn), run_id, "alert", rule.level, payload)
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
    row = conn.execute(f"SELECT {ALERT_COLUMNS} FROM alerts WHERE id = ?", (alert_id,)).fetchone()
    return None if row is None else alert_from_row(row)


def list_alerts(
    conn: sqlite3.Connection, project: str, run_id: str | None, limit: int
) -> list[Alert]:
    rows = conn.execute(
        f"SELECT {ALERT_COLUMNS} FROM alerts WHERE project = ? AND (? IS NULL OR run_id = ?)"
        " ORDER BY id DESC LIMIT ?",
        (project, run_id, run_id, min(limit, ALERTS_LISTED)),
    )
    return [alert_from_row(r) for r in rows]


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
