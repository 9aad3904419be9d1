"""The value index of finished runs on every backend: it follows every write that changes a
finished run's values or takes a run in or out of a final status, a running run is always
found by its live values, and the migration that made it fills it from the runs stored before."""

from __future__ import annotations

import json
import random
import re
import sqlite3
import string
import time
from collections.abc import Callable
from typing import Any

import psycopg

from runwatch.protocol import Batch, PointRow, RunCreate, StatusIn, TextRow
from runwatch.runs_query import parse
from runwatch.store.base import RunsQuery, Store
from runwatch.store.postgres import PostgresStore
from runwatch.store.prepare import prepare_batch
from runwatch.store.sql import values
from runwatch.store.sql.store import SqlStore
from runwatch.store.sql.tx import Tx
from runwatch.store.sqlite import SqliteStore
from tests.e2e.many_runs import SeedRun, seed_runs
from tests.store.aio import run
from tests.store.conftest import StoreMaker


async def found(store: Store, query: str) -> list[str]:
    """The ids of the runs ``query`` selects (it has indexable comparisons: the index is used)."""
    page = await store.query_runs(RunsQuery(where=parse(query), limit=100))
    return sorted(r.id for r in page.runs)


async def indexed(store: Store, run_id: str) -> int:
    """How many rows of the value index the run has."""
    assert isinstance(store, SqlStore)
    sql = "SELECT count(*) FROM run_values WHERE run_id = ?"
    row = await store._read_tx(lambda tx: tx.execute(sql, (run_id,)).fetchone())
    return int(row[0])


def points(seq: int, step: int, values: dict[str, Any], **fields: Any) -> Batch:
    return Batch("p", seq, points=[PointRow(step, float(step), values)], **fields)


def test_a_late_batch_and_config_change_of_a_finished_run_are_found(
    make_store: StoreMaker,
) -> None:
    async def work() -> list[list[str]]:
        store = make_store()
        await store.open()
        try:
            r = await store.create_run(RunCreate(project="p", config={"opt": "adam"}))
            other = await store.create_run(RunCreate(project="p", config={"opt": "adam"}))
            await store.ingest(r.id, prepare_batch(points(1, 0, {"acc": 0.5})))
            await store.ingest(other.id, prepare_batch(points(1, 0, {"acc": 0.95})))
            for run_id in (r.id, other.id):
                final = Batch("p", 3, status=StatusIn(state="succeeded", ts=time.time()))
                await store.ingest(run_id, prepare_batch(final))
            got = [await found(store, 'config.opt == "adam" and summary.acc > 0.9')]
            # Sent before the final status, arriving after it: new values and a config change.
            late = points(2, 1, {"acc": 0.97}, config=[{"opt": "sgd", "lr": 0.1}])
            await store.ingest(r.id, prepare_batch(late))
            got.append(await found(store, 'config.opt == "sgd" and summary.acc > 0.9'))
            got.append(await found(store, 'config.opt == "adam" and summary.acc > 0.9'))
            got.append(await found(store, "config.lr == 0.1 and summary.acc.max >= 0.97"))
            return [*got, [r.id, other.id]]
        finally:
            await store.close()

    first, sgd, adam, lr, (r, other) = run(work())
    assert first == [other]
    assert sgd == [r] and adam == [other] and lr == [r]


def test_a_running_run_is_found_by_its_changing_summary(make_store: StoreMaker) -> None:
    async def work() -> list[list[str]]:
        store = make_store()
        await store.open()
        try:
            done = await store.create_run(RunCreate(project="p"))
            await store.ingest(done.id, prepare_batch(points(1, 0, {"acc": 0.2})))
            final = Batch("p", 2, status=StatusIn(state="failed", ts=time.time()))
            await store.ingest(done.id, prepare_batch(final))
            live = await store.create_run(RunCreate(project="p"))
            got = []
            for seq, acc in enumerate((0.1, 0.8, 0.3), start=1):
                await store.ingest(live.id, prepare_batch(points(seq, seq, {"acc": acc})))
                got.append(await found(store, "summary.acc > 0.5 and summary.acc < 0.9"))
            got.append(await found(store, "summary.acc < 0.25"))
            return [*got, [done.id, live.id]]
        finally:
            await store.close()

    low, high, again, under, (done, live) = run(work())
    assert (low, high, again) == ([], [live], [])
    assert under == [done]


