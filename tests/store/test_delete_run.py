"""Deleting a run, on every backend: every row it owned goes (found by reading the schema, so a
table added later cannot be forgotten) and no other run's; it is gone from reads at once, its
rows in bounded jobs that let other runs' writes through and resume after a restart; only a
finished run can go; its sweep trial stays, ended; its id may be used again once purged."""

from __future__ import annotations

import hashlib
import time
from typing import Any

import msgspec
import pytest

from runwatch.protocol import (
    Batch,
    EventIn,
    HistogramIn,
    LogLine,
    MediaIn,
    PointRow,
    PointSetIn,
    RunCreate,
    SnapshotIn,
    StatusIn,
    TableIn,
)
from runwatch.rules.spec import RuleIn
from runwatch.store.base import Committed, RunsQuery, Store
from runwatch.store.errors import RunDeleted, RunDeleting, RunNotFinished, RunNotFound
from runwatch.store.prepare import prepare_batch
from runwatch.store.sql import purge
from runwatch.store.sql.tx import Tx
from tests.store.aio import run
from tests.store.conftest import StoreMaker
from tests.store.test_store_contract import with_store
from tests.store.test_sweep_store import propose, sweep

# Tables with a run_id column that keep the deleted run's id, and why.
KEPT = {
    "deleted_runs": "the deletion itself: a producer of the run is told it was deleted",
    "sweep_trials": "the trial stays in its sweep, ended (status `deleted`)",
}


def everything(run_id: str, project: str) -> Batch:
    """A batch that fills every per-run table a producer writes (the rest: see :func:`fill`)."""
    png = b"\x89PNG\r\n\x1a\n" + project.encode()
    return msgspec.convert(
        {
            "producer": "p",
            "batch_seq": 1,
            "points": [PointRow(s, 1000.0 + s, {"loss": 1 / (s + 1), "acc": s}) for s in range(50)],
            "events": [EventIn(kind="merge", ts=1.0, entities=[1, 2], payload={"i": 1}, step=3)],
            "snapshots": [SnapshotIn(key="mask/1", step=1, ts=1.0, value=[1, 2], entity=1)],
            "tables": [TableIn(name="t", rows=[{"a": 1}])],
            "point_sets": [PointSetIn(name="ps", points=[{"x": 1.0, "y": 2.0}])],
            "vitals": ["acc"],
            "logs": [LogLine(stream="stdout", ts=1.0, text="hello")],
            "manifests": [[{"path": "model.pt", "size": 1}]],
            "config": [{"late": True}],
            "media": [
                MediaIn(
                    key="img",
                    step=1,
                    ts=1.0,
                    sha256=hashlib.sha256(png).hexdigest(),
                    mime="image/png",
                    width=2,
                    height=1,
                )
            ],
            "histograms": [HistogramIn(key="w", step=1, ts=1.0, edges=[0.0, 1.0], counts=[3])],
            "texts": [[1, 1.0, {"note": "hi"}]],
            "command_kinds": ["note"],
        },
        Batch,
    )


async def fill(store: Store, project: str) -> str:
    """A finished run of ``project`` with a row in every table that holds a run's rows: a
    sweep's trial, launched from the queue, with every kind of record, a command, an alert of
    a rule scoped to it, and a promotion. Returns its id."""
    if await store.get_sweep(f"s-{project}") is None:
        await store.create_sweep(sweep(f"s-{project}"))
    claim = await store.claim_trial(f"s-{project}", "agent", propose)
    assert claim.trial is not None
    run_id = claim.trial.run_id
    await store.enqueue_run(RunCreate(project=project, id=run_id), "tmpl", {"x": 1})
    claimed = await store.claim_queued(max_running=100)
    assert claimed is not None and claimed.run.id == run_id
    png = b"\x89PNG\r\n\x1a\n" + project.encode()
    await store.put_blob(hashlib.sha256(png).hexdigest(), "image/png", png)
    await store.ingest(run_id, prepare_batch(everything(run_id, project)))
    await store.add_command(run_id, "note", {"text": "hi"})
    await store.deliver_commands(run_id, 0)
    final = Batch(producer="p", batch_seq=2, status=StatusIn(state="succeeded", ts=time.time()))
    await store.ingest(run_id, prepare_batch(final))
    await store.promote(run_id, "best", None, "0" * 64, {})
    spec = {"name": "nan", "condition": {"type": "nonfinite", "key": "loss"}, "run": run_id}
    rule = await store.add_rule(project, msgspec.convert(spec, RuleIn))
    assert await store.record_alert(rule, run_id, "loss is nan", {}, time.time()) is not None
    return run_id


