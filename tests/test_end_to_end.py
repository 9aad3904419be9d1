"""SDK → real server → SQLite → API, at volume and across a server crash."""

from __future__ import annotations

import threading
from pathlib import Path

import runwatch
from runwatch.sdk.run import Run
from runwatch.sdk.sender import SenderConfig
from tests.servers import ServerProcess, wait_until

KEYS = ["loss", "acc", "lr", "grad_norm", "throughput"]


def expected(key_index: int, step: int) -> float:
    return step * 0.001 + key_index + 1 / (step + 1)


def read_all(server: ServerProcess, run_id: str) -> dict[str, dict[str, list]]:
    with server.client() as c:
        params = {"keys": ",".join(KEYS), "max_points": 20_000, "start": 0, "end": 19_999}
        return c.get(f"/api/v1/runs/{run_id}/metrics", params=params, timeout=60).json()["series"]


def test_100k_points_across_5_keys_read_back_exactly(server: ServerProcess, tmp_path: Path) -> None:
    steps = 20_000
    with runwatch.init(project="e2e", name="volume", url=server.url, run_dir=tmp_path) as run:
        for step in range(steps):
            run.log({k: expected(i, step) for i, k in enumerate(KEYS)}, step=step)
    series = read_all(server, run.id)
    for i, key in enumerate(KEYS):
        assert series[key]["mode"] == "raw"
        assert series[key]["x"] == list(range(steps))
        assert series[key]["value"] == [expected(i, s) for s in range(steps)]
    with server.client() as c:
        info = c.get(f"/api/v1/runs/{run.id}").json()
    assert info["status"] == "succeeded"


def test_server_killed_mid_run_loses_nothing(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data").start()
    spec = {
        "id": "crash001",
        "project": "e2e",
        "name": "crash",
        "group": None,
        "tags": [],
        "config": {},
    }
    run = Run(spec, [server.url], None, tmp_path / "run", SenderConfig(backoff_cap=0.3))
    steps = 20_000
    killed = threading.Event()
    try:
        for step in range(steps):
            run.log({"x": float(step)}, step=step)
            if step == steps // 3:
                wait_until(
                    lambda: run._sender.acked_batches > 0, 10, what="a first acknowledged batch"
                )
                server.kill()
                killed.set()
            if step == 2 * steps // 3:
                server.start()  # same port, same data dir
        run.finish(timeout=60)
        assert killed.is_set()
        with server.client() as c:
            params = {"keys": "x", "max_points": 20_000}
            got = c.get(f"/api/v1/runs/{run.id}/metrics", params=params).json()["series"]["x"]
            info = c.get(f"/api/v1/runs/{run.id}").json()
        assert got["x"] == list(range(steps))  # every step exactly once
        assert got["value"] == [float(s) for s in range(steps)]
        assert info["status"] == "succeeded"
    finally:
        server.stop()
