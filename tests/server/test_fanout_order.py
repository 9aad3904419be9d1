"""Records of one run reaching a replica out of order, late, or never (another replica's commits
racing to publish): every viewer still gets each seq once, in order, with no holes.

A real SQLite store holds the records; here the test publishes on the bus itself, playing the
replicas that committed them (shuffled, with some never published), instead of wiring the
store's commit listener.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec

from runwatch.bus import RUNS_CHANNEL, MemoryBus, run_channel
from runwatch.protocol import Batch, PointRow, RunCreate, StatusIn
from runwatch.server.fanout import LiveHub, LiveItem, Subscriber, run_stream
from runwatch.server.reorder import SeqOrder
from runwatch.server.runs_feed import RunsFeed, Watch
from runwatch.store.base import Committed, Record
from runwatch.store.prepare import prepare_batch
from runwatch.store.sqlite import SqliteStore
from tests.bus.conftest import until
from tests.store.aio import run


def items(*seqs: int) -> list[LiveItem]:
    return [(s, f"r{s}") for s in seqs]


def test_seq_order_releases_in_order_once_and_holds_past_a_hole() -> None:
    order = SeqOrder(0)
    assert order.push(items(1, 2, 3)) == items(1, 2, 3)  # in order: straight through
    assert order.push(items(2, 3)) == []  # repeats are dropped
    assert order.push(items(5, 6)) == [] and order.waiting  # 4 is missing: hold 5 and 6
    assert order.push(items(6, 4)) == items(4, 5, 6) and not order.waiting
    assert order.push(items(9, 8, 7)) == items(7, 8, 9)
    assert order.last == 9


def test_seq_order_caps_what_it_holds_by_dropping_the_highest() -> None:
    order = SeqOrder(0, cap=3)
    order.push(items(2, 3, 4, 5, 6))
    assert order.first_held() == 2
    assert order.push(items(1)) == items(1, 2, 3, 4)  # 5 and 6 were dropped (the store has them)
    order.skip_to(10)
    assert order.push(items(9, 11)) == items(11)


async def _ingest(store: SqliteStore, run_id: str, first: int, n: int) -> list[Record]:
    """Commit n one-point batches; the records they made, as the committing replica saw them."""
    for i in range(first, first + n):
        body = Batch(producer="p", batch_seq=i, points=[PointRow(i, 1000.0 + i, {"x": float(i)})])
        await store.ingest(run_id, prepare_batch(body))
    run = await store.get_run(run_id)
    assert run is not None
    return await store.replay(run_id, run.seq - n, n)


async def _finish(store: SqliteStore, run_id: str, batch_seq: int) -> list[Record]:
    """Commit the final status; its record as the committing replica publishes it (from its
    commit listener: flagged final, which the journal does not keep)."""
    committed: list[Committed] = []
    store.add_commit_listener(committed.extend)  # may also hear earlier commits, not yet told
    body = Batch(producer="p", batch_seq=batch_seq, status=StatusIn(state="succeeded", ts=2000.0))
    await store.ingest(run_id, prepare_batch(body))

    def final() -> list[Record]:
        return [r for change in committed for r in change.records if r.final]

    await until(final, what="the final status committed, flagged final")
    return final()


async def _collect(store: SqliteStore, hub: LiveHub, run_id: str, out: list[int]) -> None:
    async with contextlib.aclosing(run_stream(store, hub, run_id, 0)) as stream:
        async for chunk in stream:
            out += [seq for seq, text in chunk if '"type":"run.closed"' not in text]


@contextlib.asynccontextmanager
async def _watched_run(
    tmp_path: Path,
) -> AsyncIterator[tuple[SqliteStore, MemoryBus, str, list[int], asyncio.Task[None]]]:
    """A run in a real SQLite store and one viewer collecting its seqs, past its first record."""
    store, bus = SqliteStore(tmp_path), MemoryBus()
    await store.open()
    viewer: asyncio.Task[None] | None = None
    try:
        run_id = (await store.create_run(RunCreate(project="p"))).id
        seen: list[int] = []
        viewer = asyncio.create_task(_collect(store, LiveHub(bus), run_id, seen))
        await until(lambda: seen == [1], what="the first record (running) replayed")
        yield store, bus, run_id, seen, viewer
    finally:
        if viewer is not None:
            viewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await viewer
        await store.close()


def test_shuffled_and_lost_publishes_still_reach_viewers_in_order(tmp_path: Path) -> None:
    async def scenario() -> tuple[list[int], int]:
        async with _watched_run(tmp_path) as (store, bus, run_id, seen, viewer):
            rng = random.Random(7)
            for first in range(1, 400, 20):
                committed = await _ingest(store, run_id, first, 20)
                # The first record arrives in order, the others interleave (two replicas
                # publishing at once), and a replica may die before publishing some.
                rest = committed[1:]
                rng.shuffle(rest)
                for record in [committed[0], *rest]:
                    if record is committed[0] or rng.random() > 0.1:
                        bus.publish(run_channel(run_id), [record])
                await asyncio.sleep(0)  # let the viewer run between commits, as live
            final = await _finish(store, run_id, 1000)
            bus.publish(run_channel(run_id), final)
            await asyncio.wait_for(viewer, 20)
            return seen, final[0].seq

    seen, last = run(scenario())
    assert seen == list(range(1, last + 1))


def test_a_record_heard_before_the_one_before_it_is_committed_waits_for_it(
    tmp_path: Path,
) -> None:
    async def scenario() -> list[int]:
        async with _watched_run(tmp_path) as (store, bus, run_id, seen, viewer):
            # Another replica committed seq 3 and published it; seq 2's commit is still running.
            early = Record(3, b'{"seq":3,"type":"points","early":true}')
            bus.publish(run_channel(run_id), [early])
            await asyncio.sleep(0.2)  # let the viewer hold it across several re-reads
            assert seen == [1]  # nothing past the hole is sent
            committed = await _ingest(store, run_id, 1, 2)  # now seqs 2 and 3 are committed
            assert [r.seq for r in committed] == [2, 3]
            final = await _finish(store, run_id, 1000)
            bus.publish(run_channel(run_id), final)  # seqs 2 and 3 are never published here
            await asyncio.wait_for(viewer, 20)
            return seen

    assert run(scenario()) == [1, 2, 3, 4]


def test_a_final_status_heard_live_ends_a_caught_up_stream(tmp_path: Path) -> None:
    """The record says it ends the run: a viewer waiting, caught up, reads nothing back from the
    store to know (nothing here wakes it but the record)."""

    async def scenario() -> tuple[list[int], int]:
        async with _watched_run(tmp_path) as (store, bus, run_id, seen, viewer):
            final = await _finish(store, run_id, 1)
            bus.publish(run_channel(run_id), final)
            await asyncio.wait_for(viewer, 10)
            return seen, final[0].seq

    seen, last = run(scenario())
    assert seen == [1, last]


def test_a_resync_makes_viewers_read_what_the_bus_never_carried(tmp_path: Path) -> None:
    async def scenario() -> tuple[list[int], list[int]]:
        async with _watched_run(tmp_path) as (store, bus, run_id, seen, _viewer):
            # A record heard live: once it is seen, the viewer waits for the bus (its replay,
            # which could still read the store, is over).
            bus.publish(run_channel(run_id), await _ingest(store, run_id, 1, 1))
            await until(lambda: seen == [1, 2], what="the record heard live")
            await _ingest(store, run_id, 2, 4)  # committed, never published (Redis was down)
            await asyncio.sleep(0.1)  # the viewer has no reason to look yet
            before = list(seen)
            bus.publish(run_channel(run_id), [])  # the bus says: you may have missed something
            await until(lambda: len(seen) == 6, what="the records read back from the store")
            return before, seen

    before, seen = run(scenario())
    assert before == [1, 2]
    assert seen == [1, 2, 3, 4, 5, 6]


def test_a_resync_on_the_runs_channel_sends_runs_list_viewers_their_list_again(
    tmp_path: Path,
) -> None:
    async def scenario() -> tuple[str, list[dict[str, object]]]:
        store, bus = SqliteStore(tmp_path), MemoryBus()
        await store.open()
        feed = RunsFeed(store, LiveHub(bus), interval=0.01)
        feed.start()
        try:
            mine = (await store.create_run(RunCreate(project="p"))).id
            await store.create_run(RunCreate(project="other"))
            viewer = Subscriber()
            feed.add_viewer(viewer, Watch(project="p"))
            bus.publish(RUNS_CHANNEL, [])  # changes to runs may have gone unheard
            await asyncio.wait_for(viewer.wait(), 10)
            return mine, [msgspec.json.decode(text) for _, text in viewer.drain()]
        finally:
            await feed.stop()
            await store.close()

    mine, (message,) = run(scenario())
    assert message["type"] == "runs"
    assert [r["id"] for r in message["runs"]] == [mine]  # type: ignore[union-attr]