def _tables_with(tx: Tx, column: str) -> list[str]:
    """Every table of the schema with a column of this name."""
    if tx.dialect.name == "sqlite":
        sql = (
            "SELECT m.name FROM sqlite_master m JOIN pragma_table_info(m.name) c"
            " WHERE m.type = 'table' AND c.name = ? ORDER BY m.name"
        )
    else:
        sql = (
            "SELECT table_name FROM information_schema.columns WHERE column_name = ?"
            " AND table_schema = current_schema() ORDER BY table_name"
        )
    return [str(r[0]) for r in tx.execute(sql, (column,)).fetchall()]


def owned_rows(tx: Tx, run_id: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the run: by its ``run_id`` in each table that has one, its ``runs`` row,
    and the rows of its series by their ``series_id``, sorted."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    for table in _tables_with(tx, "run_id"):
        rows = tx.execute(f"SELECT * FROM {table} WHERE run_id = ?", (run_id,)).fetchall()
        out[table] = sorted(tuple(r) for r in rows)
    out["runs"] = [tuple(r) for r in tx.execute("SELECT * FROM runs WHERE id = ?", (run_id,))]
    for table in _tables_with(tx, "series_id"):
        rows = tx.execute(
            f"SELECT t.* FROM {table} t JOIN series s ON s.id = t.series_id WHERE s.run_id = ?",
            (run_id,),
        ).fetchall()
        out[table] = sorted(tuple(r) for r in rows)
    return out


async def orphans(store: Store, series_ids: list[int]) -> dict[str, int]:
    """Rows of tables keyed by series that name one of ``series_ids`` (its series row gone)."""

    def read(tx: Tx) -> dict[str, int]:
        marks = ",".join("?" * len(series_ids))
        return {
            table: tx.execute(
                f"SELECT count(*) FROM {table} WHERE series_id IN ({marks})", series_ids
            ).fetchone()[0]
            for table in _tables_with(tx, "series_id")
        }

    return await store._read_tx(read)  # type: ignore[attr-defined,no-any-return]


def test_every_row_of_the_run_goes_and_no_other_runs(make_store: StoreMaker) -> None:
    async def work(store: Store, committed: list[Committed]) -> Any:
        a, b = await fill(store, "pa"), await fill(store, "pb")
        rows_a = await store._read_tx(lambda tx: owned_rows(tx, a))  # type: ignore[attr-defined]
        rows_b = await store._read_tx(lambda tx: owned_rows(tx, b))  # type: ignore[attr-defined]
        series_a = [row[0] for row in rows_a["series"]]
        deleted = await store.delete_run(a)
        await store.purged(a)
        after_a = await store._read_tx(lambda tx: owned_rows(tx, a))  # type: ignore[attr-defined]
        after_b = await store._read_tx(lambda tx: owned_rows(tx, b))  # type: ignore[attr-defined]
        return deleted, rows_a, rows_b, after_a, after_b, await orphans(store, series_a)

    deleted, rows_a, rows_b, after_a, after_b, left = run(with_store(make_store, work))
    assert deleted.project == "pa" and deleted.status == "succeeded"
    # The run had a row in every table that can hold one (else this test proves nothing for
    # that table: fill() must learn to write it).
    empty = sorted(t for t, rows in rows_a.items() if not rows and t not in KEPT)
    assert empty == [], f"fill() leaves no row of the run in {empty}"
    assert {t: rows for t, rows in after_a.items() if rows and t not in KEPT} == {}
    assert left == {"chunks": 0, "pyramid": 0}
    assert after_a["deleted_runs"][0][:2] == (deleted.id, "pa")
    assert len(after_a["sweep_trials"]) == 1
    assert after_b == rows_b


def test_a_deleted_run_is_gone_from_every_read_before_its_rows_are(
    make_store: StoreMaker,
) -> None:
    async def work(store: Store, committed: list[Committed]) -> Any:
        a, b = await fill(store, "p"), await fill(store, "p")
        live = await store.create_run(RunCreate(project="q"))
        rows = [PointRow(s, 1.0, {"x": s}) for s in range(300)]
        batch = prepare_batch(Batch(producer="q", batch_seq=1, points=rows))
        await store.delete_run(a)
        # While its rows go one job at a time, another run's writes go through.
        ack = await store.ingest(live.id, batch)
        pending = await store._read_tx(purge.pending)  # type: ignore[attr-defined]
        reads = {
            "get": await store.get_run(a),
            "list": [r.id for r in await store.list_runs(project="p")],
            "query": [r.id for r in (await store.query_runs(RunsQuery(project="p"))).runs],
            "projects": sorted((p.name, p.runs) for p in await store.list_projects()),
            "state": await store.state(a, 100, 10),
            "deleted": await store.deleted_project(a),
            "deleted_runs": await store.deleted_runs(),
        }
        with pytest.raises(RunDeleted) as ingest:
            await store.ingest(a, prepare_batch(Batch(producer="p", batch_seq=9)))
        with pytest.raises(RunDeleting):
            await store.create_run(RunCreate(project="p", id=a))
        await store.purged(a)
        again = await store.create_run(RunCreate(project="p", id=a))
        keys, remembered = await store.metric_keys(a), await store.deleted_runs()
        return a, b, ack, pending, reads, ingest.value, again, keys, remembered, committed

    a, b, ack, pending, reads, refusal, again, keys, remembered, committed = run(
        with_store(make_store, work, purge_rows=1)
    )
    assert ack.points == 300
    assert pending == [a]
    assert reads == {
        "get": None, "list": [b], "query": [b], "projects": [("p", 1), ("q", 1)], "state": None,
        "deleted": "p", "deleted_runs": [a],
    }  # fmt: skip
    assert refusal.code == "run_deleted" and isinstance(refusal, RunNotFound)
    # Once purged, the id may be used again (an import): a new run, with nothing of the old.
    assert again.status == "running" and again.seq == 1 and keys == [] and remembered == []
    # Open streams of the run hear that it was deleted, and end.
    (ended,) = [c for c in committed if c.run_id == a and b"run.deleted" in c.records[0].body]
    assert ended.records[0].final


def test_a_purge_cut_short_by_a_restart_goes_on_at_the_next_open(make_store: StoreMaker) -> None:
    async def first(store: Store, _: Any) -> tuple[str, list[int]]:
        a = await fill(store, "p")
        series = await store._read_tx(  # type: ignore[attr-defined]
            lambda tx: [r[0] for r in tx.execute("SELECT id FROM series WHERE run_id = ?", (a,))]
        )
        await store.delete_run(a)
        return a, series  # the store closes before its purge took a step

    a, series = run(with_store(make_store, first, purge_rows=1))

    async def second(store: Store, _: Any) -> Any:
        await store.purged(a)
        rows = await store._read_tx(lambda tx: owned_rows(tx, a))  # type: ignore[attr-defined]
        return rows, await orphans(store, series), await store._read_tx(purge.pending)  # type: ignore[attr-defined]

    rows, left, pending = run(with_store(make_store, second))
    assert {t: r for t, r in rows.items() if r and t not in KEPT} == {}
    assert left == {"chunks": 0, "pyramid": 0}
    assert pending == []


def test_only_a_finished_run_can_be_deleted(make_store: StoreMaker) -> None:
    async def work(store: Store, _: Any) -> Any:
        running = await store.create_run(RunCreate(project="p"))
        queued = await store.enqueue_run(RunCreate(project="p"), "tmpl", {})
        refused = []
        for run_id in (running.id, queued.id):
            with pytest.raises(RunNotFinished) as caught:
                await store.delete_run(run_id)
            refused.append((caught.value.code, caught.value.field, caught.value.message))
        with pytest.raises(RunNotFound) as unknown:
            await store.delete_run("nosuchrun")
        # A crashed run is finished (its producer is silent): it may go.
        crashed = await store.sweep_crashed(time.time() + 3600)
        deleted = await store.delete_run(running.id)
        with pytest.raises(RunDeleted):
            await store.delete_run(running.id)
        return running, refused, unknown.value, crashed, deleted, await store.get_run(queued.id)

    running, refused, unknown, crashed, deleted, queued = run(with_store(make_store, work))
    assert refused == [
        ("run_not_finished", "status", f"run {running.id!r} is running: cancel it first"),
        ("run_not_finished", "status", f"run {queued.id!r} is queued: cancel it first"),
    ]
    assert unknown.code == "run_not_found"
    assert crashed == [running.id] and deleted.status == "crashed"
    assert queued is not None


def test_a_deleted_trial_stays_ended_and_is_never_retried(make_store: StoreMaker) -> None:
    async def work(store: Store, _: Any) -> Any:
        a = await fill(store, "p")  # trial 0 of sweep s-p
        await store.delete_run(a)
        info = await store.get_sweep("s-p")
        trials = await store.list_trials("s-p", -1, 10)
        nxt = await store.claim_trial("s-p", "agent", propose)
        return info, trials, nxt

    clock = [time.time()]
    info, trials, nxt = run(
        with_store(make_store, work, clock=lambda: clock[0] + 3600, claim_lease=1.0)
    )
    assert info.trials == {"deleted": 1}
    assert [(t.index, t.status) for t in trials] == [(0, "deleted")]
    # Long past the claim's lease, the trial with no run is not taken for crashed: the next
    # claim is a new point, not its retry.
    assert nxt.trial is not None and nxt.trial.index == 1 and nxt.trial.retry_of is None
