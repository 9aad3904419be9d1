"""A real server on the Redis bus: live runs, the runs list and commands all ride through Redis."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.sync.client import connect

from tests.bus.conftest import redis_answers, redis_url
from tests.conftest import missing
from tests.server.test_live import finish, messages, post_points, start_run, ws_url
from tests.servers import ServerProcess, waiting_long_poll


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[ServerProcess]:
    if not redis_answers():
        missing("Redis on 127.0.0.1:6379")
    proc = ServerProcess(tmp_path / "data", extra_args=["--bus", redis_url()]).start()
    yield proc
    proc.stop()


def test_health_names_the_redis_bus(redis_server: ServerProcess) -> None:
    with redis_server.client() as c:
        bus = c.get("/healthz").json()["bus"]
    assert bus["backend"] == "redis" and bus["connected"] is True
    assert bus["url"] == "redis://127.0.0.1:6379/0"


def test_a_run_streams_every_record_in_order_through_redis(redis_server: ServerProcess) -> None:
    with redis_server.client() as c:
        run_id = start_run(c)
        seen: list[int] = []
        types: list[str] = []
        with connect(ws_url(redis_server, f"/api/v1/runs/{run_id}/live?since=0")) as ws:
            while not seen:  # replayed: the run's first record; from here on it is live
                seen += [m["seq"] for m in messages(ws.recv(timeout=10))]

            def produce() -> None:
                with redis_server.client() as pc:
                    for i in range(1, 201):
                        post_points(pc, run_id, i, i)
                    finish(pc, run_id, 201)

            producer = threading.Thread(target=produce)
            producer.start()
            while "run.closed" not in types:
                batch = messages(ws.recv(timeout=10))
                types += [m["type"] for m in batch]
                seen += [m["seq"] for m in batch if m["type"] != "run.closed"]
            producer.join(10)
        published = c.get("/healthz").json()["bus"]["published"]
    assert seen == list(range(1, 203))
    assert published >= 202  # the records went through Redis, not around it


def test_the_runs_list_and_commands_ride_the_redis_bus(redis_server: ServerProcess) -> None:
    with redis_server.client() as c:
        run_id = start_run(c)
        with connect(ws_url(redis_server, "/api/v1/live?project=live")) as ws:
            (snapshot,) = messages(ws.recv(timeout=10))
            assert [r["id"] for r in snapshot["runs"]] == [run_id]
            poller, result = waiting_long_poll(redis_server, run_id, wait=20)
            sent = c.post(f"/api/v1/runs/{run_id}/commands", json={"kind": "lr", "payload": {}})
            assert sent.status_code == 201, sent.text
            poller.join(15)
            assert [cmd["kind"] for cmd in result["commands"]] == ["lr"]  # type: ignore[union-attr]
            finish(c, run_id, 1)
            status = None
            while status != "succeeded":
                for m in messages(ws.recv(timeout=10)):
                    if m["type"] == "run":
                        status = m["run"]["status"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_unreachable_bus_is_one_line_from_flag_env_or_config_file(tmp_path: Path) -> None:
    url = f"redis://127.0.0.1:{_free_port()}/0"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNWATCH_")}
    args = [sys.executable, "-m", "runwatch", "serve", "--port", "0", "--data", str(tmp_path)]
    by_flag = subprocess.run([*args, "--bus", url], env=env, capture_output=True, timeout=30)
    by_env = subprocess.run(args, env={**env, "RUNWATCH_BUS": url}, capture_output=True, timeout=30)
    config = tmp_path / "runwatch.toml"
    config.write_text(f'bus = "{url}"\n')
    with_config = [*args[:3], "--config", str(config), *args[3:]]
    by_file = subprocess.run(with_config, env=env, capture_output=True, timeout=30)
    for done in (by_flag, by_env, by_file):
        assert done.returncode == 1
        err = done.stderr.decode().strip()
        assert err.startswith(f"runwatch: error: cannot reach Redis at {url}")
        assert "\n" not in err and "Traceback" not in err
