"""Watch rules and their alerts: rule CRUD, one alert per episode, action outcomes.

An alert is a write of its run like any other: it locks the run's row first, so its cooldown
check sees every alert another writer (a PostgreSQL replica's engine) recorded on the run, and
its ``alert`` event takes the next seq in commit order.
"""

from __future__ import annotations

import time
from typing import Any

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
from runwatch.store.base import Record
from runwatch.store.sql import records
from runwatch.store.sql.records import json_text
from runwatch.store.sql.tx import Tx

# Alerts kept per project; the oldest go first (each also lives on as an event in its run's feed).
ALERTS_KEEP = 10_000
ALERTS_LISTED = 1_000
RULE_COLUMNS = "id, project, name, run_id, spec, source, created_at"
ALERT_COLUMNS = (
    "id, rule_id, rule_name, project, run_id, run_name, ts, level, message, detail, event_seq,"
    " actions"
)
# Transaction lock key of a rules file's reload: "rwrules!" in ASCII.
_FILE_RULES_LOCK = 0x727772756C657321


class _Stored(msgspec.Struct):
    condition: Condition
    actions: list[Action]
    cooldown: float


_stored = msgspec.json.Decoder(_Stored)
_decode = msgspec.json.decode


def _rule(row: tuple[Any, ...]) -> Rule:
    rid, project, name, run_id, spec, source, created_at = row
    s = _stored.decode(spec)
    return Rule(rid, project, name, run_id, s.condition, s.actions, s.cooldown, source, created_at)


def _alert(row: tuple[Any, ...]) -> Alert:
    aid, rule_id, rule_name, project, run_id, run_name, ts, level, message = row[:9]
    return Alert(
        aid, rule_id, rule_name, project, run_id, run_name, ts, level, message,
        _decode(row[9]), row[10], _decode(row[11]),
    )  # fmt: skip


def add_rule(tx: Tx, project: str, spec: RuleIn, source: str) -> Rule:
    """Store a rule (its condition, actions and cooldown as JSON); return it with its id."""
    stored = json_text(_Stored(spec.condition, spec.actions, spec.cooldown))
    row = tx.execute(
        "INSERT INTO rules (project, name, run_id, spec, source, created_at)"
        f" VALUES (?,?,?,?,?,?) RETURNING {RULE_COLUMNS}",
        (project, spec.name, spec.run, stored, source, time.time()),
    ).fetchone()
    return _rule(row)


def list_rules(tx: Tx, project: str | None) -> list[Rule]:
    """The rules of ``project`` (every project's when None), oldest first."""
    rows = tx.execute(
        f"SELECT {RULE_COLUMNS} FROM rules WHERE CAST(? AS TEXT) IS NULL OR project = ?"
        " ORDER BY id",
        (project, project),
    ).fetchall()
    return [_rule(r) for r in rows]


def delete_rule(tx: Tx, project: str, rule_id: int) -> bool:
    """Delete the project's rule; False when it has no such rule."""
    cursor = tx.execute("DELETE FROM rules WHERE id = ? AND project = ?", (rule_id, project))
    return cursor.rowcount > 0


def replace_file_rules(tx: Tx, rules: list[tuple[str, RuleIn]]) -> list[Rule]:
    """The rules of a rules file replace those loaded from a file before (API rules stay)."""
    if tx.dialect.xact_lock:
        # Replicas starting together each load the file: one at a time, each deleting the last's.
        tx.execute(tx.dialect.xact_lock, (_FILE_RULES_LOCK,))
    tx.execute("DELETE FROM rules WHERE source = 'file'")
    return [add_rule(tx, project, spec, "file") for project, spec in rules]


def initial_outcome(action: Action) -> dict[str, Any]:
    """An action's entry in a new alert: an event action is done at once, others pending."""
    kind = type(action).__struct_config__.tag
    if isinstance(action, WebhookAction):
        return {"type": kind, "state": "pending", "target": mask_url(action.url), "attempts": 0}
    if isinstance(action, CommandAction):
        return {"type": kind, "state": "pending", "kind": action.kind}
    if isinstance(action, EventAction):
        return {"type": kind, "state": "done", "level": action.level}
    return {"type": kind, "state": "pending"}


