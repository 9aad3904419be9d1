"""The ingest job: one batch, stored once, in one transaction (a savepoint on SQLite).

The run's row is locked first: where writers run in parallel (PostgreSQL's replicas), every other
writer of the run waits until this commits, so its dedup check (the batches' primary key) sees
theirs, and seqs are handed out gap-free in commit order. On SQLite the writer thread runs each
job in its own savepoint, so a job that raises rolls back alone.
"""

from __future__ import annotations

import time
from typing import Any, Protocol

import msgspec

from runwatch.protocol import CLOSED_STATUSES, FINAL_STATUSES, BatchAck
from runwatch.store.base import Committed, PointsRecord, Record
from runwatch.store.errors import RunFinished
from runwatch.store.prepare import MAX_LOST, PreparedBatch, SeriesColumns, with_seq
from runwatch.store.snapshots import EPSILON
from runwatch.store.sql import control, media, objects, records, values
from runwatch.store.sql.events import entity_columns, entity_rows
from runwatch.store.sql.tx import Tx

_decode = msgspec.json.decode
_encode = msgspec.json.encode
# A run in a CLOSED_STATUSES took its final status: new batches are refused, except those its
# closing producer sent before the final-status batch (late or retried: batch order, not arrival
# order).
_LAST_STATUS_SQL = (
    "SELECT seq FROM events WHERE run_id=? AND kind='status' ORDER BY seq DESC LIMIT 1"
)
_LAST_BATCH_SQL = (
    "SELECT batch_seq, seq_first, seq_last FROM batches WHERE run_id=? AND producer=?"
    " ORDER BY batch_seq DESC LIMIT 1"
)


class PointSink(Protocol):
    """Where a batch's points go (the series store of the backend), inside the job's Tx."""

    def write(self, tx: Tx, run_id: str, columns: dict[str, SeriesColumns]) -> None: ...


def precedes_final(
    last_status: tuple[int] | None, last_batch: tuple[int, int, int] | None, batch_seq: int
) -> bool:
    """Whether a batch comes before its producer's final-status batch: that producer's last
    stored batch holds the run's last status change and has a higher ``batch_seq``."""
    if last_status is None or last_batch is None:
        return False
    final_seq, first, last = last_batch
    return first <= last_status[0] <= last and batch_seq < final_seq


def late_batch(b: PreparedBatch) -> PreparedBatch:
    """A batch accepted after the run finished keeps its data, not a status (the final one stands)."""
    return b if b.status is None else msgspec.structs.replace(b, status=None)


def merge_summary(summary: str | bytes, patch: bytes) -> str:
    """The run's summary with the batch's last values (a JSON merge patch, key order kept)."""
    merged: dict[str, Any] = _decode(summary)
    for key, value in _decode(patch).items():
        if value is None:  # a JSON merge patch removes a key set to null
            merged.pop(key, None)
        else:
            merged[key] = value
    return _encode(merged).decode()


def merge_extremes(stored: str | bytes, batch: bytes) -> str:
    """The run's per-metric extremes widened by the batch's."""
    merged: dict[str, dict[str, float]] = _decode(stored)
    for key, new in _decode(batch).items():
        old = merged.get(key)
        merged[key] = new if old is None else {
            "min": min(old["min"], new["min"]), "max": max(old["max"], new["max"])
        }  # fmt: skip
    return _encode(merged).decode()


