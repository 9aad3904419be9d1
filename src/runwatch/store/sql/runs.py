"""Creating, renaming and listing runs."""

from __future__ import annotations

import math
import time
from typing import Any

import msgspec

from runwatch.protocol import RunCreate, RunPatch
from runwatch.runs_query import compile_where, field_name, number_value, sort_key
from runwatch.runs_query.nodes import Field
from runwatch.store.base import FieldStats, Record, RunInfo, RunsGroup, RunsPage, RunsQuery
from runwatch.store.errors import RunExists
from runwatch.store.prepare import with_seq
from runwatch.store.sql import purge, records, sweeps, values
from runwatch.store.sql.records import RUN_COLUMNS, RUN_SELECT, RUN_SELECTED, json_text
from runwatch.store.sql.tx import Tx

MAX_RUNS_LISTED = 1000
VITALS_HISTORY = 120  # samples per vital in a run page's first view


def create_run(tx: Tx, run_id: str, spec: RunCreate) -> tuple[RunInfo, list[Record]]:
    """A new run, ``running`` (and its live status record) since the producer's ``started_at``
    (else now); a producer retrying its own creation gets the run as it is (and no record);
    another project's run of that id is 409, and so is a stopped sweep's trial not started, and
    a run of that id being deleted."""
    sweeps.refuse_unstarted(tx, run_id)
    now = time.time()
    start = now if spec.started_at is None else spec.started_at
    created = tx.execute(
        f"INSERT INTO runs ({RUN_COLUMNS}) VALUES (?,?,?,?,?,?,'running',"
        "?,?,NULL,?,NULL,NULL,1,'{}',?,?,?,'[]','{}','[]',0) ON CONFLICT (id) DO NOTHING RETURNING id",
        (run_id, spec.project, spec.name or default_name(run_id), spec.group, json_text(spec.tags),
         json_text(spec.config), start, start, now, json_text(spec.snapshot), now, spec.heartbeat),
    ).fetchone()  # fmt: skip
    if created is None:
        existing = records.fetch_run(tx, run_id)
        assert existing is not None
        if existing.project != spec.project:
            raise RunExists(f"run {run_id!r} exists in another project", "$.id")
        return existing, []
    purge.reusing(tx, run_id)
    record = records.status_change(tx, run_id, 1, "running", start)
    records.journal(tx, run_id, [record])
    run = records.fetch_run(tx, run_id)
    assert run is not None
    return run, [record]


def default_name(run_id: str) -> str:
    """The name of a run created without one."""
    return f"run-{run_id[:6]}"


def update_run(tx: Tx, run_id: str, patch: RunPatch) -> tuple[RunInfo, list[Record]]:
    """Rename and/or retag a run, whatever its status, and tell its viewers (a journaled
    ``meta`` record with both). Its last update is kept: it says when the run last reported
    (a stalled-run rule counts from it), and an edit is no report. :class:`RunNotFound`
    (``RunDeleted``) when there is no such run. The value index holds no name or tag (see
    ``values``): nothing to reindex."""
    name = None if patch.name is None else patch.name or default_name(run_id)
    tags = None if patch.tags is None else json_text(patch.tags)
    # The seq taken in the same statement: the row stays locked until commit, so the run's
    # other writers take turns with this one (records.allocate, without its last_update).
    row = tx.execute(
        "UPDATE runs SET name = coalesce(?, name), tags = coalesce(?, tags), seq = seq + 1"
        " WHERE id = ? RETURNING seq",
        (name, tags, run_id),
    ).fetchone()
    if row is None:
        raise records.missing(tx, run_id)
    run = records.fetch_run(tx, run_id)
    assert run is not None
    message = {"type": "meta", "name": run.name, "tags": run.tags}
    record = Record(run.seq, with_seq(run.seq, msgspec.json.encode(message)))
    records.journal(tx, run_id, [record])
    return run, [record]


def last_step(tx: Tx, run_id: str) -> int | None:
    """The largest step of the run's metric points (None when it has none), raw or dropped by
    retention (a series' ``raw_floor_step``), leaving out the ``sys/*`` vitals: an SDK samples
    them at its current step on its own, and a launcher's at step 0 before its worker logs
    anything. One index lookup per series."""
    row = tx.execute(
        "SELECT max(top), max(floor) FROM (SELECT (SELECT max(c.step_max) FROM chunks c"
        " WHERE c.series_id = s.id) AS top, s.raw_floor_step AS floor FROM series s"
        " WHERE s.run_id = ? AND substr(s.key, 1, 4) <> 'sys/') AS tops",
        (run_id,),
    ).fetchone()
    steps = [int(v) for v in row if v is not None]
    return max(steps) if steps else None


def list_runs(
    tx: Tx, project: str | None = None, status: str | None = None, tag: str | None = None
) -> list[RunInfo]:
    """The newest :data:`MAX_RUNS_LISTED` runs matching every filter given, newest first."""
    where, args = _filters(tx, RunsQuery(project=project, status=status, tag=tag))
    sql = (
        f"SELECT {RUN_SELECT} FROM runs WHERE {where}"
        f" ORDER BY created_at DESC LIMIT {MAX_RUNS_LISTED}"
    )
    return [records.run_info(r) for r in tx.execute(sql, args).fetchall()]