def test_a_run_leaving_a_final_status_leaves_the_index(make_store: StoreMaker) -> None:
    async def work() -> tuple[list[int], list[list[str]], str]:
        store = make_store()
        await store.open()
        try:
            r = await store.create_run(RunCreate(project="p", config={"opt": "adam"}, heartbeat=1))
            await store.ingest(r.id, prepare_batch(points(1, 0, {"acc": 0.1})))
            counts = [await indexed(store, r.id)]
            assert await store.sweep_crashed(time.time() + 60) == [r.id]
            counts.append(await indexed(store, r.id))  # crashed: a final status
            got = [await found(store, 'config.opt == "adam" and summary.acc < 0.5')]
            # The producer comes back: running again, out of the index, found by its new values.
            await store.ingest(r.id, prepare_batch(points(2, 1, {"acc": 0.9})))
            counts.append(await indexed(store, r.id))
            got.append(await found(store, 'config.opt == "adam" and summary.acc > 0.5'))
            got.append(await found(store, 'config.opt == "adam" and summary.acc < 0.5'))
            return counts, got, r.id
        finally:
            await store.close()

    counts, (crashed, resumed, stale), run_id = run(work())
    # config.opt, summary.acc, extremes acc.min and acc.max while crashed; nothing otherwise.
    assert counts == [0, 4, 0]
    assert crashed == [run_id] and resumed == [run_id] and stale == []


def _noise(n: int, seed: int) -> str:
    """``n`` characters that do not compress (as a B-tree entry would need them to)."""
    rng = random.Random(seed)
    return "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(n))


def test_a_long_string_or_path_finishes_its_run_and_is_found(make_store: StoreMaker) -> None:
    """A finished run's long strings and paths are indexed within what a B-tree entry holds
    (PostgreSQL's: 2,704 bytes): the run finishes, and every query finds it as before."""
    long_text, long_key = _noise(8000, 1), _noise(3000, 2)
    summary_text = _noise(4096, 3)  # the default max_text_length
    # What a query (at most 2,000 characters) can name: a string past the cut, a path past
    # what is indexed.
    text, keys = _noise(1500, 4), [_noise(250, 5 + i) for i in range(5)]
    deep: dict[str, Any] = {keys[-1]: "x"}
    for k in reversed(keys[:-1]):
        deep = {k: deep}

    async def work() -> tuple[str, list[list[str]]]:
        store = make_store()
        await store.open()
        try:
            config = {"a": long_text, long_key: 1.0, "b": text, "c": deep}
            r = await store.create_run(RunCreate(project="p", config=config))
            await store.create_run(RunCreate(project="p", config={"a": "z"}))  # never found
            final = Batch(
                "p",
                1,
                texts=[TextRow(1, 1.0, {"t": summary_text})],
                status=StatusIn(state="succeeded", ts=time.time()),
            )
            await store.ingest(r.id, prepare_batch(final))
            queries = [
                f"config.b == {json.dumps(text)}",
                f"config.b >= {json.dumps(text)}",
                f"config.a > {json.dumps(long_text[:300])}",
                f"config.b <= {json.dumps(text)}",
                f"config.a < {json.dumps(long_text[:300] + '~')}",
                f"summary.t > {json.dumps(summary_text[:1000])}",
                f'config.c.{".".join(keys)} == "x"',
            ]
            got = [await found(store, f'{q} and status == "succeeded"') for q in queries]
            return r.id, got
        finally:
            await store.close()

    run_id, got = run(work())
    assert got == [[run_id]] * 7


# What the migrations after the value index's made (sweeps, then retries and rungs, then the
# runs' loss count), dropped with it.
_LATER_TABLES = ("deleted_runs", "sweep_rungs", "sweep_trials", "sweeps")
_LATER_COLUMNS = (("runs", "lost"),)
_LATER_MIGRATIONS = 4


def _forget_index(store: Store) -> None:
    """Take the store back to the schema before the value index (as an older runwatch left it)."""
    later = _LATER_MIGRATIONS
    if isinstance(store, SqliteStore):
        conn = sqlite3.connect(store.path, isolation_level=None)
        (version,) = conn.execute("PRAGMA user_version").fetchone()
        for table in ("run_values", *_LATER_TABLES):
            conn.execute(f"DROP TABLE {table}")
        for table, name in _LATER_COLUMNS:
            conn.execute(f"ALTER TABLE {table} DROP COLUMN {name}")
        conn.execute(f"PRAGMA user_version = {version - 1 - later}")
        conn.close()
    else:
        assert isinstance(store, PostgresStore)
        with psycopg.connect(store.url, autocommit=True) as pg:
            for table in ("run_values", *_LATER_TABLES):
                pg.execute(f"DROP TABLE {table}")
            for table, name in _LATER_COLUMNS:
                pg.execute(f"ALTER TABLE {table} DROP COLUMN {name}")
            pg.execute(
                "DELETE FROM runwatch_schema WHERE version >"
                f" (SELECT max(version) FROM runwatch_schema) - {1 + later}"
            )


