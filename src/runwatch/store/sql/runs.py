"""Creating and listing runs."""

from __future__ import annotations

import time
from typing import Any

from runwatch.protocol import RunCreate
from runwatch.store.base import Record, RunInfo
from runwatch.store.errors import RunExists
from runwatch.store.sql import records
from runwatch.store.sql.records import RUN_COLUMNS, json_text
from runwatch.store.sql.tx import Tx

MAX_RUNS_LISTED = 1000
VITALS_HISTORY = 120  # samples per vital in a run page's first view


def create_run(tx: Tx, run_id: str, spec: RunCreate) -> tuple[RunInfo, list[Record]]:
    """A new run, ``running`` (and its live status record); a producer retrying its own
    creation gets the run as it is (and no record); another project's run of that id is 409."""
    now = time.time()
    created = tx.execute(
        f"INSERT INTO runs ({RUN_COLUMNS}) VALUES (?,?,?,?,?,?,'running',"
        "?,?,NULL,?,NULL,NULL,1,'{}',?,?,?,'[]') ON CONFLICT (id) DO NOTHING RETURNING id",
        (run_id, spec.project, spec.name or f"run-{run_id[:6]}", spec.group, json_text(spec.tags),
         json_text(spec.config), now, now, now, json_text(spec.snapshot), now, spec.heartbeat),
    ).fetchone()  # fmt: skip
    if created is None:
        existing = records.fetch_run(tx, run_id)
        assert existing is not None
        if existing.project != spec.project:
            raise RunExists(f"run {run_id!r} exists in another project", "$.id")
        return existing, []
    record = records.status_change(tx, run_id, 1, "running", now)
    records.journal(tx, run_id, [record])
    run = records.fetch_run(tx, run_id)
    assert run is not None
    return run, [record]


def list_runs(
    tx: Tx, project: str | None = None, status: str | None = None, tag: str | None = None
) -> list[RunInfo]:
    """The newest :data:`MAX_RUNS_LISTED` runs matching every filter given, newest first."""
    where, args = ["TRUE"], list[Any]()
    if project is not None:
        where.append("project = ?")
        args.append(project)
    if status is not None:
        where.append("status = ?")
        args.append(status)
    if tag is not None:
        where.append(tx.dialect.has_tag)
        args.append(tag)
    sql = (
        f"SELECT {RUN_COLUMNS} FROM runs WHERE {' AND '.join(where)}"
        f" ORDER BY created_at DESC LIMIT {MAX_RUNS_LISTED}"
    )
    return [records.run_info(r) for r in tx.execute(sql, args).fetchall()]
