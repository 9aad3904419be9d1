"""Media over steps: image blobs by SHA-256, each image key's bounded history, histograms.

A blob is stored once whatever number of runs, keys and steps show it; a media row names it by
its hash. The live message of an image carries its metadata only, never its bytes. The rules of
what is kept are in ``store.media_history``. Writers run inside the ingest transaction, which
holds the run's lock.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from runwatch.protocol import HistogramIn, MediaIn
from runwatch.store import media_history as rule
from runwatch.store.base import Record
from runwatch.store.errors import BlobMissing, InvalidValue
from runwatch.store.snapshots import ages_start, next_age_after
from runwatch.store.sql import records
from runwatch.store.sql.events import birth_step, entity_columns, entity_match, entity_value
from runwatch.store.sql.tx import Tx

# An unreferenced blob is deleted this long after its last upload: the batch that names it
# follows its upload, and a producer that uploads again (the same bytes) renews it.
BLOB_GRACE = 3_600.0
BLOB_SWEEP_BATCH = 1_000  # blobs deleted per sweep transaction at most
_ITEM_COLUMNS = (
    "step, ts, kind, sha256, mime, size, width, height, caption, entity, entity_int, vmin, vmax"
)


# -- blobs ----------------------------------------------------------------------------------
def put_blobs(tx: Tx, blobs: Sequence[tuple[str, str, bytes]], now: float) -> list[bool]:
    """Store ``(sha256, mime, bytes)`` blobs (their hashes already checked): one statement
    renews those the store has (see :data:`BLOB_GRACE`), one multi-row insert adds the rest.
    True for each blob that was new (a hash given twice is new once)."""
    hashes = list(dict.fromkeys(sha256 for sha256, _, _ in blobs))
    renewed = {
        row[0]
        for row in tx.execute(
            f"UPDATE blobs SET created_at = ? WHERE sha256 IN ({','.join('?' * len(hashes))})"
            " RETURNING sha256",
            (now, *hashes),
        )
    }
    rows: dict[str, tuple[str, str, int, float, bytes]] = {}
    new = []
    for sha256, mime, data in blobs:
        new.append(sha256 not in renewed and sha256 not in rows)
        if new[-1]:
            rows[sha256] = (sha256, mime, len(data), now, data)
    if rows:
        tx.insert_many(
            "blobs",
            "sha256, mime, size, created_at, data",
            "text, text, bigint, float8, bytea",
            list(rows.values()),
            "ON CONFLICT (sha256) DO NOTHING",
        )
    return new


def blob_mime(tx: Tx, run_id: str, sha256: str) -> str | None:
    """The blob's mime when the run shows it (a blob is served only through a run that names
    it, so a token limited to one project reads no other project's images)."""
    row = tx.execute(
        "SELECT b.mime FROM blobs b WHERE b.sha256 = ? AND EXISTS"
        " (SELECT 1 FROM media m WHERE m.sha256 = b.sha256 AND m.run_id = ?)",
        (sha256, run_id),
    ).fetchone()
    return None if row is None else str(row[0])


def blob(tx: Tx, run_id: str, sha256: str) -> tuple[str, bytes] | None:
    """``(mime, bytes)`` of a blob the run shows (see :func:`blob_mime`), else None."""
    row = tx.execute(
        "SELECT b.mime, b.data FROM blobs b WHERE b.sha256 = ? AND EXISTS"
        " (SELECT 1 FROM media m WHERE m.sha256 = b.sha256 AND m.run_id = ?)",
        (sha256, run_id),
    ).fetchone()
    return None if row is None else (str(row[0]), bytes(row[1]))


def sweep_blobs(tx: Tx, now: float, grace: float = BLOB_GRACE) -> int:
    """Delete blobs no media row names, uploaded more than ``grace`` s ago; return how many."""
    cursor = tx.execute(
        "DELETE FROM blobs WHERE sha256 IN (SELECT b.sha256 FROM blobs b WHERE b.created_at < ?"
        " AND NOT EXISTS (SELECT 1 FROM media m WHERE m.sha256 = b.sha256) LIMIT ?)",
        (now - grace, BLOB_SWEEP_BATCH),
    )
    return max(cursor.rowcount, 0)


