"""A server on the Redis bus through a Redis restart or hang: /healthz says degraded, ingest goes
on, viewers miss nothing, and a command sent while Redis was away still reaches the producer's
long-poll.

Redis here is a private ``redis-server`` on its own port (the shared one is never restarted or
stopped).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect

from tests.bus.conftest import OUTAGES, PrivateRedis, redis_url
from tests.pg import fresh_database
from tests.server.test_live import finish, messages, post_points, start_run, ws_url
from tests.servers import ServerProcess, wait_until, waiting_long_poll


@pytest.fixture
def redis_and_server(tmp_path: Path) -> Iterator[tuple[PrivateRedis, ServerProcess]]:
    (tmp_path / "redis").mkdir()
    redis = PrivateRedis(tmp_path / "redis")
    redis.start()
    server = ServerProcess(tmp_path / "data", extra_args=["--bus", redis_url(redis.port)])
    server.start()
    yield redis, server
    server.stop()
    redis.kill()


def bus_health(c: httpx.Client) -> dict[str, object]:
    bus: dict[str, object] = c.get("/healthz").json()["bus"]
    return bus


@pytest.mark.parametrize("outage", OUTAGES)
def test_viewers_and_long_polls_miss_nothing_across_a_redis_restart_or_hang(
    redis_and_server: tuple[PrivateRedis, ServerProcess], outage: str
) -> None:
    redis, server = redis_and_server
    down, up = OUTAGES[outage]
    with server.client() as c:
        run_id = start_run(c)
        seen: list[int] = []
        with connect(ws_url(server, f"/api/v1/runs/{run_id}/live?since=0")) as ws:
            for i in range(1, 11):
                post_points(c, run_id, i, i)
            while len(seen) < 11:
                seen += [m["seq"] for m in messages(ws.recv(timeout=10))]

            assert c.get("/healthz").json()["status"] == "ok"
            down(redis)
            wait_until(lambda: bus_health(c)["connected"] is False, what="the bus to notice")
            degraded = c.get("/healthz")  # still serving: a balancer must keep it
            assert (degraded.status_code, degraded.json()["status"]) == (200, "degraded")
            for i in range(11, 21):  # acknowledged after commit, Redis or not
                post_points(c, run_id, i, i)
            poller, commands = waiting_long_poll(server, run_id, wait=25)
            sent = c.post(f"/api/v1/runs/{run_id}/commands", json={"kind": "lr", "payload": {}})
            assert sent.status_code == 201
            up(redis)
            wait_until(lambda: bus_health(c)["connected"] is True, what="the bus to reconnect")
            assert c.get("/healthz").json()["status"] == "ok"
            for i in range(21, 31):
                post_points(c, run_id, i, i)
            poller.join(30)
            finish(c, run_id, 31)
            types: list[str] = []
            while "run.closed" not in types:
                batch = messages(ws.recv(timeout=10))
                types += [m["type"] for m in batch]
                seen += [m["seq"] for m in batch if m["type"] != "run.closed"]
        health = bus_health(c)
        head = c.get(f"/api/v1/runs/{run_id}").json()["seq"]
    assert health["reconnects"] == 1
    assert [cmd["kind"] for cmd in commands["commands"]] == ["lr"]  # type: ignore[index]
    assert seen == list(range(1, head + 1))  # through the outage: every record once, in order
    assert head >= 32  # running, 30 batches, the command, the final status


def test_while_redis_is_down_viewers_and_long_polls_hear_another_replica_from_the_store(
    tmp_path: Path,
) -> None:
    """Replica A holds a live viewer and the producer's long-poll; points and a command go to
    replica B, and no bus carries the news: every subscriber on A is told to resync each second
    while Redis is away, so the viewer sees the points and the long-poll gets the command
    before Redis comes back."""
    (tmp_path / "redis").mkdir()
    redis = PrivateRedis(tmp_path / "redis")
    redis.start()
    try:
        with fresh_database() as pg_url:
            shared = ["--store", pg_url, "--bus", redis_url(redis.port)]
            a = ServerProcess(tmp_path / "a", extra_args=shared).start()
            b = ServerProcess(tmp_path / "b", extra_args=shared).start()
            try:
                with a.client() as on_a, b.client() as on_b:
                    run_id = start_run(on_a)
                    seen: list[int] = []
                    with connect(ws_url(a, f"/api/v1/runs/{run_id}/live?since=0")) as ws:
                        post_points(on_b, run_id, 1, 1)
                        while not seen:
                            seen += [m["seq"] for m in messages(ws.recv(timeout=10))]
                        redis.kill()
                        wait_until(lambda: bus_health(on_a)["connected"] is False, what="A")
                        poller, reply = waiting_long_poll(a, run_id, wait=8)
                        sent = on_b.post(
                            f"/api/v1/runs/{run_id}/commands", json={"kind": "lr", "payload": {}}
                        )
                        assert sent.status_code == 201
                        for i in range(2, 6):
                            post_points(on_b, run_id, i, i)
                        head = on_b.get(f"/api/v1/runs/{run_id}").json()["seq"]
                        while seen[-1] < head:
                            seen += [m["seq"] for m in messages(ws.recv(timeout=10))]
                        poller.join(30)
            finally:
                a.stop()
                b.stop()
    finally:
        redis.kill()
    assert seen == list(range(1, head + 1))
    assert [cmd["kind"] for cmd in reply["commands"]] == ["lr"]
