"""A run's sticky state on PostgreSQL: tables, point sets, snapshot history, logs, artifacts,
vitals. The same rules as ``store.sqlite.objects`` (its caps, ``store.snapshots`` retention);
writers run inside the ingest transaction, which holds the run's lock."""

from __future__ import annotations

import time
from typing import Any

import msgspec

from runwatch.protocol import LogLine, PointSetIn, SnapshotIn, TableIn
from runwatch.store import snapshots as history
from runwatch.store.base import Record
from runwatch.store.postgres import records
from runwatch.store.postgres.records import Conn
from runwatch.store.sqlite.objects import LOG_LINES_CAP, POINT_SET_CAP, TABLE_APPEND_CAP

_encode = msgspec.json.encode
_decode = msgspec.json.decode


def _text(value: Any) -> str:
    return _encode(value).decode()


def write_table(conn: Conn, run_id: str, t: TableIn) -> Record:
    row = conn.execute(
        "SELECT version, rows FROM tables WHERE run_id = %s AND name = %s", (run_id, t.name)
    ).fetchone()
    version = (row[0] if row else 0) + 1
    rows = t.rows
    if t.mode == "append":
        cap = t.max_rows or TABLE_APPEND_CAP
        rows = ((_decode(row[1]) if row else []) + t.rows)[-cap:]
    conn.execute(
        "INSERT INTO tables VALUES (%s,%s,%s,%s,%s) ON CONFLICT (run_id, name) DO UPDATE SET"
        " version = excluded.version, rows = excluded.rows, updated_at = excluded.updated_at",
        (run_id, t.name, version, _text(rows), time.time()),
    )
    message = {"type": "table", "name": t.name, "version": version, "mode": t.mode, "rows": t.rows}
    if t.mode == "append":
        message["max_rows"] = t.max_rows or TABLE_APPEND_CAP
    return records.live_message(conn, run_id, message)


def write_point_set(conn: Conn, run_id: str, p: PointSetIn) -> Record:
    row = conn.execute(
        "SELECT version, points FROM point_sets WHERE run_id = %s AND name = %s", (run_id, p.name)
    ).fetchone()
    version = (row[0] if row else 0) + 1
    cap = p.cap or POINT_SET_CAP
    points = p.points if p.replace else (_decode(row[1]) if row else []) + p.points
    points = points[-cap:]
    conn.execute(
        "INSERT INTO point_sets VALUES (%s,%s,%s,%s,%s) ON CONFLICT (run_id, name) DO UPDATE SET"
        " version = excluded.version, points = excluded.points, updated_at = excluded.updated_at",
        (run_id, p.name, version, _text(points), time.time()),
    )
    message = {
        "type": "points_set", "name": p.name, "version": version, "replace": p.replace,
        "cap": cap, "points": p.points[-cap:],
    }  # fmt: skip
    return records.live_message(conn, run_id, message)


def write_snapshot(conn: Conn, run_id: str, snap: SnapshotIn, epsilon: float) -> list[Record]:
    """Keep this version if the retention rule says so (see ``store.snapshots``)."""
    key_row = conn.execute(
        "SELECT first_step, next_age, last_version FROM snapshot_keys"
        " WHERE run_id = %s AND key = %s",
        (run_id, snap.key),
    ).fetchone()
    first_step, next_age, last_version = key_row if key_row else (None, 1, 0)
    previous = None
    if key_row is not None:
        prev = conn.execute(
            "SELECT value FROM snapshots WHERE run_id = %s AND key = %s"
            " ORDER BY version DESC LIMIT 1",
            (run_id, snap.key),
        ).fetchone()
        previous = _decode(prev[0] if prev else "null")
    reason = history.reason_to_keep(first_step, next_age, previous, snap.step, snap.value, epsilon)
    if reason is None:
        return []
    first = snap.step if first_step is None else first_step
    version = last_version + 1
    conn.execute(
        "INSERT INTO snapshots VALUES (%s,%s,%s,%s,%s,%s,%s)",
        (run_id, snap.key, version, snap.step, snap.ts, reason, _text(snap.value)),
    )
    conn.execute(
        "INSERT INTO snapshot_keys VALUES (%s,%s,%s,%s,%s) ON CONFLICT (run_id, key) DO UPDATE"
        " SET first_step = excluded.first_step, next_age = excluded.next_age,"
        " last_version = excluded.last_version",
        (run_id, snap.key, first, history.next_age_after(first, snap.step, next_age), version),
    )
    kept = conn.execute(
        "SELECT version, reason FROM snapshots WHERE run_id = %s AND key = %s ORDER BY version",
        (run_id, snap.key),
    ).fetchall()
    drop = history.to_drop([(int(v), r) for v, r in kept])
    if drop:
        conn.execute(
            "DELETE FROM snapshots WHERE run_id = %s AND key = %s AND version = ANY(%s)",
            (run_id, snap.key, drop),
        )
    message = {
        "type": "snapshot", "key": snap.key, "version": version, "step": snap.step,
        "ts": snap.ts, "reason": reason, "dropped": drop,
    }  # fmt: skip
    return [records.live_message(conn, run_id, message)]


