"""A run's sticky state: tables, point sets, snapshot history, logs, artifacts, vitals.

Each keeps only its latest (bounded) state; every change is one journaled live message.
Writers run inside the ingest transaction, which holds the run's lock.
"""

from __future__ import annotations

import time
from typing import Any

import msgspec

from runwatch.protocol import MAX_COMMAND_KINDS, LogLine, PointSetIn, SnapshotIn, TableIn
from runwatch.store import snapshots as history
from runwatch.store.base import Record
from runwatch.store.prepare import Limits
from runwatch.store.sql import records
from runwatch.store.sql.events import birth_step, entity_columns, entity_match
from runwatch.store.sql.records import json_text
from runwatch.store.sql.tx import Tx

_decode = msgspec.json.decode
POINT_SET_CAP = 4_000  # FIFO cap of an appended point set unless the producer says otherwise
TABLE_APPEND_CAP = 1_000  # rows kept by an appended table unless the producer says otherwise
LOG_LINES_CAP = 100_000  # log lines kept per run; the oldest go first
MAX_CONFIG_BYTES = Limits().max_config_bytes
MANIFEST_PRODUCERS = 16  # producers whose artifact lists a run keeps; the oldest go first


def write_table(tx: Tx, run_id: str, t: TableIn) -> Record:
    """Replace or append to a table (an appended one keeps its newest rows)."""
    row = tx.execute(
        "SELECT version, rows FROM tables WHERE run_id = ? AND name = ?", (run_id, t.name)
    ).fetchone()
    version = (row[0] if row else 0) + 1
    rows = t.rows
    if t.mode == "append":
        cap = t.max_rows or TABLE_APPEND_CAP
        rows = ((_decode(row[1]) if row else []) + t.rows)[-cap:]
    tx.execute(
        "INSERT INTO tables (run_id, name, version, rows, updated_at) VALUES (?,?,?,?,?)"
        " ON CONFLICT (run_id, name) DO UPDATE SET version = excluded.version,"
        " rows = excluded.rows, updated_at = excluded.updated_at",
        (run_id, t.name, version, json_text(rows), time.time()),
    )
    message = {"type": "table", "name": t.name, "version": version, "mode": t.mode, "rows": t.rows}
    if t.mode == "append":
        message["max_rows"] = t.max_rows or TABLE_APPEND_CAP
    return records.live_message(tx, run_id, message)


def write_point_set(tx: Tx, run_id: str, p: PointSetIn) -> Record:
    """Replace or append to a point set (FIFO-capped)."""
    row = tx.execute(
        "SELECT version, points FROM point_sets WHERE run_id = ? AND name = ?", (run_id, p.name)
    ).fetchone()
    version = (row[0] if row else 0) + 1
    cap = p.cap or POINT_SET_CAP
    points = p.points if p.replace else (_decode(row[1]) if row else []) + p.points
    points = points[-cap:]
    tx.execute(
        "INSERT INTO point_sets (run_id, name, version, points, updated_at) VALUES (?,?,?,?,?)"
        " ON CONFLICT (run_id, name) DO UPDATE SET version = excluded.version,"
        " points = excluded.points, updated_at = excluded.updated_at",
        (run_id, p.name, version, json_text(points), time.time()),
    )
    message = {
        "type": "points_set", "name": p.name, "version": version, "replace": p.replace,
        "cap": cap, "points": p.points[-cap:],
    }  # fmt: skip
    return records.live_message(tx, run_id, message)


