"""The ingest job on PostgreSQL: one batch, stored once, in one transaction.

The run's row is locked first: every other writer of the run, on any replica, waits until
this commits, so its dedup check sees theirs, and seqs are handed out gap-free in commit order.
"""

from __future__ import annotations

import time
from typing import Any

import msgspec

from runwatch.protocol import BatchAck
from runwatch.store.base import Committed, IngestError, PointsRecord, Record
from runwatch.store.postgres import control, objects, records
from runwatch.store.postgres.records import Conn
from runwatch.store.postgres.tx import PostgresTx
from runwatch.store.prepare import PreparedBatch, with_seq
from runwatch.store.snapshots import EPSILON
from runwatch.store.sql.events import entity_columns
from runwatch.store.sql.points import Points
from runwatch.store.sqlite.ingest import (
    CLOSED_STATUSES,
    LAST_BATCH_SQL,
    LAST_STATUS_SQL,
    late_batch,
    precedes_final,
)

_decode = msgspec.json.decode
_encode = msgspec.json.encode


def merge_summary(summary: str, patch: bytes) -> str:
    """The run's summary with the batch's last values (SQLite's json_patch, key order kept)."""
    merged: dict[str, Any] = _decode(summary)
    for key, value in _decode(patch).items():
        if value is None:  # a JSON merge patch removes a key set to null
            merged.pop(key, None)
        else:
            merged[key] = value
    return _encode(merged).decode()


def ingest_job(
    conn: Conn, run_id: str, b: PreparedBatch, snapshot_epsilon: float = EPSILON
) -> tuple[BatchAck, list[Committed]]:
    row = conn.execute(
        "SELECT status, summary FROM runs WHERE id = %s FOR UPDATE", (run_id,)
    ).fetchone()
    if row is None:
        raise IngestError(404, "run_not_found", f"no run with id {run_id!r}", "run")
    status, summary = row
    stored = conn.execute(
        "SELECT seq_first, seq_last FROM batches WHERE run_id=%s AND producer=%s AND batch_seq=%s",
        (run_id, b.producer, b.batch_seq),
    ).fetchone()
    if stored is not None:
        return BatchAck(stored[0], stored[1], True, b.points_count, len(b.events)), []
    if status in CLOSED_STATUSES:
        last_status = conn.execute(LAST_STATUS_SQL.replace("?", "%s"), (run_id,)).fetchone()
        last_batch = conn.execute(
            LAST_BATCH_SQL.replace("?", "%s"), (run_id, b.producer)
        ).fetchone()
        if not precedes_final(last_status, last_batch, b.batch_seq):
            raise IngestError(
                409, "run_finished", f"run {run_id!r} is {status}: it takes no more data", "run"
            )
        b = late_batch(b)
    out: list[Record] = control.heard_from(conn, run_id, status) if status == "crashed" else []
    if b.summary_json is not None:
        summary = merge_summary(summary, b.summary_json)
    n = b.record_count
    now = time.time()
    allocated = conn.execute(
        "UPDATE runs SET seq = seq + %s, last_update = %s, heartbeat_at = %s, summary = %s"
        " WHERE id = %s RETURNING seq",
        (n, now, now, summary, run_id),
    ).fetchone()
    assert allocated is not None
    seq = first = int(allocated[0]) - n + 1
    batch_records: list[Record] = []
    # Nothing below reads a result until the batch row is written: one round trip for all.
    with conn.pipeline():
        if b.points_body is not None:
            Points().write(PostgresTx(conn), run_id, b.columns)
            # With its float columns: the rule engine reads them without decoding the body.
            batch_records.append(PointsRecord(seq, with_seq(seq, b.points_body), columns=b.columns))
            seq += 1
        if b.events:
            conn.cursor().executemany(
                "INSERT INTO events VALUES (%s,%s,%s,%s,%s,%s,%s,%s)",
                [
                    (run_id, seq + i, e.ts, e.kind, e.level, *entity_columns(e.entity),
                     e.payload_json.decode())
                    for i, e in enumerate(b.events)
                ],
            )  # fmt: skip
            batch_records += [
                Record(seq + i, with_seq(seq + i, e.body)) for i, e in enumerate(b.events)
            ]
            seq += len(b.events)
        if b.status is not None:
            s = b.status
            batch_records.append(
                records.status_change(conn, run_id, seq, s.state, s.ts, s.error, s.exit_code)
            )
        records.journal(conn, run_id, batch_records)
        last = first + n - 1
        conn.execute(
            "INSERT INTO batches VALUES (%s,%s,%s,%s,%s)",
            (run_id, b.producer, b.batch_seq, first, last),
        )
    out += batch_records
    for result in b.commands:
        out += control.set_command_state(conn, run_id, result.id, result.state, result.error, now)
    out += [objects.write_table(conn, run_id, t) for t in b.tables]
    out += [objects.write_point_set(conn, run_id, p) for p in b.point_sets]
    for snap in b.snapshots:
        out += objects.write_snapshot(conn, run_id, snap, snapshot_epsilon)
    if b.vitals:
        out += objects.add_vitals(conn, run_id, b.vitals)
    if b.logs:
        out.append(objects.write_logs(conn, run_id, b.logs))
    if b.manifests:
        out.append(objects.write_manifest(conn, run_id, b.manifests[-1]))
    return BatchAck(first, last, False, b.points_count, len(b.events)), [Committed(run_id, out)]
