"""The SQLite store against a real file: round trips, dedup, seqs, NaN, buckets, migrations."""

from __future__ import annotations

import asyncio
import math
import sqlite3
from pathlib import Path

import msgspec
import pytest

from runwatch.protocol import Batch, EventIn, PointRow, RunCreate, StatusIn, encode_value
from runwatch.store.base import Committed, IngestError
from runwatch.store.prepare import prepare_batch
from runwatch.store.sqlite import SqliteStore
from runwatch.store.sqlite.retention import trim_journals
from runwatch.store.sqlite.schema import SCHEMA_VERSION
from tests.store.aio import run


def batch(seq: int, rows: list[tuple[int, dict]], events: int = 0, producer: str = "p") -> Batch:
    return Batch(
        producer=producer,
        batch_seq=seq,
        points=[PointRow(step, 1000.0 + step, values) for step, values in rows],
        events=[EventIn(kind="birth", ts=1.0, entity=i, payload={"i": i}) for i in range(events)],
    )


async def with_store(tmp_path: Path, work):  # type: ignore[no-untyped-def]
    store = SqliteStore(tmp_path)
    committed: list[Committed] = []
    await store.open()
    store.add_commit_listener(committed.extend)
    try:
        return await work(store, committed)
    finally:
        await store.close()


def test_points_round_trip_exactly(tmp_path: Path) -> None:
    async def work(store, _):  # type: ignore[no-untyped-def]
        r = await store.create_run(RunCreate(project="p", config={"lr": 0.1}))
        rows = [(i, {"loss": 1 / (i + 1), "acc": i * 0.5}) for i in range(300)]
        ack = await store.ingest(r.id, prepare_batch(batch(1, rows)))
        series = (await store.metrics(r.id, ["loss", "acc"], None, None, 1000, "step")).series
        return ack, series, await store.get_run(r.id)

    ack, series, info = run(with_store(tmp_path, work))
    assert ack.points == 600 and not ack.duplicate
    assert series["loss"].x == list(range(300))
    assert series["loss"].value == [1 / (i + 1) for i in range(300)]
    assert series["acc"].value == [i * 0.5 for i in range(300)]
    assert info.summary == {"loss": 1 / 300, "acc": 149.5}
    assert info.config == {"lr": 0.1}


def test_retried_batch_is_stored_once(tmp_path: Path) -> None:
    async def work(store, committed):  # type: ignore[no-untyped-def]
        r = await store.create_run(RunCreate(project="p"))
        b = prepare_batch(batch(7, [(0, {"x": 1.0}), (1, {"x": 2.0})], events=1))
        first = await store.ingest(r.id, b)
        second = await store.ingest(r.id, b)
        series = (await store.metrics(r.id, ["x"], None, None, 100, "step")).series
        return first, second, series, committed

    first, second, series, committed = run(with_store(tmp_path, work))
    assert second.duplicate and (second.seq_first, second.seq_last) == (
        first.seq_first,
        first.seq_last,
    )
    assert series["x"].value == [1.0, 2.0]
    # The duplicate published nothing: one status record, then the first ingest's two records.
    assert [r.seq for c in committed for r in c.records] == [1, 2, 3]


def test_seqs_are_dense_and_replay_in_order(tmp_path: Path) -> None:
    async def work(store, committed):  # type: ignore[no-untyped-def]
        r = await store.create_run(RunCreate(project="p"))
        acks = await asyncio.gather(
            *(
                store.ingest(r.id, prepare_batch(batch(i, [(i, {"x": 1.0})], events=2)))
                for i in range(50)
            )
        )
        return acks, await store.replay(r.id, 0, 10_000), committed

    acks, replayed, committed = run(with_store(tmp_path, work))
    assert [rec.seq for rec in replayed] == list(range(1, 152))
    assert sorted(a.seq_first for a in acks) == list(range(2, 152, 3))
    assert [rec.seq for c in committed for rec in c.records] == list(range(1, 152))
    first = msgspec.json.decode(replayed[1].body)
    assert first["seq"] == 2 and first["type"] == "points"