# -- images ---------------------------------------------------------------------------------
def write_media(tx: Tx, run_id: str, index: int, m: MediaIn) -> Record:
    """Keep an image at its step (replacing one logged at the same step), drop what the key's
    history no longer keeps, and return the live message (metadata only)."""
    where = f"$.media[{index}]"
    found = tx.execute("SELECT size, mime FROM blobs WHERE sha256 = ?", (m.sha256,)).fetchone()
    if found is None:
        raise BlobMissing(
            f"no blob {m.sha256}: upload it first (PUT /api/v1/runs/{run_id}/blobs/{m.sha256})",
            f"{where}.sha256",
        )
    size = int(found[0])
    if found[1] != m.mime:
        raise InvalidValue(f"the blob was uploaded as {found[1]}, not {m.mime}", f"{where}.mime")
    if m.kind != "image" and size != m.width * m.height * 4:
        raise InvalidValue(
            f"a {m.kind} of {m.width}x{m.height} is {m.width * m.height * 4} bytes; "
            f"the blob has {size}",
            f"{where}.width",
        )
    key_row = tx.execute(
        "SELECT kind, first_step, next_age FROM media_keys WHERE run_id = ? AND key = ?",
        (run_id, m.key),
    ).fetchone()
    if key_row is not None and key_row[0] != m.kind:
        raise InvalidValue(f"key {m.key!r} holds {key_row[0]}s, not {m.kind}s", f"{where}.kind")
    if key_row is None:  # a new key: kept, its ages counting from its entity's birth
        keeper, first = True, ages_start(birth_step(tx, run_id, m.entity), m.step)
        next_age = next_age_after(first, m.step, 1)
    else:
        first = int(key_row[1])
        keeper, next_age = rule.log_keeper(first, int(key_row[2]), m.step)
    tx.execute(
        "INSERT INTO media_keys (run_id, key, kind, first_step, next_age) VALUES (?,?,?,?,?)"
        " ON CONFLICT (run_id, key) DO UPDATE SET next_age = excluded.next_age",
        (run_id, m.key, m.kind, first, next_age),
    )
    previous = tx.execute(
        "SELECT log_keep FROM media WHERE run_id = ? AND key = ? AND step = ?",
        (run_id, m.key, m.step),
    ).fetchone()
    keeper = keeper or (previous is not None and bool(previous[0]))
    entity, entity_int = entity_columns(m.entity)
    tx.execute(
        f"INSERT INTO media (run_id, key, {_ITEM_COLUMNS}, log_keep)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
        " ON CONFLICT (run_id, key, step) DO UPDATE SET ts = excluded.ts,"
        " kind = excluded.kind, sha256 = excluded.sha256, mime = excluded.mime,"
        " size = excluded.size, width = excluded.width, height = excluded.height,"
        " caption = excluded.caption, entity = excluded.entity,"
        " entity_int = excluded.entity_int, vmin = excluded.vmin, vmax = excluded.vmax,"
        " log_keep = excluded.log_keep",
        (run_id, m.key, m.step, m.ts, m.kind, m.sha256, m.mime, size, m.width, m.height,
         m.caption, entity, entity_int, m.vmin, m.vmax, keeper),
    )  # fmt: skip
    dropped = _drop_old_media(tx, run_id, m.key)
    message = {
        "type": "media", "key": m.key, "step": m.step, "ts": m.ts, "kind": m.kind,
        "sha256": m.sha256, "mime": m.mime, "size": size, "width": m.width,
        "height": m.height, "caption": m.caption, "entity": m.entity, "vmin": m.vmin,
        "vmax": m.vmax, "dropped": dropped,
    }  # fmt: skip
    return records.live_message(tx, run_id, message)


