"""Turn a decoded batch into rows and live messages once, outside the single writer thread."""

from __future__ import annotations

import math
import time
from typing import Any

import msgspec

from runwatch.protocol import (
    MAX_START_SKEW,
    MAX_TIMESTAMP,
    MEDIA_KIND_MIMES,
    Batch,
    CommandResult,
    EventIn,
    HistogramIn,
    LogLine,
    MediaIn,
    PointSetIn,
    RunCreate,
    SnapshotIn,
    TableIn,
    decode_value,
    encode_value,
)
from runwatch.store.errors import InvalidValue, LimitExceeded

_encode = msgspec.json.encode
# The event kind an SDK reports lost records with; a run's ``lost`` sums them, up to MAX_LOST.
LOSS_EVENT = "sdk.lost"
MAX_LOST = 2**53


class Limits(msgspec.Struct, frozen=True):
    """What one batch (or a new run) may hold (server settings); past a limit it is refused
    with a 422 that names the limit."""

    max_key_length: int = 256
    max_keys_per_batch: int = 10_000
    max_points_per_batch: int = 2_000_000
    max_events_per_batch: int = 10_000
    max_kind_length: int = 128
    max_event_payload_bytes: int = 65_536
    max_table_rows: int = 10_000
    max_point_set: int = 100_000
    max_snapshot_bytes: int = 1_048_576
    # A run's config and request snapshot (JSON): every runs list and run page carries them.
    max_config_bytes: int = 65_536
    max_run_snapshot_bytes: int = 262_144
    # Media: records per batch, bytes of one uploaded image blob (``PUT …/blobs``: 413 past
    # it), bins of one histogram, histograms per batch.
    max_media_per_batch: int = 1_000
    max_image_bytes: int = 8 * 2**20
    max_histogram_bins: int = 1_024
    max_histograms_per_batch: int = 1_000
    # Text values passed to log(): characters of one, and how many a batch holds.
    max_text_length: int = 4_096
    max_texts_per_batch: int = 100_000


