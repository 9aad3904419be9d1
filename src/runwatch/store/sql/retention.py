"""Retention: drop raw chunks past a project's limits (the pyramid keeps their aggregates), and
trim each run's live journal to its newest records.

Each run is its own transaction (the store loops over :func:`runs_with_rules`): it holds only
that run's lock, and briefly, so ingest of other runs goes on meanwhile."""

from __future__ import annotations

import math

from runwatch.store.sql import records
from runwatch.store.sql.tx import Tx

# Records of each run's journal kept for replay. A client further behind than this is told to
# re-hydrate (``reset``) anyway, so older records only cost disk.
JOURNAL_KEEP = 50_000


def trim_journals(tx: Tx, keep: int = JOURNAL_KEEP) -> int:
    """Delete journal records more than ``keep`` behind their run's newest; return how many."""
    deleted = 0
    for run_id, seq in tx.execute("SELECT id, seq FROM runs WHERE seq > ?", (keep,)).fetchall():
        cursor = tx.execute(
            "DELETE FROM journal WHERE run_id = ? AND seq <= ?", (run_id, seq - keep)
        )
        deleted += cursor.rowcount
    return deleted


def runs_with_rules(tx: Tx, project: str | None) -> list[tuple[str, int | None, float | None]]:
    """(run, raw_keep_steps, raw_keep_days) of every run whose project has a retention rule
    (only ``project``'s, when given)."""
    rows = tx.execute(
        "SELECT r.id, t.raw_keep_steps, t.raw_keep_days FROM retention t"
        " JOIN runs r ON r.project = t.project"
        " WHERE (t.raw_keep_steps IS NOT NULL OR t.raw_keep_days IS NOT NULL)"
        " AND (CAST(? AS TEXT) IS NULL OR t.project = ?) ORDER BY r.id",
        (project, project),
    ).fetchall()
    return [(r[0], r[1], r[2]) for r in rows]


def drop_run_raw(
    tx: Tx, run_id: str, keep_steps: int | None, keep_days: float | None, now: float
) -> int:
    """Delete one run's raw chunks past retention; record per series how far raw is now
    incomplete. Locks the run first: an ingest appending to a chunk must not lose it to us."""
    records.lock_run(tx, run_id)
    newest = tx.execute(
        "SELECT s.id, max(c.step_max) FROM series s JOIN chunks c ON c.series_id = s.id"
        " WHERE s.run_id = ? GROUP BY s.id ORDER BY s.id",
        (run_id,),
    ).fetchall()
    dropped = 0
    for sid, step_max in newest:
        step_cut = -math.inf if keep_steps is None else step_max - keep_steps
        ts_cut = -math.inf if keep_days is None else now - keep_days * 86400
        where = "series_id = ? AND (step_max < ? OR ts_max < ?)"
        args = (sid, step_cut, ts_cut)
        floor_step, floor_ts, count = tx.execute(
            f"SELECT max(step_max), max(ts_max), count(*) FROM chunks WHERE {where}", args
        ).fetchone()
        if not count:
            continue
        tx.execute(f"DELETE FROM chunks WHERE {where}", args)
        # The floors only rise (a NULL floor is none yet).
        tx.execute(
            "UPDATE series SET"
            " raw_floor_step = CASE WHEN raw_floor_step > ? THEN raw_floor_step ELSE ? END,"
            " raw_floor_ts = CASE WHEN raw_floor_ts > ? THEN raw_floor_ts ELSE ? END WHERE id = ?",
            (floor_step, floor_step, floor_ts, floor_ts, sid),
        )
        dropped += int(count)
    return dropped
