"""Turn a decoded batch into rows and live messages once, outside the single writer thread."""

from __future__ import annotations

import math
from typing import Any

import msgspec

from runwatch.protocol import Batch, CommandResult, EventIn, decode_value, encode_value

MAX_KEY_LENGTH = 256
MAX_KIND_LENGTH = 128
_encode = msgspec.json.encode


class BatchRejected(ValueError):
    """A batch whose content is not storable; ``field`` names the offending place."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{message} - at `{field}`")
        self.field = field
        self.message = message


class PreparedEvent(msgspec.Struct):
    ts: float
    kind: str
    level: str
    entity: int | str | None
    payload_json: bytes
    body: bytes  # live message without its seq


class PreparedStatus(msgspec.Struct):
    state: str
    ts: float
    error: str | None
    exit_code: int | None


class SeriesColumns(msgspec.Struct):
    """One key's points in a batch, column by column: floats for the store, wire values for
    the live message (so a value is converted once, and never re-encoded per point)."""

    step: list[int]
    ts: list[float]
    value: list[float]
    wire: list[Any]


class PreparedBatch(msgspec.Struct):
    """Columns per metric key, plus each live message encoded once (seq added on commit)."""

    producer: str
    batch_seq: int
    columns: dict[str, SeriesColumns]
    points_body: bytes | None
    points_count: int
    summary_json: bytes | None
    events: list[PreparedEvent]
    status: PreparedStatus | None
    commands: list[CommandResult]

    @property
    def record_count(self) -> int:
        """How many seqs this batch takes: one for its points, one per event, one for a status."""
        return (self.points_body is not None) + len(self.events) + (self.status is not None)


def prepare_batch(batch: Batch) -> PreparedBatch:
    """Validate what msgspec's types cannot say and encode each live message once.

    This is the ingest hot path (every point passes here): floats take a branch-free fast path,
    and each distinct key is checked once per batch.
    """
    columns: dict[str, SeriesColumns] = {}
    count = 0
    for i, row in enumerate(batch.points):
        step, ts = row.step, row.ts
        if not -math.inf < ts < math.inf:
            raise BatchRejected(f"$.points[{i}].ts", "timestamp must be a finite number")
        for key, raw in row.values.items():
            col = columns.get(key)
            if col is None:
                _check_name(key, MAX_KEY_LENGTH, f"$.points[{i}].values.{key[:40]}", "metric key")
                col = columns[key] = SeriesColumns([], [], [], [])
            if type(raw) is float:
                col.value.append(raw)
                col.wire.append(raw)
            else:
                try:
                    value = decode_value(raw)
                except ValueError as exc:
                    raise BatchRejected(f"$.points[{i}].values.{key[:40]}", str(exc)) from None
                col.value.append(value)
                col.wire.append(encode_value(value))
            col.step.append(step)
            col.ts.append(ts)
            count += 1
    points_body = summary_json = None
    if columns:
        points = {k: {"step": c.step, "ts": c.ts, "value": c.wire} for k, c in columns.items()}
        points_body = _encode({"type": "points", "points": points})
        summary_json = _encode({k: c.wire[-1] for k, c in columns.items()})
    status = None
    if batch.status is not None:
        s = batch.status
        _check_finite(s.ts, "$.status.ts")
        status = PreparedStatus(state=s.state, ts=s.ts, error=s.error, exit_code=s.exit_code)
    return PreparedBatch(
        producer=batch.producer,
        batch_seq=batch.batch_seq,
        columns=columns,
        points_body=points_body,
        points_count=count,
        summary_json=summary_json,
        events=[_prepare_event(i, e) for i, e in enumerate(batch.events)],
        status=status,
        commands=batch.commands,
    )


def with_seq(seq: int, body: bytes) -> bytes:
    """Put ``seq`` first into an encoded JSON object (so a message is encoded only once)."""
    return b'{"seq":%d,%s' % (seq, body[1:])


def _prepare_event(i: int, e: EventIn) -> PreparedEvent:
    _check_name(e.kind, MAX_KIND_LENGTH, f"$.events[{i}].kind", "event kind")
    _check_finite(e.ts, f"$.events[{i}].ts")
    if isinstance(e.entity, str) and len(e.entity) > MAX_KEY_LENGTH:
        raise BatchRejected(f"$.events[{i}].entity", f"entity longer than {MAX_KEY_LENGTH}")
    payload_json = _encode(e.payload)
    # The event's seq is the message's own top-level seq, added on commit.
    event = {"ts": e.ts, "kind": e.kind, "level": e.level, "entity": e.entity, "payload": e.payload}
    return PreparedEvent(
        ts=e.ts,
        kind=e.kind,
        level=e.level,
        entity=e.entity,
        payload_json=payload_json,
        body=_encode({"type": "event", "event": event}),
    )


def _check_name(name: str, limit: int, where: str, what: str) -> None:
    if not name:
        raise BatchRejected(where, f"empty {what}")
    if len(name) > limit:
        raise BatchRejected(where, f"{what} longer than {limit} characters")


def _check_finite(ts: float, where: str) -> None:
    if not math.isfinite(ts):
        raise BatchRejected(where, "timestamp must be a finite number")