def _drop_old_media(tx: Tx, run_id: str, key: str) -> list[int]:
    """Delete the key's steps older than its newest MEDIA_NEWEST that are not log keepers."""
    cutoff = tx.execute(
        "SELECT step FROM media WHERE run_id = ? AND key = ? ORDER BY step DESC LIMIT 1 OFFSET ?",
        (run_id, key, rule.MEDIA_NEWEST - 1),
    ).fetchone()
    if cutoff is None:
        return []
    old = [
        int(s)
        for (s,) in tx.execute(
            "SELECT step FROM media WHERE run_id = ? AND key = ? AND step < ? AND log_keep = ?"
            " ORDER BY step",
            (run_id, key, cutoff[0], False),
        ).fetchall()
    ]
    if old:
        tx.execute(
            "DELETE FROM media WHERE run_id = ? AND key = ? AND step < ? AND log_keep = ?",
            (run_id, key, cutoff[0], False),
        )
    return old


def _item(row: tuple[Any, ...]) -> dict[str, Any]:
    """A media row read with :data:`_ITEM_COLUMNS` as the API shows it."""
    return {
        "step": row[0], "ts": row[1], "kind": row[2], "sha256": row[3], "mime": row[4],
        "size": row[5], "width": row[6], "height": row[7], "caption": row[8],
        "entity": entity_value(row[9], bool(row[10])), "vmin": row[11], "vmax": row[12],
    }  # fmt: skip


def media_keys(tx: Tx, run_id: str, after: str, limit: int) -> list[dict[str, Any]]:
    """Image keys after ``after`` (code-point order), each with its kind, number of kept steps,
    first and last kept step, the kept step before the last (``prev_step``, None when it is
    the only one) and its newest item."""
    order = tx.dialect.binary_order
    rows = tx.execute(
        "SELECT m.key, c.n, c.first, (SELECT max(p.step) FROM media p"
        " WHERE p.run_id = m.run_id AND p.key = m.key AND p.step < m.step),"
        f" {', '.join('m.' + c for c in _ITEM_COLUMNS.split(', '))}"
        " FROM (SELECT key, count(*) AS n, min(step) AS first, max(step) AS last FROM media"
        f" WHERE run_id = ? AND key{order} > ? GROUP BY key ORDER BY key{order} LIMIT ?) c"
        " JOIN media m ON m.run_id = ? AND m.key = c.key AND m.step = c.last"
        f" ORDER BY m.key{order}",
        (run_id, after, limit, run_id),
    ).fetchall()
    return [
        {"key": r[0], "kind": r[6], "count": int(r[1]), "first_step": int(r[2]),
         "last_step": int(r[4]), "prev_step": None if r[3] is None else int(r[3]),
         "newest": _item(r[4:])}
        for r in rows
    ]  # fmt: skip


def entity_images(tx: Tx, run_id: str, entity: str, limit: int) -> list[dict[str, Any]]:
    """The image keys showing ``entity`` (code-point order, at most ``limit``): each with how
    many kept steps show it and the newest of them."""
    order = tx.dialect.binary_order
    match, args = entity_match(entity)
    rows = tx.execute(
        f"SELECT m.key, c.n, {', '.join('m.' + c for c in _ITEM_COLUMNS.split(', '))}"
        " FROM (SELECT key, count(*) AS n, max(step) AS last FROM media"
        f" WHERE run_id = ? AND {match} GROUP BY key ORDER BY key{order} LIMIT ?) c"
        " JOIN media m ON m.run_id = ? AND m.key = c.key AND m.step = c.last"
        f" ORDER BY m.key{order}",
        (run_id, *args, limit, run_id),
    ).fetchall()
    return [{"key": r[0], "kind": r[4], "count": int(r[1]), "newest": _item(r[2:])} for r in rows]


def media_counts(tx: Tx, run_id: str) -> dict[str, int]:
    """Each image key of the run with its number of kept steps."""
    rows = tx.execute(
        "SELECT key, count(*) FROM media WHERE run_id = ? GROUP BY key"
        f" ORDER BY key{tx.dialect.binary_order}",
        (run_id,),
    ).fetchall()
    return {str(k): int(n) for k, n in rows}


