"""The Bus contract, run unchanged against the in-process bus and Redis (a real server).

Every test ignores resyncs (empty deliveries) except where they are the point: a backend may
send them whenever it might have missed something, and subscribers then read the store.
"""

from __future__ import annotations

import asyncio
import threading

from runwatch.bus import run_channel
from runwatch.store.base import Record
from tests.bus.conftest import Backend, Collector, until
from tests.store.aio import run


def recs(first: int, n: int) -> list[Record]:
    return [
        Record(seq, f'{{"seq":{seq},"type":"points"}}'.encode()) for seq in range(first, first + n)
    ]


def test_a_subscriber_gets_every_record_in_publish_order(backend: Backend) -> None:
    async def scenario() -> Collector:
        async with backend.replicas(1) as (bus,):
            got = Collector()
            bus.subscribe(run_channel("r1"), got)
            await bus.sync()
            seq = 1
            for size in [1, 5, 1, 64, 3] * 40:  # batches of mixed sizes, 3,000+ records
                bus.publish(run_channel("r1"), recs(seq, size))
                seq += size
            await until(lambda: len(got.seqs) >= seq - 1, what="every record")
            return got

    got = run(scenario())
    assert got.seqs == list(range(1, len(got.seqs) + 1))
    assert len(got.seqs) == sum([1, 5, 1, 64, 3] * 40)


def test_every_subscriber_of_a_channel_gets_everything_and_no_other_channel(
    backend: Backend,
) -> None:
    async def scenario() -> tuple[Collector, Collector, Collector]:
        async with backend.replicas(1) as (bus,):
            a, b, other = Collector(), Collector(), Collector()
            bus.subscribe(run_channel("r1"), a)
            bus.subscribe(run_channel("r1"), b)
            bus.subscribe(run_channel("r2"), other)
            await bus.sync()
            for i in range(1, 101):
                bus.publish(run_channel("r1"), recs(i, 1))
            bus.publish(run_channel("r2"), recs(1, 1))
            await until(lambda: len(a.seqs) == len(b.seqs) == 100 and other.seqs, what="all")
            return a, b, other

    a, b, other = run(scenario())
    assert a.seqs == b.seqs == list(range(1, 101))
    assert other.seqs == [1]


def test_an_unsubscribed_callback_gets_nothing_more_and_the_others_continue(
    backend: Backend,
) -> None:
    async def scenario() -> tuple[Collector, Collector]:
        async with backend.replicas(1) as (bus,):
            stays, leaves = Collector(), Collector()
            bus.subscribe(run_channel("r1"), stays)
            unsubscribe = bus.subscribe(run_channel("r1"), leaves)
            await bus.sync()
            bus.publish(run_channel("r1"), recs(1, 1))
            await until(lambda: leaves.seqs == [1], what="the first record")
            unsubscribe()
            unsubscribe()  # twice is harmless
            await bus.sync()
            bus.publish(run_channel("r1"), recs(2, 1))
            await until(lambda: stays.seqs == [1, 2], what="the second record")
            await bus.sync()
            return stays, leaves

    stays, leaves = run(scenario())
    assert leaves.seqs == [1]
    assert stays.seqs == [1, 2]


def test_records_reach_subscribers_on_another_replica(backend: Backend) -> None:
    async def scenario() -> tuple[Collector, Collector]:
        async with backend.replicas(2) as (a, b):
            on_a, on_b = Collector(), Collector()
            a.subscribe(run_channel("r1"), on_a)
            b.subscribe(run_channel("r1"), on_b)
            await a.sync()
            await b.sync()
            for i in range(1, 201):
                a.publish(run_channel("r1"), recs(i, 1))
            await until(lambda: len(on_a.seqs) == len(on_b.seqs) == 200, what="both replicas")
            return on_a, on_b

    on_a, on_b = run(scenario())
    assert on_a.seqs == on_b.seqs == list(range(1, 201))


def test_bodies_and_seqs_arrive_byte_for_byte(backend: Backend) -> None:
    sent = [
        Record(1, b""),
        Record(2, "ünïcødé ✓ \u2028".encode()),
        Record(3, bytes(range(256))),  # not UTF-8 at all: the bus carries bytes
        Record(2**62, b"x" * (1024 * 1024)),
    ]

    async def scenario() -> Collector:
        async with backend.replicas(2) as (a, b):
            got = Collector()
            b.subscribe(run_channel("run/with:odd chars"), got)
            await b.sync()
            a.publish(run_channel("run/with:odd chars"), sent)
            await until(lambda: len(got.seqs) == len(sent), what="the records")
            return got

    got = run(scenario())
    assert got.seqs == [r.seq for r in sent]
    assert got.bodies == [r.body for r in sent]


def test_callbacks_run_on_the_event_loop_thread(backend: Backend) -> None:
    async def scenario() -> tuple[Collector, asyncio.AbstractEventLoop, int]:
        async with backend.replicas(2) as (a, b):
            got = Collector()
            b.subscribe(run_channel("r1"), got)
            await b.sync()
            a.publish(run_channel("r1"), recs(1, 3))
            await until(lambda: got.seqs == [1, 2, 3], what="the records")
            return got, asyncio.get_running_loop(), threading.get_ident()

    got, loop, _ = run(scenario())
    assert got.loops and all(seen is loop for seen in got.loops)


def test_a_failing_callback_does_not_stop_the_others(backend: Backend) -> None:
    def broken(records: list[Record]) -> None:
        if records:
            raise RuntimeError("a broken subscriber")

    async def scenario() -> Collector:
        async with backend.replicas(1) as (bus,):
            got = Collector()
            bus.subscribe(run_channel("r1"), broken)
            bus.subscribe(run_channel("r1"), got)
            await bus.sync()
            for i in range(1, 11):
                bus.publish(run_channel("r1"), recs(i, 1))
            await until(lambda: len(got.seqs) == 10, what="the records")
            return got

    assert run(scenario()).seqs == list(range(1, 11))


def test_publishing_to_a_channel_nobody_hears_costs_nothing_and_later_subscribers_start_fresh(
    backend: Backend,
) -> None:
    async def scenario() -> Collector:
        async with backend.replicas(1) as (bus,):
            bus.publish(run_channel("r1"), recs(1, 50))  # nobody listens: dropped, not kept
            await bus.sync()
            got = Collector()
            bus.subscribe(run_channel("r1"), got)
            await bus.sync()
            bus.publish(run_channel("r1"), recs(51, 1))
            await until(lambda: got.seqs, what="the new record")
            return got

    assert run(scenario()).seqs == [51]


def test_health_names_the_backend_and_counts_channels(backend: Backend) -> None:
    async def scenario() -> tuple[dict[str, object], dict[str, object]]:
        async with backend.replicas(1) as (bus,):
            unsubscribe = bus.subscribe(run_channel("r1"), Collector())
            bus.subscribe(run_channel("r2"), Collector())
            await bus.sync()
            during = bus.health()
            unsubscribe()
            await bus.sync()
            return during, bus.health()

    during, after = run(scenario())
    assert during["backend"] == backend.name
    assert during["channels"] == 2
    assert after["channels"] == 1


def test_a_bus_that_reaches_its_medium_reports_no_outage(backend: Backend) -> None:
    async def scenario() -> str | None:
        async with backend.replicas(1) as (bus,):
            bus.subscribe(run_channel("r1"), Collector())
            await bus.sync()
            return bus.outage()

    assert run(scenario()) is None