def ingest_job(
    tx: Tx,
    points: PointSink,
    run_id: str,
    b: PreparedBatch,
    snapshot_epsilon: float = EPSILON,
    alive: bool = True,
) -> tuple[BatchAck, list[Committed]]:
    """Store one batch of a run: its points, events, status and sticky state, each once.

    ``alive``: the batch proves its producer lives (False: replayed for a producer that is gone,
    so the run's heartbeat time and a crashed status stay as they are)."""
    row = tx.execute(
        f"SELECT status, summary, extremes, lost FROM runs WHERE id = ?{tx.dialect.for_update}",
        (run_id,),
    ).fetchone()
    if row is None:
        raise records.missing(tx, run_id)
    status, summary, extremes, lost = row
    stored = tx.execute(
        "SELECT seq_first, seq_last FROM batches WHERE run_id=? AND producer=? AND batch_seq=?",
        (run_id, b.producer, b.batch_seq),
    ).fetchone()
    if stored is not None:
        return BatchAck(stored[0], stored[1], True, b.points_count, len(b.events)), []
    if status in CLOSED_STATUSES:
        last_status = tx.execute(_LAST_STATUS_SQL, (run_id,)).fetchone()
        last_batch = tx.execute(_LAST_BATCH_SQL, (run_id, b.producer)).fetchone()
        if not precedes_final(last_status, last_batch, b.batch_seq):
            raise RunFinished(f"run {run_id!r} is {status}: it takes no more data", "run")
        b = late_batch(b)
    # Any other status: the heartbeat is noted by the allocation below.
    revived = alive and status == "crashed"
    out: list[Record] = control.heard_from(tx, run_id, status) if revived else []
    if b.summary_json is not None:
        summary = merge_summary(summary, b.summary_json)
    if b.extremes_json is not None:
        extremes = merge_extremes(extremes, b.extremes_json)
    n = b.record_count
    now = time.time()
    allocated = tx.execute(
        "UPDATE runs SET seq = seq + ?, last_update = ?, heartbeat_at = coalesce(?, heartbeat_at),"
        " summary = ?, extremes = ?, lost = ? WHERE id = ? RETURNING seq",
        (n, now, now if alive else None, summary, extremes, min(lost + b.lost, MAX_LOST), run_id),
    ).fetchone()
    seq = first = int(allocated[0]) - n + 1
    batch_records: list[Record] = []
    # Nothing below reads a result until the batch row is written: one round trip for all.
    with tx.pipeline():
        if b.points_body is not None:
            points.write(tx, run_id, b.columns)
            # With its float columns: the rule engine reads them without decoding the body.
            batch_records.append(PointsRecord(seq, with_seq(seq, b.points_body), columns=b.columns))
            seq += 1
        if b.texts_body is not None:
            batch_records.append(Record(seq, with_seq(seq, b.texts_body)))
            seq += 1
        if b.events:
            tx.executemany(
                "INSERT INTO events"
                " (run_id, seq, ts, kind, level, entity, entity_int, payload, step, entities)"
                " VALUES (?,?,?,?,?,?,?,?,?,?)",
                [
                    (run_id, seq + i, e.ts, e.kind, e.level, *entity_columns(e.entity),
                     e.payload_json.decode(), e.step,
                     None if e.entities is None else _encode(e.entities).decode())
                    for i, e in enumerate(b.events)
                ],
            )  # fmt: skip
            if extra := [
                row
                for i, e in enumerate(b.events)
                for row in entity_rows(run_id, seq + i, e.entities)
            ]:
                tx.executemany(
                    "INSERT INTO event_entities (run_id, seq, entity, entity_int) VALUES (?,?,?,?)",
                    extra,
                )
            batch_records += [
                Record(seq + i, with_seq(seq + i, e.body)) for i, e in enumerate(b.events)
            ]
            seq += len(b.events)
        if b.status is not None:
            s = b.status
            batch_records.append(
                records.status_change(tx, run_id, seq, s.state, s.ts, s.error, s.exit_code)
            )
        records.journal(tx, run_id, batch_records)
        last = first + n - 1
        tx.execute(
            "INSERT INTO batches (run_id, producer, batch_seq, seq_first, seq_last)"
            " VALUES (?,?,?,?,?)",
            (run_id, b.producer, b.batch_seq, first, last),
        )
    out += batch_records
    for result in b.commands:
        out += control.set_command_state(tx, run_id, result.id, result.state, result.error, now)
    out += [objects.write_table(tx, run_id, t) for t in b.tables]
    out += [objects.write_point_set(tx, run_id, p) for p in b.point_sets]
    for snap in b.snapshots:
        out += objects.write_snapshot(tx, run_id, snap, snapshot_epsilon)
    if b.vitals:
        out += objects.add_vitals(tx, run_id, b.vitals)
    if b.command_kinds:
        out += objects.add_command_kinds(tx, run_id, b.command_kinds)
    if b.logs:
        out.append(objects.write_logs(tx, run_id, b.logs))
    if b.manifests:
        out.append(objects.write_manifest(tx, run_id, b.producer, b.manifests[-1]))
    if b.config:
        out += objects.update_config(tx, run_id, b.config)
    out += [media.write_media(tx, run_id, i, m) for i, m in enumerate(b.media)]
    out += [media.write_histogram(tx, run_id, h) for h in b.histograms]
    # A run finished before or by this batch: its indexed values follow its JSON and status.
    if status in FINAL_STATUSES or (b.status is not None and b.status.state in FINAL_STATUSES):
        values.reindex(tx, run_id)
    return BatchAck(first, last, False, b.points_count, len(b.events)), [Committed(run_id, out)]