def test_unknown_run_fails_alone_in_its_group(tmp_path: Path) -> None:
    async def work(store, _):  # type: ignore[no-untyped-def]
        r = await store.create_run(RunCreate(project="p"))
        good = [
            store.ingest(r.id, prepare_batch(batch(i, [(i, {"x": float(i)})]))) for i in range(20)
        ]
        bad = store.ingest("nope", prepare_batch(batch(99, [(0, {"x": 1.0})])))
        results = await asyncio.gather(*good[:10], bad, *good[10:], return_exceptions=True)
        return results, (await store.metrics(r.id, ["x"], None, None, 100, "step")).series

    results, series = run(with_store(tmp_path, work))
    errors = [r for r in results if isinstance(r, Exception)]
    assert len(errors) == 1 and isinstance(errors[0], IngestError) and errors[0].status == 404
    assert series["x"].value == [float(i) for i in range(20)]


def test_non_finite_values_are_kept_distinct(tmp_path: Path) -> None:
    async def work(store, _):  # type: ignore[no-untyped-def]
        r = await store.create_run(RunCreate(project="p"))
        rows = [
            (0, {"v": 1.0}),
            (1, {"v": "nan"}),
            (2, {"v": "inf"}),
            (3, {"v": "-inf"}),
            (4, {"v": None}),
        ]
        await store.ingest(r.id, prepare_batch(batch(1, rows)))
        return (await store.metrics(r.id, ["v"], None, None, 100, "step")).series

    series = run(with_store(tmp_path, work))
    assert series["v"].value == [1.0, "nan", "inf", "-inf", "nan"]


def test_buckets_keep_spikes_and_match_brute_force(tmp_path: Path) -> None:
    values = [math.sin(i / 7) * 10 for i in range(1000)]
    values[500] = 1e6  # a one-step spike must survive downsampling
    values[10] = math.nan

    async def work(store, _):  # type: ignore[no-untyped-def]
        r = await store.create_run(RunCreate(project="p"))
        rows = [(i, {"v": "nan" if math.isnan(v) else v}) for i, v in enumerate(values)]
        await store.ingest(r.id, prepare_batch(batch(1, rows)))
        return (await store.metrics(r.id, ["v"], None, None, 100, "step")).series

    s = run(with_store(tmp_path, work))["v"]
    assert s.mode == "buckets" and len(s.x) <= 100 and s.width is not None
    groups: dict[int, list[tuple[int, float]]] = {}
    for i, v in enumerate(values):
        groups.setdefault(math.floor(i / s.width), []).append((i, v))
    assert len(groups) == len(s.x)
    for b, (_, points) in enumerate(sorted(groups.items())):
        finite = [v for _, v in points if math.isfinite(v)]
        assert s.x[b] == points[0][0] and s.count[b] == len(points)
        assert s.min[b] == min(finite) and s.max[b] == max(finite)
        assert s.mean[b] == pytest.approx(sum(finite) / len(finite))
        assert s.last[b] == encode_value(points[-1][1])
    assert max(s.max) == 1e6


def test_final_status_is_an_event_and_ends_the_run(tmp_path: Path) -> None:
    async def work(store, _):  # type: ignore[no-untyped-def]
        r = await store.create_run(RunCreate(project="p"))
        b = Batch(
            producer="p",
            batch_seq=1,
            status=StatusIn(state="failed", ts=5.0, error="boom", exit_code=3),
        )
        await store.ingest(r.id, prepare_batch(b))
        return await store.get_run(r.id), await store.events(r.id)

    info, events = run(with_store(tmp_path, work))
    assert (info.status, info.error, info.exit_code, info.ended_at) == ("failed", "boom", 3, 5.0)
    assert [(e.kind, e.payload["state"]) for e in events] == [
        ("status", "running"),
        ("status", "failed"),
    ]


def test_data_survives_reopen_and_schema_is_current(tmp_path: Path) -> None:
    async def write(store, _):  # type: ignore[no-untyped-def]
        r = await store.create_run(RunCreate(project="p", name="keep"))
        await store.ingest(r.id, prepare_batch(batch(1, [(0, {"x": 1.0})])))
        return r.id

    run_id = run(with_store(tmp_path, write))

    async def read(store, _):  # type: ignore[no-untyped-def]
        return await store.get_run(run_id), await store.health()

    info, health = run(with_store(tmp_path, read))
    assert info.name == "keep" and info.seq == 2
    assert health["schema"] == SCHEMA_VERSION
    conn = sqlite3.connect(tmp_path / "runwatch.sqlite3")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_client_chosen_run_id_is_idempotent(tmp_path: Path) -> None:
    async def work(store, _):  # type: ignore[no-untyped-def]
        a = await store.create_run(RunCreate(project="p", id="abcdef12"))
        b = await store.create_run(RunCreate(project="p", id="abcdef12"))
        with pytest.raises(IngestError) as exc:
            await store.create_run(RunCreate(project="other", id="abcdef12"))
        return a, b, exc.value, await store.list_runs()

    a, b, err, runs = run(with_store(tmp_path, work))
    assert a.id == b.id == "abcdef12" and len(runs) == 1
    assert err.status == 409