def test_the_migration_indexes_the_runs_stored_before_it(make_store: StoreMaker) -> None:
    first = make_store()
    location = first.path.parent if isinstance(first, SqliteStore) else first.url  # type: ignore[attr-defined]
    seed_runs(
        location,
        [
            SeedRun("a", "a", 1.0, config={"opt": "adam"}, summary={"acc": 0.95}),
            SeedRun("b", "b", 2.0, config={"opt": "sgd"}, summary={"acc": 0.97}),
            SeedRun("c", "c", 3.0, config={"opt": "adam"}, summary={"acc": 0.5}),
            SeedRun("d", "d", 4.0, config={"opt": "adam"}, summary={"acc": 0.99}, status="running"),
        ],
    )
    _forget_index(first)

    async def work() -> tuple[list[int], list[str]]:
        store = make_store()
        await store.open()
        try:
            counts = [await indexed(store, run_id) for run_id in "abcd"]
            return counts, await found(store, 'config.opt == "adam" and summary.acc > 0.9')
        finally:
            await store.close()

    counts, hits = run(work())
    assert counts == [4, 4, 4, 0]  # config.opt, summary.acc, acc.min, acc.max; d is running
    assert hits == ["a", "d"]


def test_the_lookups_of_a_query_meet_by_uncorrelated_membership(
    make_store: StoreMaker,
) -> None:
    """Each lookup of a two-condition query found 10,000s of rows at 100,000 runs, and an
    INTERSECT hashed (PostgreSQL) or sorted (SQLite) every one of them. A join on run_id let
    SQLite (no statistics: ANALYZE never ran) scan the second lookup's whole range for each run
    of the first: 5 s at 10,000 runs. The runs of the first are now kept when they are in each
    other lookup's, which is built once (SQLite: a list subquery). Two bounds of one key are
    one lookup of the runs between them."""
    first = make_store()
    location = first.path.parent if isinstance(first, SqliteStore) else first.url  # type: ignore[attr-defined]
    seed_runs(
        location,
        [
            SeedRun(
                f"r{i}",
                f"r{i}",
                float(i),
                config={"opt": "adam" if i % 2 else "sgd", "lr": i / 10},
                summary={"acc": i / 40},
            )
            for i in range(40)
        ],
    )
    queries = {
        'config.opt == "adam" and summary.acc > 0.9': ["r37", "r39"],
        'summary.acc >= 0.5 and config.opt == "sgd" and summary.acc < 0.6': ["r20", "r22"],
        "summary.acc < 0.6 and config.lr >= 2.1 and summary.acc >= 0.5": ["r21", "r22", "r23"],
    }

    async def work() -> list[tuple[list[str], list[str]]]:
        store = make_store()
        assert isinstance(store, SqlStore)
        await store.open()
        try:

            def plan(query: str) -> Callable[[Tx], list[str]]:
                def read(tx: Tx) -> list[str]:
                    candidates = values.prefilter(parse(query), tx.dialect)
                    assert candidates is not None
                    explain = "EXPLAIN" if tx.dialect.row_locks else "EXPLAIN QUERY PLAN"
                    sql = f"{explain} SELECT id FROM runs WHERE {candidates.sql}"
                    return [str(row[-1]) for row in tx.execute(sql, candidates.params)]

                return read

            return [(await store._read_tx(plan(q)), await found(store, q)) for q in queries]
        finally:
            await store.close()

    sqlite = isinstance(first, SqliteStore)
    for (steps, hits), expected in zip(run(work()), queries.values(), strict=True):
        assert hits == expected
        assert not any("INTERSECT" in s or "SetOp" in s for s in steps), steps
        value_reads = [s for s in steps if re.search(r"(SEARCH|SCAN|Scan .*on) run_values( |$)", s)]
        assert len(value_reads) == 2, steps  # one per key
        if sqlite:  # the outer IN, and one list built once per lookup after the first
            assert sum("LIST SUBQUERY" in s for s in steps) == 2, steps
            assert not any("CORRELATED" in s for s in steps), steps