def write_snapshot(tx: Tx, run_id: str, snap: SnapshotIn, epsilon: float) -> list[Record]:
    """Keep this version if the retention rule says so (see ``store.snapshots``)."""
    key_row = tx.execute(
        "SELECT first_step, next_age, last_version FROM snapshot_keys WHERE run_id = ? AND key = ?",
        (run_id, snap.key),
    ).fetchone()
    first_step, next_age, last_version = key_row if key_row else (None, 1, 0)
    previous = None
    if key_row is not None:
        prev = tx.execute(
            "SELECT value FROM snapshots WHERE run_id = ? AND key = ? ORDER BY version DESC LIMIT 1",
            (run_id, snap.key),
        ).fetchone()
        previous = _decode(prev[0] if prev else "null")
    reason = history.reason_to_keep(first_step, next_age, previous, snap.step, snap.value, epsilon)
    if reason is None:
        return []
    if first_step is None:
        first = history.ages_start(birth_step(tx, run_id, snap.entity), snap.step)
    else:
        first = first_step
    version = last_version + 1
    tx.execute(
        "INSERT INTO snapshots (run_id, key, version, step, ts, reason, value)"
        " VALUES (?,?,?,?,?,?,?)",
        (run_id, snap.key, version, snap.step, snap.ts, reason, json_text(snap.value)),
    )
    entity, entity_int = entity_columns(snap.entity)
    tx.execute(
        "INSERT INTO snapshot_keys"
        " (run_id, key, first_step, next_age, last_version, entity, entity_int)"
        " VALUES (?,?,?,?,?,?,?) ON CONFLICT (run_id, key) DO UPDATE"
        " SET first_step = excluded.first_step, next_age = excluded.next_age,"
        " last_version = excluded.last_version, entity = excluded.entity,"
        " entity_int = excluded.entity_int",
        (run_id, snap.key, first, history.next_age_after(first, snap.step, next_age), version,
         entity, entity_int),
    )  # fmt: skip
    kept = tx.execute(
        "SELECT version, reason FROM snapshots WHERE run_id = ? AND key = ? ORDER BY version",
        (run_id, snap.key),
    ).fetchall()
    drop = history.to_drop([(int(v), r) for v, r in kept])
    tx.executemany(
        "DELETE FROM snapshots WHERE run_id = ? AND key = ? AND version = ?",
        [(run_id, snap.key, v) for v in drop],
    )
    message = {
        "type": "snapshot", "key": snap.key, "version": version, "step": snap.step,
        "ts": snap.ts, "reason": reason, "dropped": drop,
    }  # fmt: skip
    return [records.live_message(tx, run_id, message)]


def write_logs(tx: Tx, run_id: str, lines: list[LogLine]) -> Record:
    """Number and store the lines, keep the newest LOG_LINES_CAP, one live message for all."""
    row = tx.execute(
        "SELECT coalesce(max(line), 0) FROM logs WHERE run_id = ?", (run_id,)
    ).fetchone()
    last = int(row[0])
    rows = [(run_id, last + i + 1, x.stream, x.ts, x.text) for i, x in enumerate(lines)]
    tx.copy_rows("logs", "run_id, line, stream, ts, text", rows)
    newest = last + len(lines)
    if newest > LOG_LINES_CAP:
        tx.execute(
            "DELETE FROM logs WHERE run_id = ? AND line <= ?", (run_id, newest - LOG_LINES_CAP)
        )
    out = [{"line": r[1], "stream": r[2], "ts": r[3], "text": r[4]} for r in rows]
    return records.live_message(tx, run_id, {"type": "log", "lines": out})


def update_config(tx: Tx, run_id: str, changes: list[dict[str, Any]]) -> list[Record]:
    """Set the changed top-level keys of the run's config, one change after another (the run
    is locked by the ingest); the live message carries the whole config. A change that would
    take the config past ``max_config_bytes`` is left out and a warning event says so: the
    other changes, and the rest of the batch, still stand."""
    (stored,) = tx.execute("SELECT config FROM runs WHERE id = ?", (run_id,)).fetchone()
    config: dict[str, Any] = _decode(stored)
    refused: list[str] = []
    text = None
    for change in changes:
        candidate = {**config, **change}
        encoded = json_text(candidate)
        if len(encoded) > MAX_CONFIG_BYTES:
            refused += change
        else:
            config, text = candidate, encoded
    out: list[Record] = []
    if text is not None:
        tx.execute("UPDATE runs SET config = ? WHERE id = ?", (text, run_id))
        out.append(records.live_message(tx, run_id, {"type": "config", "config": config}))
    if refused:
        error = f"the run's config would pass max_config_bytes={MAX_CONFIG_BYTES}"
        payload = {"error": error, "keys": sorted(set(refused))[:100]}
        out.append(records.server_event(tx, run_id, "config.refused", "warning", payload))
    return out


