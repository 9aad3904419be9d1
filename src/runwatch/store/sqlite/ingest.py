"""The ingest job: one batch, stored once, in one savepoint of the writer's transaction."""

from __future__ import annotations

import sqlite3
import time

import msgspec

from runwatch.protocol import BatchAck, CommandResult
from runwatch.store.base import Committed, IngestError, PointsRecord, Record
from runwatch.store.prepare import PreparedBatch, with_seq
from runwatch.store.snapshots import EPSILON
from runwatch.store.sql.events import entity_columns
from runwatch.store.sql.points import Points
from runwatch.store.sqlite import control, objects, records
from runwatch.store.sqlite.tx import SqliteTx

# A run in one of these took its final status: new batches are refused, except those its closing
# producer sent before the final-status batch (late or retried: batch order, not arrival order).
# ("crashed" is the server's guess, so a producer that comes back may still report.)
CLOSED_STATUSES = frozenset({"succeeded", "failed", "cancelled"})
LAST_STATUS_SQL = (
    "SELECT seq FROM events WHERE run_id=? AND kind='status' ORDER BY seq DESC LIMIT 1"
)
LAST_BATCH_SQL = (
    "SELECT batch_seq, seq_first, seq_last FROM batches WHERE run_id=? AND producer=?"
    " ORDER BY batch_seq DESC LIMIT 1"
)


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


def ingest_job(
    conn: sqlite3.Connection,
    points: Points,
    run_id: str,
    b: PreparedBatch,
    snapshot_epsilon: float = EPSILON,
) -> tuple[BatchAck, list[Committed]]:
    fresh = conn.execute(
        "INSERT OR IGNORE INTO batches VALUES (?,?,?,0,0)", (run_id, b.producer, b.batch_seq)
    ).rowcount
    if not fresh:
        first, last = conn.execute(
            "SELECT seq_first, seq_last FROM batches WHERE run_id=? AND producer=? AND batch_seq=?",
            (run_id, b.producer, b.batch_seq),
        ).fetchone()
        return BatchAck(first, last, True, b.points_count, len(b.events)), []
    status = records.run_status(conn, run_id)
    if status in CLOSED_STATUSES:
        last_status = conn.execute(LAST_STATUS_SQL, (run_id,)).fetchone()
        last_batch = conn.execute(LAST_BATCH_SQL, (run_id, b.producer)).fetchone()
        if not precedes_final(last_status, last_batch, b.batch_seq):
            raise IngestError(
                409, "run_finished", f"run {run_id!r} is {status}: it takes no more data", "run"
            )
        b = late_batch(b)
    out: list[Record] = control.heard_from(conn, run_id, status)
    n = b.record_count
    seq = first = records.allocate(conn, run_id, n)
    batch_records: list[Record] = []
    if b.points_body is not None:
        points.write(SqliteTx(conn), run_id, b.columns)
        conn.execute(
            "UPDATE runs SET summary = json_patch(summary, ?) WHERE id = ?",
            (b.summary_json, run_id),
        )
        batch_records.append(PointsRecord(seq, with_seq(seq, b.points_body), columns=b.columns))
        seq += 1
    if b.events:
        conn.executemany(
            "INSERT INTO events (run_id, seq, ts, kind, level, entity, entity_int, payload)"
            " VALUES (?,?,?,?,?,?,?,?)",
            [
                (run_id, seq + i, e.ts, e.kind, e.level, *entity_columns(e.entity), e.payload_json)
                for i, e in enumerate(b.events)
            ],
        )
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
    out += batch_records
    last = first + n - 1
    conn.execute(
        "UPDATE batches SET seq_first=?, seq_last=? WHERE run_id=? AND producer=? AND batch_seq=?",
        (first, last, run_id, b.producer, b.batch_seq),
    )
    out += _command_results(conn, run_id, b.commands)
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
    ack = BatchAck(first, last, False, b.points_count, len(b.events))
    return ack, [Committed(run_id, out)]


def _command_results(
    conn: sqlite3.Connection, run_id: str, results: list[CommandResult]
) -> list[Record]:
    now = time.time()
    out = []
    for result in results:
        out += control.set_command_state(conn, run_id, result.id, result.state, result.error, now)
    return out
