"""The Store contract: every backend (tests/store/conftest.py) gives the same answers.

Round trips, dedup, seqs, NaN, buckets, reopen, and every capability: entity index, snapshot
history, tables, point sets, logs, artifacts, vitals, heartbeats and crashes, commands,
promotions, tokens, retention, hydration state.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

import msgspec
import pytest

from runwatch.protocol import (
    Batch,
    EventIn,
    PointRow,
    RunCreate,
    SnapshotIn,
    StatusIn,
    encode_value,
)
from runwatch.store.base import REPLAY_MAX_BYTES, Committed
from runwatch.store.errors import RunExists, RunFinished, RunNotFound
from runwatch.store.prepare import prepare_batch
from tests.store.aio import run
from tests.store.conftest import StoreMaker


def batch(seq: int, rows: list[tuple[int, dict]], events: int = 0, producer: str = "p") -> Batch:
    return Batch(
        producer=producer,
        batch_seq=seq,
        points=[PointRow(step, 1000.0 + step, values) for step, values in rows],
        events=[EventIn(kind="birth", ts=1.0, entity=i, payload={"i": i}) for i in range(events)],
    )


async def with_store(make: StoreMaker, work, **options: Any):  # type: ignore[no-untyped-def]
    store = make(**options)
    committed: list[Committed] = []
    await store.open()
    store.add_commit_listener(committed.extend)
    try:
        return await work(store, committed)
    finally:
        await store.close()


def test_points_round_trip_exactly(make_store: StoreMaker) -> None:
    async def work(store, _):  # type: ignore[no-untyped-def]
        r = await store.create_run(RunCreate(project="p", config={"lr": 0.1}))
        rows = [(i, {"loss": 1 / (i + 1), "acc": i * 0.5}) for i in range(300)]
        ack = await store.ingest(r.id, prepare_batch(batch(1, rows)))
        series = (await store.metrics(r.id, ["loss", "acc"], None, None, 1000, "step")).series
        return ack, series, await store.get_run(r.id)

    ack, series, info = run(with_store(make_store, work))
    assert ack.points == 600 and not ack.duplicate
    assert series["loss"].x == list(range(300))
    assert series["loss"].value == [1 / (i + 1) for i in range(300)]
    assert series["acc"].value == [i * 0.5 for i in range(300)]
    assert info.summary == {"loss": 1 / 300, "acc": 149.5}
    assert list(info.summary) == ["loss", "acc"]
    assert info.config == {"lr": 0.1}


def test_retried_batch_is_stored_once(make_store: StoreMaker) -> None:
    async def work(store, committed):  # type: ignore[no-untyped-def]
        r = await store.create_run(RunCreate(project="p"))
        b = prepare_batch(batch(7, [(0, {"x": 1.0}), (1, {"x": 2.0})], events=1))
        first = await store.ingest(r.id, b)
        second = await store.ingest(r.id, b)
        series = (await store.metrics(r.id, ["x"], None, None, 100, "step")).series
        return first, second, series, committed

    first, second, series, committed = run(with_store(make_store, work))
    assert second.duplicate
    assert (second.seq_first, second.seq_last) == (first.seq_first, first.seq_last)
    assert series["x"].value == [1.0, 2.0]
    # The duplicate published nothing: one status record, then the first ingest's two records.
    assert [r.seq for c in committed for r in c.records] == [1, 2, 3]


def test_a_run_counts_the_records_its_producers_report_lost(make_store: StoreMaker) -> None:
    def loss(lost: Any, kind: str = "sdk.lost") -> EventIn:
        return EventIn(kind=kind, ts=1.0, level="error", payload={"lost": lost})

    async def work(store, _):  # type: ignore[no-untyped-def]
        r = await store.create_run(RunCreate(project="p"))
        fresh = (await store.get_run(r.id)).lost
        first = Batch(producer="p", batch_seq=1, events=[loss(5), loss(7)])
        await store.ingest(r.id, prepare_batch(first))
        await store.ingest(r.id, prepare_batch(first))  # retried: counted once
        # Not a loss report, or no whole count in it: data, counted as nothing.
        odd = [loss(100, kind="note"), loss("9"), loss(True), loss(2.5), loss(-3), loss(None)]
        await store.ingest(r.id, prepare_batch(Batch(producer="p", batch_seq=2, events=odd)))
        other = Batch(producer="q", batch_seq=1, events=[loss(30)])
        await store.ingest(r.id, prepare_batch(other))
        done = Batch(producer="p", batch_seq=3, status=StatusIn(state="succeeded", ts=2.0))
        await store.ingest(r.id, prepare_batch(done))
        listed = await store.list_runs()
        return fresh, await store.get_run(r.id), listed

    fresh, info, listed = run(with_store(make_store, work))
    assert fresh == 0
    assert (info.status, info.lost) == ("succeeded", 42)
    assert [x.lost for x in listed] == [42]


def test_seqs_are_dense_and_replay_in_order(make_store: StoreMaker) -> None:
    async def work(store, committed):  # type: ignore[no-untyped-def]
        r = await store.create_run(RunCreate(project="p"))
        acks = await asyncio.gather(
            *(
                store.ingest(r.id, prepare_batch(batch(i, [(i, {"x": 1.0})], events=2)))
                for i in range(50)
            )
        )
        return acks, await store.replay(r.id, 0, 10_000), committed

    acks, replayed, committed = run(with_store(make_store, work))
    assert [rec.seq for rec in replayed] == list(range(1, 152))
    assert sorted(a.seq_first for a in acks) == list(range(2, 152, 3))
    assert [rec.seq for c in committed for rec in c.records] == list(range(1, 152))
    first = msgspec.json.decode(replayed[1].body)
    assert first["seq"] == 2 and first["type"] == "points"


def test_replay_pages_stop_at_the_byte_cap(make_store: StoreMaker) -> None:
    async def work(store, _):  # type: ignore[no-untyped-def]
        r = await store.create_run(RunCreate(project="p"))
        big = "x" * 50_000  # within the event payload limit; about five fill a page
        events = [EventIn(kind="note", ts=1.0, payload={"text": big}) for _ in range(24)]
        await store.ingest(r.id, prepare_batch(Batch(producer="p", batch_seq=1, events=events)))
        pages, since = [], 0
        while page := await store.replay(r.id, since, 500):
            pages.append(page)
            since = page[-1].seq
        return pages

    pages = run(with_store(make_store, work))
    assert [rec.seq for page in pages for rec in page] == list(range(1, 26))
    assert len(pages) >= 4  # without the cap, one page of 500 would hold all 25
    for page in pages:
        before_last = sum(len(rec.body) for rec in page[:-1])
        assert before_last < REPLAY_MAX_BYTES  # a page ends at the record that crosses the cap


def test_unknown_run_fails_alone(make_store: StoreMaker) -> None:
    async def work(store, _):  # type: ignore[no-untyped-def]
        r = await store.create_run(RunCreate(project="p"))
        good = [
            store.ingest(r.id, prepare_batch(batch(i, [(i, {"x": float(i)})]))) for i in range(20)
        ]
        bad = store.ingest("nope", prepare_batch(batch(99, [(0, {"x": 1.0})])))
        results = await asyncio.gather(*good[:10], bad, *good[10:], return_exceptions=True)
        return results, (await store.metrics(r.id, ["x"], None, None, 100, "step")).series

    results, series = run(with_store(make_store, work))
    errors = [r for r in results if isinstance(r, Exception)]
    assert len(errors) == 1 and isinstance(errors[0], RunNotFound) and errors[0].field == "run"
    assert series["x"].value == [float(i) for i in range(20)]


def test_non_finite_values_are_kept_distinct(make_store: StoreMaker) -> None:
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

    series = run(with_store(make_store, work))
    assert series["v"].value == [1.0, "nan", "inf", "-inf", "nan"]


def test_buckets_keep_spikes_and_match_brute_force(make_store: StoreMaker) -> None:
    values = [math.sin(i / 7) * 10 for i in range(1000)]
    values[500] = 1e6  # a one-step spike must survive downsampling
    values[10] = math.nan

    async def work(store, _):  # type: ignore[no-untyped-def]
        r = await store.create_run(RunCreate(project="p"))
        rows = [(i, {"v": "nan" if math.isnan(v) else v}) for i, v in enumerate(values)]
        await store.ingest(r.id, prepare_batch(batch(1, rows)))
        return (await store.metrics(r.id, ["v"], None, None, 100, "step")).series

    s = run(with_store(make_store, work))["v"]
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


def test_long_series_are_served_from_the_pyramid(make_store: StoreMaker) -> None:
    async def work(store, _):  # type: ignore[no-untyped-def]
        r = await store.create_run(RunCreate(project="p"))
        for b in range(5):  # 100,000 points: whole pyramid blocks plus raw edges
            rows = [(s, {"v": float(s % 1000)}) for s in range(b * 20_000, (b + 1) * 20_000)]
            await store.ingest(r.id, prepare_batch(batch(b + 1, rows)))
        full = await store.metrics(r.id, ["v"], None, None, 200, "step")
        part = await store.metrics(r.id, ["v"], 12_345, 87_654, 100, "step")
        by_time = await store.metrics(r.id, ["v"], None, None, 50, "time")
        return full.series["v"], part.series["v"], by_time.series["v"]

    full, part, by_time = run(with_store(make_store, work))
    assert full.mode == "buckets" and len(full.x) <= 200 and sum(full.count) == 100_000
    assert max(full.max) == 999.0 and min(full.min) == 0.0
    assert part.mode == "buckets" and sum(part.count) == 87_654 - 12_345 + 1
    assert part.x[0] == 12_345 and part.last_x[-1] == 87_654
    assert by_time.mode == "buckets" and sum(by_time.count) == 100_000


def test_raw_points_over_time_carry_their_steps(make_store: StoreMaker) -> None:
    """A chart over wall time reads each point's step: raw Series by time carry ``step``, in
    time order (a late step with an earlier clock sorts before), and by step they do not."""

    async def work(store, _):  # type: ignore[no-untyped-def]
        r = await store.create_run(RunCreate(project="p"))
        points = [PointRow(0, 50.0, {"v": 1.0}), PointRow(1, 30.0, {"v": 2.0})]
        points.append(PointRow(2, 70.0, {"v": 3.0}))
        await store.ingest(r.id, prepare_batch(Batch(producer="p", batch_seq=1, points=points)))
        by_time = await store.metrics(r.id, ["v"], None, None, 100, "time")
        window = await store.metrics(r.id, ["v"], 40.0, 80.0, 100, "time")
        by_step = await store.metrics(r.id, ["v"], None, None, 100, "step")
        return by_time.series["v"], window.series["v"], by_step.series["v"]

    by_time, window, by_step = run(with_store(make_store, work))
    assert (by_time.x, by_time.value, by_time.step) == (
        [30.0, 50.0, 70.0],
        [2.0, 1.0, 3.0],
        [1, 0, 2],
    )
    assert (window.x, window.step) == ([50.0, 70.0], [0, 2])
    assert by_step.step is None


def test_final_status_is_an_event_and_ends_the_run(make_store: StoreMaker) -> None:
    async def work(store, _):  # type: ignore[no-untyped-def]
        r = await store.create_run(RunCreate(project="p"))
        b = Batch(
            producer="p",
            batch_seq=1,
            status=StatusIn(state="failed", ts=5.0, error="boom", exit_code=3),
        )
        await store.ingest(r.id, prepare_batch(b))
        with pytest.raises(RunFinished) as late:
            await store.ingest(r.id, prepare_batch(batch(2, [(0, {"x": 1.0})])))
        return await store.get_run(r.id), await store.events(r.id), late.value

    info, events, late = run(with_store(make_store, work))
    assert (info.status, info.error, info.exit_code, info.ended_at) == ("failed", "boom", 3, 5.0)
    assert [(e.kind, e.payload["state"]) for e in events] == [
        ("status", "running"),
        ("status", "failed"),
    ]
    assert late.code == "run_finished" and late.field == "run"


def test_batches_before_the_final_status_are_stored_even_when_they_arrive_after_it(
    make_store: StoreMaker,
) -> None:
    async def work(store, _):  # type: ignore[no-untyped-def]
        r = await store.create_run(RunCreate(project="p"))
        final = StatusIn(state="succeeded", ts=9.0)
        await store.ingest(r.id, prepare_batch(batch(1, [(0, {"x": 0.0})])))
        await store.ingest(r.id, prepare_batch(Batch(producer="p", batch_seq=4, status=final)))
        # Batches 3 and 2 were sent before the final status but arrive after it (a retry, a sync).
        late = batch(3, [(2, {"x": 2.0})], events=1)
        late.status = StatusIn(state="running", ts=8.0)  # the final status stands
        acks = [await store.ingest(r.id, prepare_batch(late))]
        acks.append(await store.ingest(r.id, prepare_batch(batch(2, [(1, {"x": 1.0})]))))
        acks.append(await store.ingest(r.id, prepare_batch(batch(2, [(1, {"x": 1.0})]))))
        refused = []
        for b in (batch(5, [(3, {"x": 3.0})]), batch(1, [(3, {"x": 3.0})], producer="other")):
            with pytest.raises(RunFinished) as exc:
                await store.ingest(r.id, prepare_batch(b))
            refused.append(exc.value)
        series = (await store.metrics(r.id, ["x"], None, None, 100, "step")).series
        return acks, refused, series, await store.get_run(r.id)

    acks, refused, series, info = run(with_store(make_store, work))
    assert [a.duplicate for a in acks] == [False, False, True]
    assert [e.code for e in refused] == ["run_finished"] * 2
    assert series["x"].x == [0, 1, 2] and series["x"].value == [0.0, 1.0, 2.0]
    assert (info.status, info.ended_at) == ("succeeded", 9.0)


def test_data_survives_reopen(make_store: StoreMaker) -> None:
    async def write(store, _):  # type: ignore[no-untyped-def]
        r = await store.create_run(RunCreate(project="p", name="keep"))
        await store.ingest(r.id, prepare_batch(batch(1, [(0, {"x": 1.0})])))
        return r.id

    run_id = run(with_store(make_store, write))

    async def read(store, _):  # type: ignore[no-untyped-def]
        return await store.get_run(run_id), await store.health()

    info, health = run(with_store(make_store, read))
    assert info.name == "keep" and info.seq == 2
    assert health["backend"] in ("sqlite", "postgresql") and health["schema"] >= 1


def test_client_chosen_run_id_is_idempotent(make_store: StoreMaker) -> None:
    async def work(store, _):  # type: ignore[no-untyped-def]
        a = await store.create_run(RunCreate(project="p", id="abcdef12"))
        b = await store.create_run(RunCreate(project="p", id="abcdef12"))
        with pytest.raises(RunExists) as exc:
            await store.create_run(RunCreate(project="other", id="abcdef12"))
        return a, b, exc.value, await store.list_runs()

    a, b, err, runs = run(with_store(make_store, work))
    assert a.id == b.id == "abcdef12" and len(runs) == 1
    assert err.code == "run_exists" and err.field == "$.id"


def fill_chunks(make: StoreMaker) -> tuple[list[tuple[int, float]], Any, Any, Any]:
    """100 batches of 50 in-order points (past one chunk's 4,096 cap), a late batch inside
    them, then, after a reopen, 100 more: the points in ingest order, and what the store
    answers (the full series, the window 1990-2010, the last 5)."""
    expected: list[tuple[int, float]] = []

    async def first(store, _):  # type: ignore[no-untyped-def]
        r = await store.create_run(RunCreate(project="p", id="chunky01"))
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
        tail = await store.tails("chunky01", ["v"], 5)
        return full["v"], window["v"], tail["v"]

    run(with_store(make, first))
    full, window, tail = run(with_store(make, second))  # reopened: finds the open chunk
    return expected, full, window, tail


def by_step(points: list[tuple[int, float]]) -> list[tuple[int, float]]:
    """Points (in ingest order) as a chart's range query answers them: by step, one a step,
    the one ingested last."""
    return sorted(dict(points).items())


def test_chunks_fill_across_batches_restarts_and_late_points(make_store: StoreMaker) -> None:
    expected, full, window, tail = fill_chunks(make_store)
    ordered = by_step(expected)
    assert list(zip(full.x, full.value, strict=True)) == ordered
    assert list(zip(window.x, window.value, strict=True)) == [
        p for p in ordered if 1990 <= p[0] <= 2010
    ]
    assert tail.x == [5095, 5096, 5097, 5098, 5099]


def test_snapshot_change_threshold_is_configurable(make_store: StoreMaker) -> None:
    async def kept(epsilon: float) -> list[str]:
        async def work(store, _):  # type: ignore[no-untyped-def]
            r = await store.create_run(RunCreate(project="p"))
            for step in range(8):  # 5, 6 and 7 fall between the log-spaced ages 4 and 8
                value = [1.0, 1.0 + 0.1 * (step >= 6)]  # a 7% change at step 6
                snap = SnapshotIn(key="k", step=step, ts=1.0, value=value)
                await store.ingest(r.id, prepare_batch(Batch("p", step + 1, snapshots=[snap])))
            return [v["reason"] for v in await store.snapshot_versions(r.id, "k")]

        return await with_store(make_store, work, snapshot_epsilon=epsilon)  # type: ignore[no-any-return]

    strict, loose = run(kept(0.01)), run(kept(0.5))
    assert strict.count("change") == 1 and loose.count("change") == 0


def test_a_step_logged_again_replaces_the_point_at_it_in_charts(make_store: StoreMaker) -> None:
    """A run resumed from a checkpoint logs steps again: its charts' raw points and tails keep
    one point a step, the one ingested last (one line, not a saw between the attempts), and so
    do its buckets by step; the raw export keeps every point."""

    async def work(store, _):  # type: ignore[no-untyped-def]
        r = await store.create_run(RunCreate(project="p"))
        first = [(s, {"x": float(s)}) for s in range(10)]
        await store.ingest(r.id, prepare_batch(batch(1, first, producer="before")))
        # The resumed producer's chunk ends at step 6, below the first one's last step.
        again = [(s, {"x": 100.0 + s}) for s in range(3, 7)]
        await store.ingest(r.id, prepare_batch(batch(1, again, producer="after")))
        raw = (await store.metrics(r.id, ["x"], None, None, 100, "step")).series["x"]
        tail = (await store.tails(r.id, ["x"], 5))["x"]
        exported, _ = await store.raw_points(r.id, "x", 0, 100)
        buckets = (await store.metrics(r.id, ["x"], None, None, 2, "step")).series["x"]
        return raw, tail, exported, buckets

    raw, tail, exported, buckets = run(with_store(make_store, work))
    assert raw.mode == "raw" and raw.x == list(range(10))
    assert raw.value == [0.0, 1.0, 2.0, 103.0, 104.0, 105.0, 106.0, 7.0, 8.0, 9.0]
    assert (tail.x, tail.value) == ([5, 6, 7, 8, 9], [105.0, 106.0, 7.0, 8.0, 9.0])
    assert [p[0] for p in exported] == [*range(10), *range(3, 7)]
    assert buckets.mode == "buckets" and sum(buckets.count) == 10 and max(buckets.max) == 106.0