def test_chunks_fill_across_batches_restarts_and_late_points(tmp_path: Path) -> None:
    expected: list[tuple[int, float]] = []

    async def first(store, _):  # type: ignore[no-untyped-def]
        r = await store.create_run(RunCreate(project="p", id="chunky01"))
        # 100 batches of 50 in-order points: they fill one open chunk past its 4,096 cap.
        for b in range(100):
            rows = [(s, {"v": float(s)}) for s in range(b * 50, b * 50 + 50)]
            expected.extend((s, float(s)) for s, _ in rows)
            await store.ingest(r.id, prepare_batch(batch(b + 1, rows)))
        # A late batch whose steps fall inside what is stored already.
        late = [(s, {"v": -float(s)}) for s in (10, 2000, 4999)]
        expected.extend((s, -float(s)) for s, _ in late)
        await store.ingest(r.id, prepare_batch(batch(101, late)))

    async def second(store, _):  # type: ignore[no-untyped-def]
        rows = [(s, {"v": float(s)}) for s in range(5000, 5100)]
        expected.extend((s, float(s)) for s, _ in rows)
        await store.ingest("chunky01", prepare_batch(batch(102, rows)))
        full = (await store.metrics("chunky01", ["v"], None, None, 10_000, "step")).series
        window = (await store.metrics("chunky01", ["v"], 1990, 2010, 10_000, "step")).series
        return full["v"], window["v"]

    run(with_store(tmp_path, first))
    full, window = run(with_store(tmp_path, second))  # a reopened store finds the open chunk
    ordered = sorted(expected, key=lambda p: p[0])  # stable: a late duplicate step comes after
    assert list(zip(full.x, full.value, strict=True)) == ordered
    assert list(zip(window.x, window.value, strict=True)) == [
        p for p in ordered if 1990 <= p[0] <= 2010
    ]
    conn = sqlite3.connect(tmp_path / "runwatch.sqlite3")
    sizes = [n for (n,) in conn.execute("SELECT n FROM chunks ORDER BY rowid")]
    conn.close()
    assert sum(sizes) == len(expected) and max(sizes) <= 4096 and len(sizes) <= 4


def test_journal_trim_keeps_the_newest_records(tmp_path: Path) -> None:
    async def fill(store, _):  # type: ignore[no-untyped-def]
        r = await store.create_run(RunCreate(project="p", id="journal1"))
        for i in range(30):
            await store.ingest(r.id, prepare_batch(batch(i + 1, [(i, {"x": 1.0})])))
        return r.id

    run_id = run(with_store(tmp_path, fill))
    conn = sqlite3.connect(tmp_path / "runwatch.sqlite3")
    with conn:
        assert trim_journals(conn, keep=10) == 21
    seqs = [
        s
        for (s,) in conn.execute("SELECT seq FROM journal WHERE run_id = ? ORDER BY seq", (run_id,))
    ]
    conn.close()
    assert seqs == list(range(22, 32))


def test_snapshot_change_threshold_is_configurable(tmp_path: Path) -> None:
    from runwatch.protocol import SnapshotIn

    async def kept(epsilon: float, where: Path) -> list[str]:
        store = SqliteStore(where, snapshot_epsilon=epsilon)
        await store.open()
        try:
            r = await store.create_run(RunCreate(project="p"))
            for step in range(8):  # 5, 6 and 7 fall between the log-spaced ages 4 and 8
                value = [1.0, 1.0 + 0.1 * (step >= 6)]  # a 7% change at step 6
                snap = SnapshotIn(key="k", step=step, ts=1.0, value=value)
                await store.ingest(r.id, prepare_batch(Batch("p", step + 1, snapshots=[snap])))
            return [v["reason"] for v in await store.snapshot_versions(r.id, "k")]
        finally:
            await store.close()

    strict, loose = run(kept(0.01, tmp_path / "b")), run(kept(0.5, tmp_path / "c"))
    assert strict.count("change") == 1 and loose.count("change") == 0