def media_items(
    tx: Tx, run_id: str, key: str, after: int | None, limit: int
) -> list[dict[str, Any]]:
    """A page of one key's kept items with step > ``after`` (all when None), oldest first."""
    sql = f"SELECT {_ITEM_COLUMNS} FROM media WHERE run_id = ? AND key = ?"
    args: list[Any] = [run_id, key]
    if after is not None:
        sql += " AND step > ?"
        args.append(after)
    rows = tx.execute(sql + " ORDER BY step LIMIT ?", [*args, limit]).fetchall()
    return [_item(r) for r in rows]


def media_nearest(tx: Tx, run_id: str, key: str, step: int) -> dict[str, Any] | None:
    """The kept item nearest ``step`` (the earlier on a tie), with the steps kept just before
    and after it (``prev``, ``next``: None at the ends) for a slider's neighbours; None when
    the key has no item."""
    below = tx.execute(
        f"SELECT {_ITEM_COLUMNS} FROM media WHERE run_id = ? AND key = ? AND step <= ?"
        " ORDER BY step DESC LIMIT 1",
        (run_id, key, step),
    ).fetchone()
    above = tx.execute(
        f"SELECT {_ITEM_COLUMNS} FROM media WHERE run_id = ? AND key = ? AND step > ?"
        " ORDER BY step LIMIT 1",
        (run_id, key, step),
    ).fetchone()
    if below is None and above is None:
        return None
    near = (
        below
        if above is None or (below is not None and step - below[0] <= above[0] - step)
        else above
    )
    prev = tx.execute(
        "SELECT max(step) FROM media WHERE run_id = ? AND key = ? AND step < ?",
        (run_id, key, near[0]),
    ).fetchone()
    nxt = tx.execute(
        "SELECT min(step) FROM media WHERE run_id = ? AND key = ? AND step > ?",
        (run_id, key, near[0]),
    ).fetchone()
    return {"item": _item(near), "prev": prev[0], "next": nxt[0]}


# -- histograms -----------------------------------------------------------------------------
def write_histogram(tx: Tx, run_id: str, h: HistogramIn) -> Record:
    """Keep a histogram at its step (replacing one at the same step), thin the key's older
    steps when it holds more than HISTOGRAM_CAP, and return the live message."""
    key_row = tx.execute(
        "SELECT first_step, stride, kept FROM histogram_keys WHERE run_id = ? AND key = ?",
        (run_id, h.key),
    ).fetchone()
    first, stride, kept = (h.step, 1, 0) if key_row is None else map(int, key_row)
    exists = tx.execute(
        "SELECT 1 FROM histograms WHERE run_id = ? AND key = ? AND step = ?",
        (run_id, h.key, h.step),
    ).fetchone()
    tx.execute(
        "INSERT INTO histograms (run_id, key, step, ts, edges, counts, nan, inf, neg_inf)"
        " VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT (run_id, key, step) DO UPDATE SET"
        " ts = excluded.ts, edges = excluded.edges, counts = excluded.counts,"
        " nan = excluded.nan, inf = excluded.inf, neg_inf = excluded.neg_inf",
        (run_id, h.key, h.step, h.ts, rule.pack_floats(h.edges), rule.pack_ints(h.counts),
         h.nan, h.inf, h.neg_inf),
    )  # fmt: skip
    kept += exists is None
    if stride > 1:  # older steps stay on the stride: the one that just left the newest, and
        # this one if it came late
        kept -= _leave_newest(tx, run_id, h.key, first, stride, h.step)
    while kept > rule.HISTOGRAM_CAP:
        stride *= 2
        kept -= _thin_histograms(tx, run_id, h.key, first, stride)
    tx.execute(
        "INSERT INTO histogram_keys (run_id, key, first_step, stride, kept) VALUES (?,?,?,?,?)"
        " ON CONFLICT (run_id, key) DO UPDATE SET stride = excluded.stride, kept = excluded.kept",
        (run_id, h.key, first, stride, kept),
    )
    message = {
        "type": "histogram", "key": h.key, "step": h.step, "ts": h.ts, "edges": h.edges,
        "counts": h.counts, "nan": h.nan, "inf": h.inf, "neg_inf": h.neg_inf,
    }  # fmt: skip
    return records.live_message(tx, run_id, message)