class BatchRejected(InvalidValue):
    """A batch whose content is not storable; ``field`` names the offending place."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message, field)

    def __str__(self) -> str:
        return f"{self.message} - at `{self.field}`"


class BatchOverLimit(LimitExceeded, BatchRejected):
    """Storable content past a configured limit."""


def _over(field: str, what: str, limit: str, value: int) -> BatchRejected:
    return BatchOverLimit(field, f"{what} is over the limit {limit}={value}")


class PreparedEvent(msgspec.Struct):
    ts: float
    kind: str
    level: str
    entity: int | str | None
    payload_json: bytes
    body: bytes  # live message without its seq
    step: int | None = None
    entities: list[int | str] | None = None  # every entity, when the event names several


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
    extremes_json: bytes | None  # {key: {"min": …, "max": …}} of the batch's finite values
    texts_body: bytes | None  # the live "texts" message: each key's latest text
    events: list[PreparedEvent]
    status: PreparedStatus | None
    commands: list[CommandResult]
    snapshots: list[SnapshotIn]
    tables: list[TableIn]
    point_sets: list[PointSetIn]
    vitals: list[str]
    logs: list[LogLine]
    command_kinds: list[str]
    manifests: list[list[dict[str, Any]]]
    config: list[dict[str, Any]]
    media: list[MediaIn] = []
    histograms: list[HistogramIn] = []
    lost: int = 0  # records the producer reports it could not deliver (its sdk.lost events)

    @property
    def record_count(self) -> int:
        """How many seqs this batch takes: one for its points, one for its texts, one per event,
        one for a status."""
        return (
            (self.points_body is not None)
            + (self.texts_body is not None)
            + len(self.events)
            + (self.status is not None)
        )


def prepare_batch(batch: Batch, limits: Limits = Limits()) -> PreparedBatch:
    """Validate what msgspec's types cannot say and encode each live message once.

    This is the ingest hot path (every point passes here): floats take a branch-free fast path,
    and each distinct key is checked once per batch.
    """
    _check_objects(batch, limits)
    if len(batch.events) > limits.max_events_per_batch:
        raise _over(
            "$.events", "the number of events", "max_events_per_batch", limits.max_events_per_batch
        )
    for i, change in enumerate(batch.config):
        if len(_encode(change)) > limits.max_config_bytes:
            cap = limits.max_config_bytes
            raise _over(f"$.config[{i}]", "a config change", "max_config_bytes", cap)
    columns: dict[str, SeriesColumns] = {}
    count = 0
    for i, row in enumerate(batch.points):
        step, ts = row.step, row.ts
        if not 0.0 <= ts <= MAX_TIMESTAMP:
            _check_finite(ts, f"$.points[{i}].ts")
        for key, raw in row.values.items():
            col = columns.get(key)
            if col is None:
                where = f"$.points[{i}].values.{key[:40]}"
                _check_name(key, limits.max_key_length, "max_key_length", where, "metric key")
                if len(columns) >= limits.max_keys_per_batch:
                    raise _over(
                        where, "the number of keys", "max_keys_per_batch", limits.max_keys_per_batch
                    )
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
        if count > limits.max_points_per_batch:
            raise _over(
                "$.points",
                "the number of points",
                "max_points_per_batch",
                limits.max_points_per_batch,
            )
    points_body = summary_json = extremes_json = texts_body = None
    summary: dict[str, Any] = {}
    if columns:
        points = {k: {"step": c.step, "ts": c.ts, "value": c.wire} for k, c in columns.items()}
        points_body = _encode({"type": "points", "points": points})
        summary = {k: c.wire[-1] for k, c in columns.items()}
        extremes = {k: e for k, c in columns.items() if (e := _extremes(c.value)) is not None}
        extremes_json = _encode(extremes) if extremes else None
    texts = _latest_texts(batch, limits)
    if texts:
        texts_body = _encode({"type": "texts", "texts": texts})
        # A key's latest text takes the summary slot (a batch's texts after its numbers).
        summary.update((k, t["value"]) for k, t in texts.items())
    if summary:
        summary_json = _encode(summary)
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
        extremes_json=extremes_json,
        texts_body=texts_body,
        events=[_prepare_event(i, e, limits) for i, e in enumerate(batch.events)],
        status=status,
        commands=batch.commands,
        snapshots=batch.snapshots,
        tables=batch.tables,
        point_sets=batch.point_sets,
        vitals=batch.vitals,
        logs=batch.logs,
        command_kinds=batch.command_kinds,
        manifests=batch.manifests,
        config=batch.config,
        media=batch.media,
        histograms=batch.histograms,
        lost=reported_loss(batch.events),
    )


def reported_loss(events: list[EventIn]) -> int:
    """How many records a batch's ``sdk.lost`` events say were lost (their ``payload.lost``;
    a payload without a whole number there counts nothing: it is data, not a refusal)."""
    total = 0
    for e in events:
        lost = e.payload.get("lost") if e.kind == LOSS_EVENT else None
        if type(lost) is int and lost > 0:  # not a bool, a float or a string
            total += lost
    return min(total, MAX_LOST)


def _latest_texts(batch: Batch, limits: Limits) -> dict[str, dict[str, Any]]:
    """Each text key's latest value with its step and wall time, checked against the limits."""
    latest: dict[str, dict[str, Any]] = {}
    count = 0
    for i, row in enumerate(batch.texts):
        _check_finite(row.ts, f"$.texts[{i}].ts")
        count += len(row.values)
        if count > (cap := limits.max_texts_per_batch):
            raise _over("$.texts", "the number of text values", "max_texts_per_batch", cap)
        for key, text in row.values.items():
            where = f"$.texts[{i}].values.{key[:40]}"
            if key not in latest:
                _check_name(key, limits.max_key_length, "max_key_length", where, "text key")
            if len(text) > (cap := limits.max_text_length):
                raise _over(where, "the text's length", "max_text_length", cap)
            latest[key] = {"step": row.step, "ts": row.ts, "value": text}
    return latest


