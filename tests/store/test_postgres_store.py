"""What only the PostgreSQL store has: several replicas on one database, its migrations, and
what TEXT cannot hold."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import errors as pg_errors

from runwatch.protocol import Batch, LogLine, RunCreate
from runwatch.runs_query import parse
from runwatch.store.base import Committed, RunsQuery
from runwatch.store.errors import InvalidValue, StoreBusy, SweepStopped
from runwatch.store.postgres import PostgresStore
from runwatch.store.postgres.executor import as_store_error
from runwatch.store.postgres.schema import SCHEMA_VERSION
from runwatch.store.postgres.tx import PostgresTx
from runwatch.store.prepare import prepare_batch
from runwatch.store.sql import runs
from runwatch.store.sql.retention import trim_journals
from tests.pg import fresh_database
from tests.servers import wait_until
from tests.store.aio import run
from tests.store.test_store_contract import batch
from tests.store.test_sweep_store import propose, sweep


@pytest.fixture
def pg_url() -> Iterator[str]:
    with fresh_database() as url:
        yield url


async def replicas(url: str, n: int = 2) -> list[tuple[PostgresStore, list[Committed]]]:
    """``n`` stores on one database, opened at once (each migrates, one does the work)."""
    stores = [PostgresStore(url, pool_size=4) for _ in range(n)]
    await asyncio.gather(*(s.open() for s in stores))
    out = []
    for s in stores:
        committed: list[Committed] = []
        s.add_commit_listener(committed.extend)
        out.append((s, committed))
    return out


def test_two_replicas_ingesting_one_run_keep_seqs_gap_free(pg_url: str) -> None:
    async def work():  # type: ignore[no-untyped-def]
        (a, seen_a), (b, seen_b) = await replicas(pg_url)
        try:
            r = await a.create_run(RunCreate(project="p", id="shared01"))
            jobs = []
            for i in range(40):  # two producers, each writing through both replicas
                store = a if i % 2 else b
                jobs.append(
                    store.ingest(r.id, prepare_batch(batch(i, [(i, {"x": float(i)})], 1, "p1")))
                )
                jobs.append(
                    store.ingest(r.id, prepare_batch(batch(i, [(i, {"y": float(i)})], 0, "p2")))
                )
            acks = await asyncio.gather(*jobs)
            replayed = await b.replay(r.id, 0, 10_000)
            series = await a.metrics(r.id, ["x", "y"], None, None, 1000, "step")
            return acks, replayed, series, seen_a, seen_b
        finally:
            await asyncio.gather(a.close(), b.close())

    acks, replayed, series, seen_a, seen_b = run(work())
    total = 1 + 40 * 2 + 40  # the status record, points of 80 batches, 40 events
    assert [rec.seq for rec in replayed] == list(range(1, total + 1))
    assert sorted(s for a in acks for s in range(a.seq_first, a.seq_last + 1)) == list(
        range(2, total + 1)
    )
    for seen in (seen_a, seen_b):  # each replica hears its own commits in seq order
        seqs = [rec.seq for c in seen for rec in c.records]
        assert seqs == sorted(seqs)
    heard = sorted(rec.seq for c in seen_a + seen_b for rec in c.records)
    assert heard == list(range(1, total + 1))  # every record published once, by its writer
    assert series.series["x"].value == [float(i) for i in range(40)]
    assert series.series["y"].value == [float(i) for i in range(40)]


def test_a_batch_retried_on_another_replica_is_stored_once(pg_url: str) -> None:
    async def work():  # type: ignore[no-untyped-def]
        (a, _), (b, _) = await replicas(pg_url)
        try:
            r = await a.create_run(RunCreate(project="p"))
            prepared = [prepare_batch(batch(i, [(i, {"x": float(i)})])) for i in range(20)]
            # Each batch reaches both replicas at once (a producer failing over mid-request).
            acks = await asyncio.gather(*(s.ingest(r.id, p) for p in prepared for s in (a, b)))
            return acks, await a.metrics(r.id, ["x"], None, None, 100, "step")
        finally:
            await asyncio.gather(a.close(), b.close())

    acks, series = run(work())
    assert series.series["x"].value == [float(i) for i in range(20)]
    for first, second in zip(acks[::2], acks[1::2], strict=True):
        assert (first.seq_first, first.seq_last) == (second.seq_first, second.seq_last)
        assert first.duplicate != second.duplicate


def test_replicas_migrate_once_and_a_newer_schema_is_refused(pg_url: str) -> None:
    async def work() -> list[int]:
        stores = await replicas(pg_url, 3)
        versions = [(await s.health())["schema"] for s, _ in stores]
        await asyncio.gather(*(s.close() for s, _ in stores))
        return versions

    assert run(work()) == [SCHEMA_VERSION] * 3
    with psycopg.connect(pg_url, autocommit=True) as conn:
        rows = conn.execute("SELECT version FROM runwatch_schema ORDER BY version").fetchall()
        assert [v for (v,) in rows] == list(range(1, SCHEMA_VERSION + 1))
        conn.execute("INSERT INTO runwatch_schema VALUES (%s)", (SCHEMA_VERSION + 1,))
    with pytest.raises(RuntimeError, match="newer than this runwatch"):
        run(PostgresStore(pg_url).open())


def test_journal_trim_keeps_the_newest_records(pg_url: str) -> None:
    async def fill() -> str:
        store = PostgresStore(pg_url)
        await store.open()
        try:
            r = await store.create_run(RunCreate(project="p", id="journal1"))
            for i in range(30):
                await store.ingest(r.id, prepare_batch(batch(i + 1, [(i, {"x": 1.0})])))
            return r.id
        finally:
            await store.close()

    run_id = run(fill())
    with psycopg.connect(pg_url) as conn:
        assert trim_journals(PostgresTx(conn), keep=10) == 21
        rows = conn.execute(
            "SELECT seq FROM journal WHERE run_id = %s ORDER BY seq", (run_id,)
        ).fetchall()
    assert [s for (s,) in rows] == list(range(22, 32))


def test_text_with_a_nul_is_refused_and_loses_nothing_else(pg_url: str) -> None:
    async def work():  # type: ignore[no-untyped-def]
        store = PostgresStore(pg_url)
        await store.open()
        try:
            r = await store.create_run(RunCreate(project="p"))
            bad = Batch("p", 1, logs=[LogLine("stdout", 1.0, "a\x00b")])
            with pytest.raises(InvalidValue) as refused:
                await store.ingest(r.id, prepare_batch(bad))
            ok = await store.ingest(r.id, prepare_batch(batch(2, [(0, {"x": 1.0})])))
            return refused.value, ok, await store.logs(r.id, 0, None, 10)
        finally:
            await store.close()

    refused, ok, logs = run(work())
    assert "NUL" in refused.message
    assert ok.seq_first == 2 and logs == []


def test_a_nul_in_a_runs_json_is_kept_and_other_runs_stay_queryable(pg_url: str) -> None:
    """jsonb cannot hold a NUL: such a run is still created and read back whole; queries see
    none of its JSON values (its JSONB copy is empty) and still answer for every other run."""

    async def work() -> tuple[dict[str, object], list[str], int, list[str]]:
        store = PostgresStore(pg_url)
        await store.open()
        try:
            odd = await store.create_run(RunCreate(project="p", config={"s": "a\x00b", "lr": 1}))
            plain = await store.create_run(RunCreate(project="p", config={"lr": 1}))
            page = await store.query_runs(RunsQuery(where=parse("config.lr == 1")))
            everyone = await store.query_runs(RunsQuery(project="p"))
            assert (await store.get_run(odd.id)).config == odd.config
            return odd.config, [r.id for r in page.runs], everyone.total, [plain.id]
        finally:
            await store.close()

    config, matching, total, plain = run(work())
    assert config == {"s": "a\x00b", "lr": 1}
    assert matching == plain and total == 2


def test_an_unreachable_database_is_a_clear_error() -> None:
    store = PostgresStore("postgresql://nobody@127.0.0.1:1/none", busy_timeout=2)
    with pytest.raises(
        RuntimeError, match=r"cannot reach PostgreSQL at postgresql://nobody@127\.0\.0\.1:1/none"
    ):
        run(store.open())


def test_a_full_job_queue_answers_503_and_stores_the_rest(pg_url: str) -> None:
    async def work():  # type: ignore[no-untyped-def]
        store = PostgresStore(pg_url, pool_size=1, max_pending=4)
        await store.open()
        try:
            r = await store.create_run(RunCreate(project="p"))
            results = await asyncio.gather(
                *(
                    store.ingest(r.id, prepare_batch(batch(i, [(i, {"x": float(i)})])))
                    for i in range(20)
                ),
                return_exceptions=True,
            )
            return results, await store.metrics(r.id, ["x"], None, None, 100, "step")
        finally:
            await store.close()

    results, series = run(work())
    busy = [i for i, x in enumerate(results) if isinstance(x, StoreBusy)]
    stored = [i for i, x in enumerate(results) if not isinstance(x, Exception)]
    assert len(stored) == 4 and len(busy) == 16
    assert all(results[i].code == "store_busy" for i in busy)
    assert series.series["x"].x == stored  # what was refused left nothing behind


def test_connections_lost_under_the_store_are_replaced(pg_url: str) -> None:
    """A database restart or a proxy cutting idle connections: the next jobs get fresh ones."""
    name = pg_url.rsplit("/", 1)[1]

    async def work():  # type: ignore[no-untyped-def]
        store = PostgresStore(pg_url, pool_size=2)
        await store.open()
        try:
            r = await store.create_run(RunCreate(project="p"))
            await store.ingest(r.id, prepare_batch(batch(1, [(0, {"x": 0.0})])))
            with psycopg.connect(pg_url, autocommit=True) as admin:
                cut = admin.execute(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                    " WHERE datname = %s AND pid <> pg_backend_pid()",
                    (name,),
                ).fetchone()
            acks = [
                await store.ingest(r.id, prepare_batch(batch(i, [(i, {"x": float(i)})])))
                for i in range(2, 6)
            ]
            return cut, acks, await store.metrics(r.id, ["x"], None, None, 100, "step")
        finally:
            await store.close()

    cut, acks, series = run(work())
    assert cut[0] >= 1
    assert [a.seq_first for a in acks] == [3, 4, 5, 6]
    assert series.series["x"].value == [0.0, 2.0, 3.0, 4.0, 5.0]


def test_trial_runs_are_created_side_by_side_and_a_stop_waits_for_one_under_way(
    pg_url: str,
) -> None:
    """Agents creating their trials' runs at once do not queue on their sweep's row: one
    trial's run is created while another's creation is under way (its transaction open). A
    stop still waits for that creation, so its trial is running, not cancelled, and the trial
    not started when the stop came is cancelled and its run refused."""

    def waiting_on_a_lock() -> bool:
        with psycopg.connect(pg_url, autocommit=True) as watcher:
            (n,) = watcher.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            ).fetchone()
        return bool(n)

    async def work() -> tuple[str, list[str], dict[str, int]]:
        store = PostgresStore(pg_url, busy_timeout=10)
        await store.open()
        try:
            await store.create_sweep(sweep(limit=5))
            claims = [await store.claim_trial("s1", "a", propose) for _ in range(3)]
            under_way, quick, unstarted = (c.trial for c in claims)
            assert under_way is not None and quick is not None and unstarted is not None
            with psycopg.connect(pg_url) as conn:  # another agent's creation, not committed
                spec = RunCreate(project="p", id=under_way.run_id)
                runs.create_run(PostgresTx(conn), under_way.run_id, spec)
                made = await store.create_run(RunCreate(project="p", id=quick.run_id))
                stopping = asyncio.ensure_future(store.set_sweep_state("s1", "stop"))
                await asyncio.to_thread(wait_until, waiting_on_a_lock, what="the stop to wait")
                assert not stopping.done()
                conn.commit()
            await stopping
            with pytest.raises(SweepStopped):
                await store.create_run(RunCreate(project="p", id=unstarted.run_id))
            listed = await store.list_trials("s1", -1, 10)
            info = await store.get_sweep("s1")
            assert info is not None
            return made.status, [t.status for t in listed], info.trials
        finally:
            await store.close()

    made, statuses, counts = run(work())
    assert made == "running"
    assert statuses == ["running", "running", "cancelled"]
    assert counts == {"running": 2, "cancelled": 1}


def test_a_value_past_a_postgresql_limit_is_refused_not_retried(pg_url: str) -> None:
    """What PostgreSQL refuses for its own limits (an index row over 2,704 bytes) would fail
    the same way on every retry: an invalid value (a 400), not an unavailable store (a 503 the
    SDK retries for ever)."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE wide (t TEXT PRIMARY KEY)")
        with pytest.raises(pg_errors.ProgramLimitExceeded) as caught:
            conn.execute("INSERT INTO wide VALUES (%s)", (secrets.token_hex(4000),))
    refused = as_store_error(caught.value)
    assert isinstance(refused, InvalidValue) and "exceeds" in refused.message