def write_manifest(tx: Tx, run_id: str, producer: str, manifest: list[dict[str, Any]]) -> Record:
    """Replace the artifacts ``producer`` listed (a launcher's scan, a W&B script's logged
    artifacts): each producer's list stands beside the others'. The newest
    :data:`MANIFEST_PRODUCERS` producers are kept."""
    row = tx.execute("SELECT manifest FROM artifacts WHERE run_id = ?", (run_id,)).fetchone()
    parts = _manifest_parts(row[0]) if row else {}
    parts.pop(producer, None)
    parts[producer] = manifest
    parts = dict(list(parts.items())[-MANIFEST_PRODUCERS:])
    tx.execute(
        "INSERT INTO artifacts (run_id, manifest, updated_at) VALUES (?,?,?)"
        " ON CONFLICT (run_id) DO UPDATE SET manifest = excluded.manifest,"
        " updated_at = excluded.updated_at",
        (run_id, json_text(parts), time.time()),
    )
    listed = [entry for entries in parts.values() for entry in entries]
    return records.live_message(tx, run_id, {"type": "artifact", "artifacts": listed})


def _manifest_parts(stored: str | bytes) -> dict[str, list[Any]]:
    """The stored manifests by producer (a list: one stored before they were kept apart)."""
    parts = _decode(stored)
    return {"": parts} if isinstance(parts, list) else dict(parts)


def add_command_kinds(tx: Tx, run_id: str, kinds: list[str]) -> list[Record]:
    """Note command kinds the producer handles (the first MAX_COMMAND_KINDS); open pages hear
    of new ones at once and offer them."""
    row = tx.execute("SELECT command_kinds FROM runs WHERE id = ?", (run_id,)).fetchone()
    known = _decode(row[0]) if row else []
    fresh = [k for k in dict.fromkeys(kinds) if k not in known][: MAX_COMMAND_KINDS - len(known)]
    if not fresh:
        return []
    kept = known + fresh
    tx.execute("UPDATE runs SET command_kinds = ? WHERE id = ?", (json_text(kept), run_id))
    return [records.live_message(tx, run_id, {"type": "command_kinds", "kinds": kept})]


def add_vitals(tx: Tx, run_id: str, keys: list[str]) -> list[Record]:
    """Mark keys as vitals; open pages hear of new ones at once."""
    row = tx.execute("SELECT vitals FROM runs WHERE id = ?", (run_id,)).fetchone()
    known = _decode(row[0]) if row else []
    fresh = [k for k in dict.fromkeys(keys) if k not in known]
    if not fresh:
        return []
    tx.execute("UPDATE runs SET vitals = ? WHERE id = ?", (json_text(known + fresh), run_id))
    return [records.live_message(tx, run_id, {"type": "vitals", "keys": known + fresh})]


# -- reads ----------------------------------------------------------------------------------
def read_manifest(tx: Tx, run_id: str) -> list[Any]:
    """The run's artifact manifest: every producer's entries (empty when it has none)."""
    row = tx.execute("SELECT manifest FROM artifacts WHERE run_id = ?", (run_id,)).fetchone()
    if row is None:
        return []
    return [entry for entries in _manifest_parts(row[0]).values() for entry in entries]