def _extremes(values: list[float]) -> dict[str, float] | None:
    """The smallest and largest finite value (None when there is none). min() and max() skip a
    NaN except one in first place, and keep infinities: only then are the values filtered."""
    low, high = min(values), max(values)
    if not (math.isfinite(low) and math.isfinite(high)):
        finite = [v for v in values if math.isfinite(v)]
        if not finite:
            return None
        low, high = min(finite), max(finite)
    return {"min": low, "max": high}


def check_run(spec: RunCreate, limits: Limits = Limits()) -> None:
    """A new run's config and request snapshot within their limits, and its start time not
    ahead of this clock by more than :data:`MAX_START_SKEW` (the SDK then sends none)."""
    if spec.started_at is not None and spec.started_at > time.time() + MAX_START_SKEW:
        raise LimitExceeded(
            f"started_at {spec.started_at} is more than {MAX_START_SKEW:g} s ahead of the"
            " server's clock",
            "$.started_at",
            code="started_in_future",
        )
    if len(_encode(spec.config)) > (cap := limits.max_config_bytes):
        raise _over("$.config", "the run's config", "max_config_bytes", cap)
    if len(_encode(spec.snapshot)) > (cap := limits.max_run_snapshot_bytes):
        raise _over("$.snapshot", "the run's snapshot", "max_run_snapshot_bytes", cap)


def with_seq(seq: int, body: bytes) -> bytes:
    """Put ``seq`` first into an encoded JSON object (so a message is encoded only once)."""
    return b'{"seq":%d,%s' % (seq, body[1:])


def _prepare_event(i: int, e: EventIn, limits: Limits) -> PreparedEvent:
    _check_name(
        e.kind, limits.max_kind_length, "max_kind_length", f"$.events[{i}].kind", "event kind"
    )
    _check_finite(e.ts, f"$.events[{i}].ts")
    names = _event_entities(i, e, limits)
    payload_json = _encode(e.payload)
    if len(payload_json) > limits.max_event_payload_bytes:
        limit = limits.max_event_payload_bytes
        raise _over(
            f"$.events[{i}].payload", "the payload's size", "max_event_payload_bytes", limit
        )
    # The event's seq is the message's own top-level seq, added on commit.
    entity = names[0] if names else None
    entities = names if len(names) > 1 else None
    event: dict[str, Any] = {"ts": e.ts, "kind": e.kind, "level": e.level, "entity": entity}
    if entities is not None:
        event["entities"] = entities
    event["payload"] = e.payload
    return PreparedEvent(
        ts=e.ts,
        kind=e.kind,
        level=e.level,
        entity=entity,
        payload_json=payload_json,
        body=_encode({"type": "event", "event": event}),
        step=e.step,
        entities=entities,
    )


def _event_entities(i: int, e: EventIn, limits: Limits) -> list[int | str]:
    """The entities an event names, in order, once each (by their text: 47 and "47" are one
    entity to an entity's history); ``entity``, when given beside ``entities``, is the first."""
    if not e.entities:
        names: list[int | str] = [] if e.entity is None else [e.entity]
        fields = [f"$.events[{i}].entity"]
    else:
        if e.entity is not None and str(e.entity) != str(e.entities[0]):
            raise BatchRejected(
                f"$.events[{i}].entity", "the entity must be the first of `entities`"
            )
        names = e.entities
        fields = [f"$.events[{i}].entities[{j}]" for j in range(len(names))]
    seen: dict[str, int | str] = {}
    for field, name in zip(fields, names, strict=False):  # no entity: neither has one
        if isinstance(name, str) and len(name) > limits.max_key_length:
            raise _over(field, "the entity's length", "max_key_length", limits.max_key_length)
        seen.setdefault(str(name), name)
    return list(seen.values())