def alert_payload(
    rule: Rule, message: str, detail: dict[str, Any], alert_id: int
) -> dict[str, Any]:
    """The payload of an alert's ``alert`` event in its run's feed."""
    # Message first: the feed shows a payload's fields in order, cut to one line.
    payload = {"message": message, "rule": rule.name, **detail}
    payload.update(rule_id=rule.id, alert_id=alert_id)
    return payload


def record_alert(
    tx: Tx, rule: Rule, run_id: str, message: str, detail: dict[str, Any], now: float
) -> tuple[Alert | None, list[Record]]:
    """Record a firing and put an ``alert`` event into the run's feed; None (nothing written)
    when the rule fired on this run less than its cooldown ago, or the run is gone."""
    run = tx.execute(
        f"SELECT project, name FROM runs WHERE id = ?{tx.dialect.for_update}", (run_id,)
    ).fetchone()
    if run is None:
        return None, []
    project, run_name = run
    (last,) = tx.execute(
        "SELECT max(ts) FROM alerts WHERE rule_id = ? AND run_id = ?", (rule.id, run_id)
    ).fetchone()
    if last is not None and now - last < rule.cooldown:
        return None, []
    outcomes = [initial_outcome(a) for a in rule.actions]
    (alert_id,) = tx.execute(
        "INSERT INTO alerts (rule_id, rule_name, project, run_id, run_name, ts, level, message,"
        " detail, event_seq, actions) VALUES (?,?,?,?,?,?,?,?,?,0,?) RETURNING id",
        (rule.id, rule.name, project, run_id, run_name, now, rule.level, message,
         json_text(detail), json_text(outcomes)),
    ).fetchone()  # fmt: skip
    payload = alert_payload(rule, message, detail, alert_id)
    record = records.server_event(tx, run_id, "alert", rule.level, payload)
    tx.execute("UPDATE alerts SET event_seq = ? WHERE id = ?", (record.seq, alert_id))
    tx.execute(
        "DELETE FROM alerts WHERE project = ? AND id <= ?", (project, alert_id - ALERTS_KEEP)
    )
    return get_alert(tx, alert_id), [record]


def merge_patch(target: Any, patch: Any) -> Any:
    """``patch`` applied to ``target`` as a JSON merge patch (RFC 7396): objects merge key by
    key (a null removes the key), anything else replaces."""
    if not isinstance(patch, dict):
        return patch
    merged = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = merge_patch(merged.get(key), value)
    return merged


def set_alert_action(tx: Tx, alert_id: int, index: int, outcome: dict[str, Any]) -> Alert | None:
    """Merge ``outcome`` into the alert's ``index``-th action (None when the alert is gone;
    nothing changes when it has no such action)."""
    # The merge happens here, under the row's lock: actions stay text, in their key order.
    row = tx.execute(
        f"SELECT actions FROM alerts WHERE id = ?{tx.dialect.for_update}", (alert_id,)
    ).fetchone()
    if row is None:
        return None
    entries: list[Any] = _decode(row[0])
    if 0 <= index < len(entries):
        entries[index] = merge_patch(entries[index], outcome)
        tx.execute("UPDATE alerts SET actions = ? WHERE id = ?", (json_text(entries), alert_id))
    return get_alert(tx, alert_id)


def get_alert(tx: Tx, alert_id: int) -> Alert | None:
    """The alert, or None when it is gone."""
    row = tx.execute(f"SELECT {ALERT_COLUMNS} FROM alerts WHERE id = ?", (alert_id,)).fetchone()
    return None if row is None else _alert(row)


def list_alerts(tx: Tx, project: str, run_id: str | None, limit: int) -> list[Alert]:
    """The project's alerts (one run's when ``run_id``), newest first."""
    rows = tx.execute(
        f"SELECT {ALERT_COLUMNS} FROM alerts WHERE project = ?"
        " AND (CAST(? AS TEXT) IS NULL OR run_id = ?) ORDER BY id DESC LIMIT ?",
        (project, run_id, run_id, min(limit, ALERTS_LISTED)),
    ).fetchall()
    return [_alert(r) for r in rows]
