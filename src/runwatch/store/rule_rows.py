"""Rules and alerts as rows, for every backend: the stored shapes, the columns both schemas
share, and the pure steps of recording an alert (its actions' first outcomes, its feed payload).

The SQL lives with each backend (``store.sqlite.rules``, ``store.postgres.rules``).
"""

from __future__ import annotations

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

# Alerts kept per project; the oldest go first (each also lives on as an event in its run's feed).
ALERTS_KEEP = 10_000
ALERTS_LISTED = 1_000
RULE_COLUMNS = "id, project, name, run_id, spec, source, created_at"
ALERT_COLUMNS = (
    "id, rule_id, rule_name, project, run_id, run_name, ts, level, message, detail, event_seq,"
    " actions"
)


class _Stored(msgspec.Struct):
    condition: Condition
    actions: list[Action]
    cooldown: float


_stored = msgspec.json.Decoder(_Stored)
_decode = msgspec.json.decode
_encode = msgspec.json.encode


def stored_spec(spec: RuleIn) -> bytes:
    """What a rule's ``spec`` column holds: its condition, actions and cooldown as JSON."""
    return _encode(_Stored(spec.condition, spec.actions, spec.cooldown))


def rule_from_row(row: tuple[Any, ...]) -> Rule:
    """A rule from a row of :data:`RULE_COLUMNS`."""
    rid, project, name, run_id, spec, source, created_at = row
    s = _stored.decode(spec)
    return Rule(rid, project, name, run_id, s.condition, s.actions, s.cooldown, source, created_at)


def alert_from_row(row: tuple[Any, ...]) -> Alert:
    """An alert from a row of :data:`ALERT_COLUMNS`."""
    aid, rule_id, rule_name, project, run_id, run_name, ts, level, message = row[:9]
    return Alert(
        aid, rule_id, rule_name, project, run_id, run_name, ts, level, message,
        _decode(row[9]), row[10], _decode(row[11]),
    )  # fmt: skip


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


def merge_patch(target: Any, patch: Any) -> Any:
    """``patch`` applied to ``target`` as a JSON merge patch (RFC 7396, SQLite's json_patch):
    objects merge key by key (a null removes the key), anything else replaces."""
    if not isinstance(patch, dict):
        return patch
    merged = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = merge_patch(merged.get(key), value)
    return merged


def patch_action(actions: Any, index: int, outcome: dict[str, Any]) -> bytes:
    """An alert's ``actions`` column (JSON) with ``outcome`` merged into entry ``index``
    (unchanged when there is no such entry)."""
    entries: list[Any] = _decode(actions)
    if 0 <= index < len(entries):
        entries[index] = merge_patch(entries[index], outcome)
    return _encode(entries)