def _check_objects(batch: Batch, limits: Limits) -> None:
    """Tables, point sets and snapshots within their limits."""
    for i, t in enumerate(batch.tables):
        if len(t.rows) > (cap := limits.max_table_rows) or (t.max_rows or 0) > cap:
            raise _over(f"$.tables[{i}].rows", "the table's rows", "max_table_rows", cap)
    for i, p in enumerate(batch.point_sets):
        if len(p.points) > (cap := limits.max_point_set) or (p.cap or 0) > cap:
            raise _over(f"$.point_sets[{i}].points", "the point set's size", "max_point_set", cap)
    for i, snap in enumerate(batch.snapshots):
        if len(_encode(snap.value)) > (cap := limits.max_snapshot_bytes):
            raise _over(f"$.snapshots[{i}].value", "the snapshot's size", "max_snapshot_bytes", cap)
    _check_media(batch, limits)
    _check_histograms(batch, limits)


def _check_media(batch: Batch, limits: Limits) -> None:
    """Media records: a mime that fits their kind, finite times and scales, within limits."""
    if len(batch.media) > (cap := limits.max_media_per_batch):
        raise _over("$.media", "the number of media records", "max_media_per_batch", cap)
    for i, m in enumerate(batch.media):
        _check_finite(m.ts, f"$.media[{i}].ts")
        if m.mime not in MEDIA_KIND_MIMES[m.kind]:
            allowed = " or ".join(sorted(MEDIA_KIND_MIMES[m.kind]))
            raise BatchRejected(f"$.media[{i}].mime", f"a {m.kind} is {allowed}, not {m.mime}")
        for name, value in (("vmin", m.vmin), ("vmax", m.vmax)):
            if value is not None and not math.isfinite(value):
                raise BatchRejected(f"$.media[{i}].{name}", f"{name} must be a finite number")
        if m.vmin is not None and m.vmax is not None and m.vmin > m.vmax:
            raise BatchRejected(f"$.media[{i}].vmin", "vmin is greater than vmax")


def _check_histograms(batch: Batch, limits: Limits) -> None:
    """Histograms: one more edge than bins, edges finite and ascending, within limits."""
    if len(batch.histograms) > (cap := limits.max_histograms_per_batch):
        raise _over("$.histograms", "the number of histograms", "max_histograms_per_batch", cap)
    for i, h in enumerate(batch.histograms):
        _check_finite(h.ts, f"$.histograms[{i}].ts")
        if not h.counts:
            raise BatchRejected(f"$.histograms[{i}].counts", "a histogram needs at least one bin")
        if len(h.counts) > (cap := limits.max_histogram_bins):
            raise _over(
                f"$.histograms[{i}].counts", "the number of bins", "max_histogram_bins", cap
            )
        if len(h.edges) != len(h.counts) + 1:
            raise BatchRejected(
                f"$.histograms[{i}].edges",
                f"{len(h.counts)} bins need {len(h.counts) + 1} edges, not {len(h.edges)}",
            )
        if not all(map(math.isfinite, h.edges)) or any(
            b < a for a, b in zip(h.edges, h.edges[1:], strict=False)
        ):
            raise BatchRejected(f"$.histograms[{i}].edges", "edges must be finite and ascending")


def _check_name(name: str, limit: int, setting: str, where: str, what: str) -> None:
    if not name:
        raise BatchRejected(where, f"empty {what}")
    if "\x00" in name:  # a key is kept in a TEXT column: PostgreSQL's holds no NUL
        raise BatchRejected(where, f"a {what} may not contain NUL")
    if len(name) > limit:
        raise _over(where, f"the {what}'s length", setting, limit)


def _check_finite(ts: float, where: str) -> None:
    """Wall times are seconds since 1970, finite and not absurdly far ahead."""
    if not 0.0 <= ts <= MAX_TIMESTAMP:
        raise BatchRejected(
            where, f"timestamp must be unix seconds between 0 and {MAX_TIMESTAMP:.0e}"
        )
