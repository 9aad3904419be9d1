"""A server on the Redis bus through a Redis restart or hang: /healthz says degraded, ingest goes
on, viewers miss nothing, every live socket says the bus is unreachable and then that it is
back, and a command sent while Redis was away still reaches the producer's long-poll.

Redis here is a private ``redis-server`` on its own port (the shared one is never restarted or
stopped).
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

from tests.bus.conftest import OUTAGES, PrivateRedis, redis_url
from tests.pg import fresh_database
from tests.server.test_live import finish, messages, post_points, start_run, ws_url
from tests.servers import ServerProcess, wait_until, waiting_long_poll

# Messages that repeat a seq: about the stream, not records.
CONTROL = {"run.closed", "bus"}
DEGRADED = "bus unreachable: updates re-read every 1 s"
Reader = Callable[[float], list[dict[str, Any]]]  # the next messages, within a timeout


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
                seen += [m["seq"] for m in batch if m["type"] not in CONTROL]
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
                        # The command's delivery is a record too: the run's head is read after it.
                        poller.join(30)
                        head = on_b.get(f"/api/v1/runs/{run_id}").json()["seq"]
                        while seen[-1] < head:
                            seen += [
                                m["seq"]
                                for m in messages(ws.recv(timeout=10))
                                if m["type"] not in CONTROL
                            ]
            finally:
                a.stop()
                b.stop()
    finally:
        redis.kill()
    assert seen == list(range(1, head + 1))
    assert [cmd["kind"] for cmd in reply["commands"]] == ["lr"]


def until_bus(read: Reader, degraded: str | None, timeout: float = 20) -> list[dict[str, Any]]:
    """The messages read up to and with the first ``bus`` message that says ``degraded``."""
    deadline = time.monotonic() + timeout
    got: list[dict[str, Any]] = []
    while not any(m["type"] == "bus" and m["degraded"] == degraded for m in got):
        left = deadline - time.monotonic()
        assert left > 0, f"no bus message saying {degraded!r} within {timeout} s: {got}"
        got += read(left)
    return got


def bus_says(got: list[dict[str, Any]]) -> list[str | None]:
    return [m["degraded"] for m in got if m["type"] == "bus"]


@pytest.mark.parametrize("outage", OUTAGES)
def test_every_live_socket_says_while_the_bus_is_unreachable_and_when_it_is_back(
    redis_and_server: tuple[PrivateRedis, ServerProcess], outage: str
) -> None:
    """A run's WebSocket and SSE stream, the runs list and the alerts socket each get one ``bus``
    message with the reason once Redis is lost, and one with ``null`` once it is back; a socket
    opened during the outage is told at once; a healthy bus sends none."""
    redis, server = redis_and_server
    down, up = OUTAGES[outage]
    with contextlib.ExitStack() as stack:
        c = stack.enter_context(
            httpx.Client(base_url=server.url, timeout=httpx.Timeout(10, read=30))
        )
        run_id = start_run(c)
        post_points(c, run_id, 1, 1)
        head = c.get(f"/api/v1/runs/{run_id}").json()["seq"]

        def ws_reader(path: str) -> Reader:
            ws = stack.enter_context(connect(ws_url(server, path)))
            return lambda timeout: messages(ws.recv(timeout=timeout))

        def sse_reader(path: str) -> Reader:
            lines = stack.enter_context(c.stream("GET", path)).iter_lines()

            def read(_: float) -> list[dict[str, Any]]:  # the client's read timeout bounds it
                data = next(line for line in lines if line.startswith("data: "))
                return [json.loads(data[len("data: ") :])]

            return read

        readers = {
            "run": ws_reader(f"/api/v1/runs/{run_id}/live?since=0"),
            "stream": sse_reader(f"/api/v1/runs/{run_id}/stream"),
            "runs": ws_reader("/api/v1/live?project=live"),
            "alerts": ws_reader("/api/v1/projects/live/alerts/live"),
        }
        first = {name: read(10) for name, read in readers.items()}  # each one served
        down(redis)
        during = {name: until_bus(read, DEGRADED) for name, read in readers.items()}
        readers["late"] = ws_reader(f"/api/v1/runs/{run_id}/live?since=0")
        during["late"] = until_bus(readers["late"], DEGRADED)
        up(redis)
        after = {name: until_bus(read, None) for name, read in readers.items()}
    assert all(bus_says(got) == [] for got in first.values())
    said_during = {name: bus_says(got) for name, got in during.items()}
    assert said_during == {name: [DEGRADED] for name in during}
    said_after = {name: bus_says(got) for name, got in after.items()}
    assert said_after == {name: [None] for name in after}
    # On a run's stream it is a control message: it repeats the last seq sent (a late socket's
    # comes before its replay), like run.closed.
    assert [m["seq"] for m in (first["run"] + during["run"]) if m["type"] == "bus"] == [head]
    assert [m["seq"] for m in during["late"] if m["type"] == "bus"] == [0]
