"""The managed TensorBoard process: answers on its port, and is gone after stop or shutdown."""

from __future__ import annotations

import os
from pathlib import Path

import httpx

import runwatch
from tests.servers import ServerProcess, wait_until


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:  # a zombie is gone too
        return f.read().split()[2] != "Z"


def test_tensorboard_starts_answers_and_stops(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data").start()
    try:
        run_dir = tmp_path / "run"
        run = runwatch.init(project="tb", url=server.url, run_dir=run_dir)
        run.log({"x": 1.0})
        with server.client() as c:
            wait_until(lambda: c.get(f"/api/v1/runs/{run.id}").status_code == 200, 10)
            started = c.post(f"/api/v1/runs/{run.id}/tensorboard", timeout=90).json()
            assert started["url"].startswith("http://127.0.0.1:") and started["logdir"] == str(
                run_dir.resolve()
            )
            assert httpx.get(started["url"], timeout=10).status_code == 200
            again = c.post(f"/api/v1/runs/{run.id}/tensorboard", timeout=90).json()
            assert again["pid"] == started["pid"] and again["lease_until"] >= started["lease_until"]
            assert c.delete(f"/api/v1/runs/{run.id}/tensorboard").json() == {"stopped": True}
            wait_until(lambda: not alive(started["pid"]), 15, what="TensorBoard to exit")
            second = c.post(f"/api/v1/runs/{run.id}/tensorboard", timeout=90).json()
        run.finish()
        server.stop()  # shutting the server down stops what it started
        wait_until(lambda: not alive(second["pid"]), 15, what="TensorBoard to exit with the server")
    finally:
        server.stop()
