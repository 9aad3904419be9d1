"""What only the Redis bus has to survive: Redis restarts and hangs, Redis down, shared servers,
bad URLs.

Restarts and hangs use a private ``redis-server`` on an ephemeral port (the shared one on 6379
serves other tests and is never restarted or stopped).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from runwatch.bus import MemoryBus, bus_from_url, run_channel
from runwatch.bus.redis import BusUnavailable, RedisBus, redact, split_url
from runwatch.store.base import Record
from tests.bus.conftest import OUTAGES, Collector, PrivateRedis, redis_answers, redis_url, until
from tests.conftest import missing
from tests.store.aio import run


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.kill()


@pytest.fixture
def shared_redis() -> str:
    if not redis_answers():
        missing("Redis on 127.0.0.1:6379")
    return redis_url()


def recs(first: int, n: int) -> list[Record]:
    return [Record(seq, b"{}") for seq in range(first, first + n)]


@pytest.mark.parametrize("outage", OUTAGES)
def test_after_a_redis_restart_or_hang_subscribers_get_a_resync_and_records_flow_again(
    private_redis: PrivateRedis, outage: str
) -> None:
    url = redis_url(private_redis.port)
    down, up = OUTAGES[outage]

    async def scenario() -> tuple[Collector, dict[str, object], list[str | None]]:
        a, b = RedisBus(url), RedisBus(url)
        await a.start()
        await b.start()
        try:
            got = Collector()
            b.subscribe(run_channel("r1"), got)
            await b.sync()
            outages = [b.outage()]
            a.publish(run_channel("r1"), recs(1, 3))
            await until(lambda: got.seqs == [1, 2, 3], what="records before the restart")
            resyncs = got.resyncs
            down(private_redis)
            # A hung Redis answers nothing: seen by the bus's pings within a few seconds.
            await until(lambda: not b.health()["connected"], what="the disconnect to be seen")
            outages.append(b.outage())
            a.publish(run_channel("r1"), recs(4, 2))  # queued while Redis is down
            up(private_redis)
            await until(lambda: got.resyncs > resyncs, what="a resync after the restart")
            await until(lambda: a.health()["connected"], what="the publisher to reconnect")
            a.publish(run_channel("r1"), recs(6, 1))
            await until(lambda: 6 in got.seqs, what="records after the restart")
            outages.append(b.outage())
            return got, b.health(), outages
        finally:
            await a.stop()
            await b.stop()

    got, health, outages = run(scenario())
    # The reason a page shows while Redis is lost, and nothing once the bus is back.
    assert outages == [None, "bus unreachable: updates re-read every 1 s", None]
    # Records queued during the outage may or may not beat the resubscription (the resync covers
    # them); whatever arrives is in order, and nothing after the restart is missed.
    assert got.seqs[:3] == [1, 2, 3] and got.seqs[-1] == 6
    assert got.seqs == sorted(got.seqs)
    assert health["reconnects"] == 1


@pytest.mark.parametrize("outage", OUTAGES)
def test_while_redis_is_down_or_hung_the_publish_queue_stays_capped_and_a_resync_follows(
    private_redis: PrivateRedis, outage: str
) -> None:
    url = redis_url(private_redis.port)
    down, up = OUTAGES[outage]

    async def scenario() -> tuple[dict[str, object], Collector]:
        publisher, listener = RedisBus(url, max_queued=10), RedisBus(url)
        await publisher.start()
        await listener.start()
        try:
            got = Collector()
            listener.subscribe(run_channel("r1"), got)
            await listener.sync()
            down(private_redis)
            await until(lambda: not publisher.health()["connected"], what="the disconnect")
            for i in range(1, 101):
                publisher.publish(run_channel("r1"), recs(i, 1))
                assert publisher.health()["queued"] <= 10
            during = publisher.health()
            resyncs = got.resyncs
            up(private_redis)
            await until(lambda: publisher.health()["connected"], what="the publisher to reconnect")
            await until(lambda: listener.health()["connected"], what="the listener to reconnect")
            await publisher.sync()
            # The listener's own resubscription resyncs it; the dropped queue resyncs everyone.
            await until(lambda: got.resyncs >= resyncs + 1, what="the resync")
            publisher.publish(run_channel("r1"), recs(101, 1))
            await until(lambda: 101 in got.seqs, what="a record after the outage")
            return during, got
        finally:
            await publisher.stop()
            await listener.stop()

    during, got = run(scenario())
    assert during["dropped"] == 100 - int(str(during["queued"]))
    assert int(str(during["dropped"])) >= 90
    assert got.seqs == sorted(got.seqs) and got.seqs[-1] == 101


def test_a_dropped_queue_resyncs_subscribers_on_every_replica(shared_redis: str) -> None:
    async def scenario() -> tuple[Collector, Collector]:
        a, b = RedisBus(shared_redis, max_queued=5), RedisBus(shared_redis)
        await a.start()
        await b.start()
        try:
            on_a, on_b = Collector(), Collector()
            a.subscribe(run_channel("r1"), on_a)
            b.subscribe(run_channel("r2"), on_b)
            await a.sync()
            await b.sync()
            before = (on_a.resyncs, on_b.resyncs)
            for i in range(1, 21):  # 20 publishes in one loop turn: the queue of 5 overflows
                a.publish(run_channel("r1"), recs(i, 1))
            await a.sync()
            await until(
                lambda: on_a.resyncs > before[0] and on_b.resyncs > before[1],
                what="a resync on both replicas",
            )
            return on_a, on_b
        finally:
            await a.stop()
            await b.stop()

    on_a, _ = run(scenario())
    assert on_a.seqs == sorted(on_a.seqs)
    assert len(on_a.seqs) < 20  # some were dropped; the resync is how subscribers learn it


def test_a_prefix_separates_deployments_sharing_one_redis(shared_redis: str) -> None:
    other = redis_url()

    async def scenario() -> tuple[Collector, Collector]:
        team_a, team_b = RedisBus(shared_redis), RedisBus(other)
        await team_a.start()
        await team_b.start()
        try:
            on_a, on_b = Collector(), Collector()
            team_a.subscribe(run_channel("r1"), on_a)
            team_b.subscribe(run_channel("r1"), on_b)
            await team_a.sync()
            await team_b.sync()
            team_a.publish(run_channel("r1"), recs(1, 1))
            team_b.publish(run_channel("r1"), recs(7, 1))
            await until(lambda: on_a.seqs and on_b.seqs, what="both deliveries")
            await team_a.sync()
            await team_b.sync()
            return on_a, on_b
        finally:
            await team_a.stop()
            await team_b.stop()

    on_a, on_b = run(scenario())
    assert on_a.seqs == [1]
    assert on_b.seqs == [7]


def test_an_unreachable_redis_fails_start_with_one_clear_line() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once the socket closes
    bus = RedisBus(f"redis://:s3cret@127.0.0.1:{port}/0")
    with pytest.raises(BusUnavailable) as err:
        run(bus.start())
    assert f"cannot reach Redis at redis://:***@127.0.0.1:{port}/0" in str(err.value)
    assert "s3cret" not in str(err.value)


def test_bus_urls() -> None:
    assert isinstance(bus_from_url(None), MemoryBus)
    assert isinstance(bus_from_url("memory://"), MemoryBus)
    assert isinstance(bus_from_url("redis://127.0.0.1:6379/0"), RedisBus)
    with pytest.raises(ValueError, match=r"use memory:// .* or redis://"):
        bus_from_url("kafka://broker:9092")
    assert split_url("redis://h:6379/2?prefix=team-a:&ssl_cert_reqs=none") == (
        "redis://h:6379/2?ssl_cert_reqs=none",
        "team-a:",
    )
    assert split_url("redis://h/0") == ("redis://h/0", "runwatch:")
    assert redact("redis://user:pw@h:6380/1") == "redis://user:***@h:6380/1"
    assert redact("redis://h:6379/0") == "redis://h:6379/0"