def _leave_newest(tx: Tx, run_id: str, key: str, first: int, stride: int, step: int) -> int:
    """Delete the step just past the key's newest HISTOGRAM_NEWEST, and ``step`` if it is
    older than that, when off ``stride``; return how many went."""
    past = tx.execute(
        "SELECT step FROM histograms WHERE run_id = ? AND key = ? ORDER BY step DESC"
        " LIMIT 1 OFFSET ?",
        (run_id, key, rule.HISTOGRAM_NEWEST),
    ).fetchone()
    if past is None:
        return 0
    gone = [
        s for s in {int(past[0]), step} if s <= past[0] and not rule.on_stride(first, stride, s)
    ]
    tx.executemany(
        "DELETE FROM histograms WHERE run_id = ? AND key = ? AND step = ?",
        [(run_id, key, s) for s in gone],
    )
    return len(gone)


def _thin_histograms(tx: Tx, run_id: str, key: str, first: int, stride: int) -> int:
    """Delete the key's steps older than its newest HISTOGRAM_NEWEST that are off ``stride``;
    return how many."""
    cutoff = tx.execute(
        "SELECT step FROM histograms WHERE run_id = ? AND key = ? ORDER BY step DESC"
        " LIMIT 1 OFFSET ?",
        (run_id, key, rule.HISTOGRAM_NEWEST - 1),
    ).fetchone()
    if cutoff is None:
        return 0
    cursor = tx.execute(
        "DELETE FROM histograms WHERE run_id = ? AND key = ? AND step < ? AND (step - ?) % ? <> 0",
        (run_id, key, cutoff[0], first, stride),
    )
    return max(cursor.rowcount, 0)


def histogram_keys(tx: Tx, run_id: str) -> dict[str, int]:
    """Each histogram key of the run with its number of kept steps."""
    rows = tx.execute(
        "SELECT key, kept FROM histogram_keys WHERE run_id = ?"
        f" ORDER BY key{tx.dialect.binary_order}",
        (run_id,),
    ).fetchall()
    return {str(k): int(n) for k, n in rows}


def histograms(
    tx: Tx, run_id: str, key: str, start: float | None, end: float | None, max_steps: int
) -> dict[str, Any] | None:
    """The key's kept histograms with ``start <= step <= end``, evenly thinned to at most
    ``max_steps`` (first and last kept), each with its percentiles; None for an unknown key."""
    if not histogram_keys_has(tx, run_id, key):
        return None
    sql = (
        "SELECT step, ts, edges, counts, nan, inf, neg_inf FROM histograms"
        " WHERE run_id = ? AND key = ?"
    )
    args: list[Any] = [run_id, key]
    if start is not None:
        sql += " AND step >= ?"
        args.append(start)
    if end is not None:
        sql += " AND step <= ?"
        args.append(end)
    rows = tx.execute(sql + " ORDER BY step", args).fetchall()
    picked = [rows[i] for i in rule.thin([r[0] for r in rows], max_steps)]
    steps: list[dict[str, Any]] = []
    for step, ts, edges_b, counts_b, nan, inf, neg_inf in picked:
        edges = rule.unpack_floats(bytes(edges_b))
        counts = rule.unpack_ints(bytes(counts_b))
        steps.append({
            "step": step, "ts": ts, "edges": edges, "counts": counts, "nan": nan, "inf": inf,
            "neg_inf": neg_inf, "percentiles": rule.percentiles(edges, counts),
        })  # fmt: skip
    return {
        "key": key,
        "in_range": len(rows),
        "percentiles": list(rule.PERCENTILES),
        "steps": steps,
    }


def histogram_keys_has(tx: Tx, run_id: str, key: str) -> bool:
    """Whether the run ever logged a histogram under ``key``."""
    row = tx.execute(
        "SELECT 1 FROM histogram_keys WHERE run_id = ? AND key = ?", (run_id, key)
    ).fetchone()
    return row is not None
