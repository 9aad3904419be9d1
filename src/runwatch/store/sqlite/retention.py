"""Retention: drop raw chunks past a project's limits (the pyramid keeps their aggregates), and
trim each run's live journal to its newest records."""

from __future__ import annotations

import math
import sqlite3

# Records of each run's journal kept for replay. A client further behind than this is told to
# re-hydrate (``reset``) anyway, so older records only cost disk.
JOURNAL_KEEP = 50_000


def trim_journals(conn: sqlite3.Connection, keep: int = JOURNAL_KEEP) -> int:
    """Delete journal records more than ``keep`` behind their run's newest; return how many."""
    deleted = 0
    for run_id, seq in conn.execute("SELECT id, seq FROM runs WHERE seq > ?", (keep,)).fetchall():
        cursor = conn.execute(
            "DELETE FROM journal WHERE run_id = ? AND seq <= ?", (run_id, seq - keep)
        )
        deleted += cursor.rowcount
    return deleted


def drop_raw(conn: sqlite3.Connection, now: float, project: str | None) -> int:
    """Delete raw chunks past retention; record per series how far raw is now incomplete."""
    rules = conn.execute(
        "SELECT project, raw_keep_steps, raw_keep_days FROM retention"
        " WHERE (raw_keep_steps IS NOT NULL OR raw_keep_days IS NOT NULL)"
        " AND (? IS NULL OR project = ?)",
        (project, project),
    ).fetchall()
    dropped = 0
    for name, keep_steps, keep_days in rules:
        series = conn.execute(
            "SELECT s.id FROM series s JOIN runs r ON r.id = s.run_id WHERE r.project = ?",
            (name,),
        ).fetchall()
        for (sid,) in series:
            newest = conn.execute(
                "SELECT max(step_max) FROM chunks WHERE series_id = ?", (sid,)
            ).fetchone()[0]
            if newest is None:
                continue
            step_cut = -math.inf if keep_steps is None else newest - keep_steps
            ts_cut = -math.inf if keep_days is None else now - keep_days * 86400
            where = "series_id = ? AND (step_max < ? OR ts_max < ?)"
            args = (sid, step_cut, ts_cut)
            floor_step, floor_ts, count = conn.execute(
                f"SELECT max(step_max), max(ts_max), count(*) FROM chunks WHERE {where}", args
            ).fetchone()
            if not count:
                continue
            conn.execute(f"DELETE FROM chunks WHERE {where}", args)
            conn.execute(
                "UPDATE series SET raw_floor_step = max(coalesce(raw_floor_step, ?), ?),"
                " raw_floor_ts = max(coalesce(raw_floor_ts, ?), ?) WHERE id = ?",
                (floor_step, floor_step, floor_ts, floor_ts, sid),
            )
            dropped += count
    return dropped