def _filters(tx: Tx, q: RunsQuery) -> tuple[str, list[Any]]:
    """The WHERE condition on ``runs`` of every filter of ``q``, and its parameters."""
    where, args = ["TRUE"], list[Any]()
    for column, value in (("project", q.project), ("status", q.status)):
        if value is not None:
            where.append(f"{column} = ?")
            args.append(value)
    if q.tag is not None:
        where.append(tx.dialect.has_tag)
        args.append(q.tag)
    if q.where is not None:
        # The value index narrows the rows first; the exact condition decides.
        candidates = values.prefilter(q.where, tx.dialect)
        if candidates is not None:
            where.append(candidates.sql)
            args += candidates.params
        condition = compile_where(q.where, tx.dialect)
        where.append(condition.sql)
        args += condition.params
    return " AND ".join(where), args


def query_runs(tx: Tx, q: RunsQuery) -> RunsPage:
    """A page of the runs matching ``q`` in its order (ties broken by id), and their total.

    One pass over ``runs``: the matching rows' ids and sort keys only (narrow rows, so the
    sort moves no JSON) with their count and newest ``created_at`` as windows, the keyset and
    LIMIT over those, and the page's whole rows joined last."""
    where, args = _filters(tx, q)
    key = sort_key(q.sort, tx.dialect)
    binary = tx.dialect.binary_order
    way = "DESC" if q.descending else "ASC"
    order = f"k_rank, k_num {way}, k_txt{binary} {way}, k_id{binary} {way}"
    keyset, after = _after(q, binary)
    sql = (
        f"SELECT {RUN_SELECT}, k_rank, k_num, k_txt, total, newest FROM (SELECT * FROM (SELECT"
        f" id AS k_id, {key.rank} AS k_rank, {key.number} AS k_num, {key.text} AS k_txt,"
        f" count(*) OVER () AS total, max(created_at) OVER () AS newest FROM runs"
        f" WHERE {where}) AS matching"
        f" WHERE {keyset} ORDER BY {order} LIMIT ?) AS page JOIN runs ON runs.id = page.k_id"
        f" ORDER BY {order}"
    )
    rows = tx.execute(sql, [*key.params, *args, *after, q.limit + 1]).fetchall()
    n = RUN_SELECTED
    if rows:
        total, newest = rows[0][n + 3 : n + 5]
    elif q.after is None:
        total, newest = 0, None
    else:  # a page past the last match: the window saw no row to count
        sql = f"SELECT count(*), max(created_at) FROM runs WHERE {where}"
        total, newest = tx.execute(sql, args).fetchone()
    runs = [records.run_info(r) for r in rows[: q.limit]]
    last = rows[q.limit - 1] if len(rows) > q.limit else None
    after_last = None if last is None else (last[n], last[n + 1], last[n + 2], last[0])
    return RunsPage(runs, total, after_last, newest)


def group_runs(tx: Tx, q: RunsQuery, by: Field, values: list[Field]) -> list[RunsGroup]:
    """The runs matching ``q`` grouped by the value of ``by`` (the runs without one form the
    group ``None``): per group the count of runs, and per field of ``values`` the count, mean,
    population standard deviation, min and max of its numbers. At most ``q.limit`` groups,
    the largest first (then by value)."""
    where, args = _filters(tx, q)
    key = sort_key(by, tx.dialect)
    stats: list[str] = []
    params: list[Any] = []
    for field in values:
        x, x_params = number_value(field, tx.dialect)
        stats.append(f"count({x}), avg({x}), avg({x} * {x}), min({x}), max({x})")
        params += x_params * 6
    sql = (
        f"SELECT k_rank, k_num, k_txt, count(*){''.join(', ' + s for s in stats)}"
        f" FROM (SELECT runs.*, {key.rank} AS k_rank, {key.number} AS k_num,"
        f" {key.text} AS k_txt FROM runs WHERE {where}) AS matching"
        f" GROUP BY k_rank, k_num, k_txt"
        f" ORDER BY count(*) DESC, k_rank, k_num, k_txt{tx.dialect.binary_order} LIMIT ?"
    )
    rows = tx.execute(sql, [*params, *key.params, *args, q.limit]).fetchall()
    groups = []
    for rank, number, text, count, *agg in rows:
        fields = {}
        for i, field in enumerate(values):
            n, mean, square, low, high = agg[5 * i : 5 * i + 5]
            std = math.sqrt(max(square - mean * mean, 0.0)) if n else None
            fields[field_name(field)] = FieldStats(n, mean, std, low, high)
        value = number if rank == 0 else text if rank == 1 else None
        groups.append(RunsGroup(value, count, fields))
    return groups


def _after(q: RunsQuery, binary: str) -> tuple[str, list[Any]]:
    """The keyset condition of the rows after ``q.after``, and its parameters. The rank always
    ascends (rows without the value last); the value and the id go the query's way."""
    if q.after is None:
        return "TRUE", []
    rank, number, text, run_id = q.after
    op = "<" if q.descending else ">"
    if rank == 0:
        return (
            f"(k_rank > 0 OR (k_rank = 0 AND (k_num {op} ? OR (k_num = ? AND k_id{binary} {op} ?))))",
            [number, number, run_id],
        )
    if rank == 1:
        return (
            f"(k_rank > 1 OR (k_rank = 1 AND (k_txt{binary} {op} ?"
            f" OR (k_txt = ? AND k_id{binary} {op} ?))))",
            [text, text, run_id],
        )
    return f"(k_rank = 2 AND k_id{binary} {op} ?)", [run_id]
