"""Projects: their runs at a glance, and each project's retention rule."""

from __future__ import annotations

from runwatch.protocol import Retention
from runwatch.store.base import ProjectInfo
from runwatch.store.sql.tx import Tx


def list_projects(tx: Tx) -> list[ProjectInfo]:
    """Every project with its run count, running count and last update, by name."""
    sql = (
        "SELECT project, count(*), count(*) FILTER (WHERE status = 'running'), max(last_update)"
        f" FROM runs GROUP BY project ORDER BY project{tx.dialect.binary_order}"
    )
    return [ProjectInfo(r[0], r[1], r[2], r[3]) for r in tx.execute(sql).fetchall()]


def get_retention(tx: Tx, project: str) -> Retention:
    """The project's retention rule (the default rule when it has none)."""
    row = tx.execute(
        "SELECT raw_keep_steps, raw_keep_days FROM retention WHERE project = ?", (project,)
    ).fetchone()
    return Retention() if row is None else Retention(*row)


def set_retention(tx: Tx, project: str, rule: Retention) -> None:
    """Store the project's retention rule (replacing any)."""
    tx.execute(
        "INSERT INTO retention (project, raw_keep_steps, raw_keep_days) VALUES (?, ?, ?)"
        " ON CONFLICT (project) DO UPDATE SET raw_keep_steps = excluded.raw_keep_steps,"
        " raw_keep_days = excluded.raw_keep_days",
        (project, rule.raw_keep_steps, rule.raw_keep_days),
    )
