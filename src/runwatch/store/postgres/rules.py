"""Watch rules and their alerts on PostgreSQL: the same jobs as ``store.sqlite.rules``.

An alert is a write of its run like any other: it locks the run's row first, so its cooldown
check sees every alert another replica's engine recorded on the run, and its ``alert`` event
takes the next seq in commit order.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec

from runwatch.rules.spec import Alert, Rule, RuleIn
from runwatch.store.base import Committed, Record
from runwatch.store.postgres.tx import Conn, PostgresTx
from runwatch.store.rule_rows import (
    ALERT_COLUMNS,
    ALERTS_KEEP,
    ALERTS_LISTED,
    RULE_COLUMNS,
    alert_from_row,
    alert_payload,
    initial_outcome,
    patch_action,
    rule_from_row,
    stored_spec,
)
from runwatch.store.sql import records

T = TypeVar("T")
_encode = msgspec.json.encode
# pg_advisory_xact_lock key: "rwrules!" in ASCII.
_FILE_RULES_LOCK = 0x727772756C657321


def add_rule(conn: Conn, project: str, spec: RuleIn, source: str) -> Rule:
    row = conn.execute(
        "INSERT INTO rules (project, name, run_id, spec, source, created_at)"
        f" VALUES (%s,%s,%s,%s,%s,%s) RETURNING {RULE_COLUMNS}",
        (project, spec.name, spec.run, stored_spec(spec).decode(), source, time.time()),
    ).fetchone()
    assert row is not None
    return rule_from_row(row)


def list_rules(conn: Conn, project: str | None) -> list[Rule]:
    rows = conn.execute(
        f"SELECT {RULE_COLUMNS} FROM rules WHERE %s::text IS NULL OR project = %s ORDER BY id",
        (project, project),
    ).fetchall()
    return [rule_from_row(r) for r in rows]


def delete_rule(conn: Conn, project: str, rule_id: int) -> bool:
    cursor = conn.execute("DELETE FROM rules WHERE id = %s AND project = %s", (rule_id, project))
    return cursor.rowcount > 0


def replace_file_rules(conn: Conn, rules: list[tuple[str, RuleIn]]) -> list[Rule]:
    """The rules of a rules file replace those loaded from a file before (API rules stay)."""
    # Replicas starting together each load the file: one at a time, each deleting the last's.
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (_FILE_RULES_LOCK,))
    conn.execute("DELETE FROM rules WHERE source = 'file'")
    return [add_rule(conn, project, spec, "file") for project, spec in rules]


def record_alert(
    conn: Conn, rule: Rule, run_id: str, message: str, detail: dict[str, Any], now: float
) -> tuple[Alert | None, list[Record]]:
    """Record a firing and put an ``alert`` event into the run's feed; None (nothing written)
    when the rule fired on this run less than its cooldown ago, or the run is gone."""
    run = conn.execute(
        "SELECT project, name FROM runs WHERE id = %s FOR UPDATE", (run_id,)
    ).fetchone()
    if run is None:
        return None, []
    project, run_name = run
    last = conn.execute(
        "SELECT max(ts) FROM alerts WHERE rule_id = %s AND run_id = %s", (rule.id, run_id)
    ).fetchone()
    if last is not None and last[0] is not None and now - last[0] < rule.cooldown:
        return None, []
    outcomes = [initial_outcome(a) for a in rule.actions]
    inserted = conn.execute(
        "INSERT INTO alerts (rule_id, rule_name, project, run_id, run_name, ts, level, message,"
        " detail, event_seq, actions) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,0,%s) RETURNING id",
        (rule.id, rule.name, project, run_id, run_name, now, rule.level, message,
         _encode(detail).decode(), _encode(outcomes).decode()),
    ).fetchone()  # fmt: skip
    assert inserted is not None
    alert_id = int(inserted[0])
    payload = alert_payload(rule, message, detail, alert_id)
    record = records.server_event(PostgresTx(conn), run_id, "alert", rule.level, payload)
    conn.execute("UPDATE alerts SET event_seq = %s WHERE id = %s", (record.seq, alert_id))
    conn.execute(
        "DELETE FROM alerts WHERE project = %s AND id <= %s", (project, alert_id - ALERTS_KEEP)
    )
    return get_alert(conn, alert_id), [record]


def set_alert_action(
    conn: Conn, alert_id: int, index: int, outcome: dict[str, Any]
) -> Alert | None:
    """Merge ``outcome`` into the alert's ``index``-th action (None when the alert is gone)."""
    # Text, not jsonb: the merge happens here, under the row's lock, keeping key order.
    row = conn.execute(
        "SELECT actions FROM alerts WHERE id = %s FOR UPDATE", (alert_id,)
    ).fetchone()
    if row is None:
        return None
    conn.execute(
        "UPDATE alerts SET actions = %s WHERE id = %s",
        (patch_action(row[0], index, outcome).decode(), alert_id),
    )
    return get_alert(conn, alert_id)


def get_alert(conn: Conn, alert_id: int) -> Alert | None:
    row = conn.execute(f"SELECT {ALERT_COLUMNS} FROM alerts WHERE id = %s", (alert_id,)).fetchone()
    return None if row is None else alert_from_row(row)


def list_alerts(conn: Conn, project: str, run_id: str | None, limit: int) -> list[Alert]:
    rows = conn.execute(
        f"SELECT {ALERT_COLUMNS} FROM alerts WHERE project = %s"
        " AND (%s::text IS NULL OR run_id = %s) ORDER BY id DESC LIMIT %s",
        (project, run_id, run_id, min(limit, ALERTS_LISTED)),
    ).fetchall()
    return [alert_from_row(r) for r in rows]


class PostgresRules:
    """The rules and alerts methods of the Store protocol, for the PostgreSQL store."""

    if TYPE_CHECKING:

        async def _write(self, job: Callable[[Conn], tuple[T, list[Committed]]]) -> T: ...

        async def _read(self, fn: Callable[[Conn], T]) -> T: ...

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
        def job(conn: Conn) -> tuple[Alert | None, list[Committed]]:
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
