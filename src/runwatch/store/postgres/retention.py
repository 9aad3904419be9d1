"""Retention on PostgreSQL: drop raw chunks past a project's limits (the pyramid keeps their
aggregates) and trim each run's journal; the rules of ``store.sqlite.retention``."""

from __future__ import annotations

import math

from runwatch.store.postgres.tx import Conn
from runwatch.store.sqlite.retention import JOURNAL_KEEP


def trim_journals(conn: Conn, keep: int = JOURNAL_KEEP) -> int:
    """Delete journal records more than ``keep`` behind their run's newest; return how many."""
    cursor = conn.execute(
        "DELETE FROM journal j USING runs r WHERE r.id = j.run_id AND r.seq > %s"
        " AND j.seq <= r.seq - %s",
        (keep, keep),
    )
    return cursor.rowcount


def runs_with_rules(conn: Conn, project: str | None) -> list[tuple[str, int | None, float | None]]:
    """(run, raw_keep_steps, raw_keep_days) of every run whose project has a retention rule."""
    rows = conn.execute(
        "SELECT r.id, t.raw_keep_steps, t.raw_keep_days FROM retention t"
        " JOIN runs r ON r.project = t.project"
        " WHERE (t.raw_keep_steps IS NOT NULL OR t.raw_keep_days IS NOT NULL)"
        " AND (%s::text IS NULL OR t.project = %s) ORDER BY r.id",
        (project, project),
    ).fetchall()
    return [(r[0], r[1], r[2]) for r in rows]


def drop_run_raw(
    conn: Conn, run_id: str, keep_steps: int | None, keep_days: float | None, now: float
) -> int:
    """Delete one run's raw chunks past retention; record per series how far raw is now
    incomplete. Locks the run first: an ingest appending to a chunk must not lose it to us."""
    conn.execute("SELECT 1 FROM runs WHERE id = %s FOR UPDATE", (run_id,))
    newest = conn.execute(
        "SELECT s.id, max(c.step_max) FROM series s JOIN chunks c ON c.series_id = s.id"
        " WHERE s.run_id = %s GROUP BY s.id ORDER BY s.id",
        (run_id,),
    ).fetchall()
    dropped = 0
    for sid, step_max in newest:
        step_cut = -math.inf if keep_steps is None else step_max - keep_steps
        ts_cut = -math.inf if keep_days is None else now - keep_days * 86400
        row = conn.execute(
            "WITH gone AS (DELETE FROM chunks WHERE series_id = %s"
            " AND (step_max < %s OR ts_max < %s) RETURNING step_max, ts_max)"
            " SELECT max(step_max), max(ts_max), count(*) FROM gone",
            (sid, step_cut, ts_cut),
        ).fetchone()
        assert row is not None
        floor_step, floor_ts, count = row
        if not count:
            continue
        conn.execute(
            "UPDATE series SET raw_floor_step = greatest(raw_floor_step, %s),"
            " raw_floor_ts = greatest(raw_floor_ts, %s) WHERE id = %s",
            (floor_step, floor_ts, sid),
        )
        dropped += int(count)
    return dropped