def write_logs(conn: Conn, run_id: str, lines: list[LogLine]) -> Record:
    """Number and store the lines, keep the newest LOG_LINES_CAP, one live message for all."""
    row = conn.execute(
        "SELECT coalesce(max(line), 0) FROM logs WHERE run_id = %s", (run_id,)
    ).fetchone()
    last = int(row[0]) if row else 0
    rows = [(run_id, last + i + 1, x.stream, x.ts, x.text) for i, x in enumerate(lines)]
    with conn.cursor().copy("COPY logs (run_id, line, stream, ts, text) FROM STDIN") as copy:
        for r in rows:
            copy.write_row(r)
    newest = last + len(lines)
    if newest > LOG_LINES_CAP:
        conn.execute(
            "DELETE FROM logs WHERE run_id = %s AND line <= %s", (run_id, newest - LOG_LINES_CAP)
        )
    out = [{"line": r[1], "stream": r[2], "ts": r[3], "text": r[4]} for r in rows]
    return records.live_message(conn, run_id, {"type": "log", "lines": out})


def write_manifest(conn: Conn, run_id: str, manifest: list[dict[str, Any]]) -> Record:
    conn.execute(
        "INSERT INTO artifacts VALUES (%s,%s,%s) ON CONFLICT (run_id) DO UPDATE SET"
        " manifest = excluded.manifest, updated_at = excluded.updated_at",
        (run_id, _text(manifest), time.time()),
    )
    return records.live_message(conn, run_id, {"type": "artifact", "artifacts": manifest})


def add_vitals(conn: Conn, run_id: str, keys: list[str]) -> list[Record]:
    """Mark keys as vitals; open pages hear of new ones at once."""
    row = conn.execute("SELECT vitals FROM runs WHERE id = %s", (run_id,)).fetchone()
    known = _decode(row[0]) if row else []
    fresh = [k for k in dict.fromkeys(keys) if k not in known]
    if not fresh:
        return []
    conn.execute("UPDATE runs SET vitals = %s WHERE id = %s", (_text(known + fresh), run_id))
    return [records.live_message(conn, run_id, {"type": "vitals", "keys": known + fresh})]


# -- reads ----------------------------------------------------------------------------------
def read_manifest(conn: Conn, run_id: str) -> list[Any]:
    row = conn.execute("SELECT manifest FROM artifacts WHERE run_id = %s", (run_id,)).fetchone()
    return [] if row is None else list(_decode(row[0]))


def read_logs(
    conn: Conn, run_id: str, after: int, stream: str | None, limit: int
) -> list[dict[str, Any]]:
    sql = "SELECT line, stream, ts, text FROM logs WHERE run_id = %s AND line > %s"
    args: list[Any] = [run_id, after]
    if stream is not None:
        sql += " AND stream = %s"
        args.append(stream)
    rows = conn.execute(sql + " ORDER BY line LIMIT %s", [*args, limit]).fetchall()
    return [{"line": n, "stream": s, "ts": t, "text": x} for n, s, t, x in rows]


def tables(conn: Conn, run_id: str) -> dict[str, Any]:
    rows = conn.execute(
        "SELECT name, version, rows FROM tables WHERE run_id = %s ORDER BY name", (run_id,)
    ).fetchall()
    return {name: {"version": v, "rows": _decode(r)} for name, v, r in rows}


def point_sets(conn: Conn, run_id: str) -> dict[str, Any]:
    rows = conn.execute(
        "SELECT name, version, points FROM point_sets WHERE run_id = %s ORDER BY name", (run_id,)
    ).fetchall()
    return {name: {"version": v, "points": _decode(p)} for name, v, p in rows}


def snapshot_keys(conn: Conn, run_id: str) -> dict[str, int]:
    rows = conn.execute(
        "SELECT key, count(*) FROM snapshots WHERE run_id = %s GROUP BY key ORDER BY key",
        (run_id,),
    ).fetchall()
    return {k: int(n) for k, n in rows}


def snapshot_versions(conn: Conn, run_id: str, key: str) -> list[dict[str, Any]]:
    rows = conn.execute(
        "SELECT version, step, ts, reason FROM snapshots WHERE run_id = %s AND key = %s"
        " ORDER BY version",
        (run_id, key),
    ).fetchall()
    return [{"version": v, "step": s, "ts": t, "reason": r} for v, s, t, r in rows]


def snapshot_value(conn: Conn, run_id: str, key: str, version: int | None) -> Any:
    """The value of one kept version (the latest when ``version`` is None); KeyError if none."""
    sql = "SELECT version, step, ts, reason, value FROM snapshots WHERE run_id = %s AND key = %s"
    args: list[Any] = [run_id, key]
    if version is not None:
        sql += " AND version = %s"
        args.append(version)
    row = conn.execute(sql + " ORDER BY version DESC LIMIT 1", args).fetchone()
    if row is None:
        raise KeyError(key)
    return {
        "version": row[0],
        "step": row[1],
        "ts": row[2],
        "reason": row[3],
        "value": _decode(row[4]),
    }