def like_literal(text: str) -> str:
    """``text`` as a LIKE pattern matching it literally (with ``ESCAPE '\\'``)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def read_logs(
    tx: Tx,
    run_id: str,
    after: int,
    stream: str | None,
    limit: int,
    q: str | None = None,
    before: int | None = None,
) -> list[dict[str, Any]]:
    """Log lines after line ``after`` (of one stream, if given; holding ``q``, ASCII letters in
    either case, if given), oldest first; with ``before``, the newest ``limit`` lines under it."""
    sql = "SELECT line, stream, ts, text FROM logs WHERE run_id = ? AND line > ?"
    args: list[Any] = [run_id, after]
    if stream is not None:
        sql += " AND stream = ?"
        args.append(stream)
    if q is not None:
        # lower() folds ASCII only in both databases (PostgreSQL's under the C collation), so
        # a search finds the same lines on SQLite and PostgreSQL.
        sql += f" AND lower(text{tx.dialect.binary_order}) LIKE ? ESCAPE '\\'"
        args.append(f"%{like_literal(_ascii_lower(q))}%")
    if before is not None:
        sql += " AND line < ? ORDER BY line DESC LIMIT ?"
        rows = tx.execute(sql, [*args, before, limit]).fetchall()[::-1]
    else:
        rows = tx.execute(sql + " ORDER BY line LIMIT ?", [*args, limit]).fetchall()
    return [{"line": n, "stream": s, "ts": t, "text": x} for n, s, t, x in rows]


def _ascii_lower(text: str) -> str:
    return text.translate(_ASCII_LOWER)


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def tables(tx: Tx, run_id: str) -> dict[str, Any]:
    """The run's tables by name."""
    rows = tx.execute(
        f"SELECT name, version, rows FROM tables WHERE run_id = ? ORDER BY name{tx.dialect.binary_order}",
        (run_id,),
    ).fetchall()
    return {name: {"version": v, "rows": _decode(r)} for name, v, r in rows}


def point_sets(tx: Tx, run_id: str) -> dict[str, Any]:
    """The run's point sets by name."""
    rows = tx.execute(
        "SELECT name, version, points FROM point_sets WHERE run_id = ?"
        f" ORDER BY name{tx.dialect.binary_order}",
        (run_id,),
    ).fetchall()
    return {name: {"version": v, "points": _decode(p)} for name, v, p in rows}


def snapshot_keys(tx: Tx, run_id: str) -> dict[str, int]:
    """Each snapshot key of the run with its number of kept versions."""
    rows = tx.execute(
        "SELECT key, count(*) FROM snapshots WHERE run_id = ? GROUP BY key"
        f" ORDER BY key{tx.dialect.binary_order}",
        (run_id,),
    ).fetchall()
    return {k: int(n) for k, n in rows}


def entity_snapshots(tx: Tx, run_id: str, entity: str, limit: int) -> list[dict[str, Any]]:
    """The snapshot keys naming ``entity`` (code-point order, at most ``limit``), each with its
    number of kept versions and newest step."""
    match, args = entity_match(entity, "k")
    rows = tx.execute(
        "SELECT k.key, count(*), max(s.step) FROM snapshot_keys k JOIN snapshots s"
        f" ON s.run_id = k.run_id AND s.key = k.key WHERE k.run_id = ? AND {match}"
        f" GROUP BY k.key ORDER BY k.key{tx.dialect.binary_order} LIMIT ?",
        (run_id, *args, limit),
    ).fetchall()
    return [{"key": k, "versions": int(n), "last_step": int(s)} for k, n, s in rows]


def snapshot_versions(tx: Tx, run_id: str, key: str) -> list[dict[str, Any]]:
    """The kept versions of one snapshot key, oldest first (without their values)."""
    rows = tx.execute(
        "SELECT version, step, ts, reason FROM snapshots WHERE run_id = ? AND key = ?"
        " ORDER BY version",
        (run_id, key),
    ).fetchall()
    return [{"version": v, "step": s, "ts": t, "reason": r} for v, s, t, r in rows]


def snapshot_value(tx: Tx, run_id: str, key: str, version: int | None) -> Any:
    """The value of one kept version (the latest when ``version`` is None); KeyError if none."""
    sql = "SELECT version, step, ts, reason, value FROM snapshots WHERE run_id = ? AND key = ?"
    args: list[Any] = [run_id, key]
    if version is not None:
        sql += " AND version = ?"
        args.append(version)
    row = tx.execute(sql + " ORDER BY version DESC LIMIT 1", args).fetchone()
    if row is None:
        raise KeyError(key)
    return {
        "version": row[0],
        "step": row[1],
        "ts": row[2],
        "reason": row[3],
        "value": _decode(row[4]),
    }
