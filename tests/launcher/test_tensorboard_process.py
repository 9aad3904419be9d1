"""The managed TensorBoard process over a launched run's directory: answers on its port, and is
gone after stop or shutdown."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from tests.servers import ServerProcess, wait_until


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:  # a zombie is gone too
        return f.read().split()[2] != "Z"


def registered(answer: httpx.Response) -> dict[str, Any] | None:
    if answer.status_code == 404 and answer.json()["error"]["code"] == "no_run_dir":
        return None
    assert answer.status_code == 200, answer.text
    started: dict[str, Any] = answer.json()
    return started


def launch_idle_worker(server: ServerProcess, run_dir: Path) -> subprocess.Popen[bytes]:
    """``runwatch launch`` of a worker that waits for its cancel (the launcher registers the
    run dir with the server on this machine)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNWATCH_")}
    env["RUNWATCH_URL"] = server.url
    worker = [sys.executable, "-c", "import signal; signal.pause()"]
    args = [sys.executable, "-m", "runwatch", "launch", "--project", "tb",
            "--run-dir", str(run_dir), "--", *worker]  # fmt: skip
    return subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_tensorboard_starts_answers_and_stops(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data").start()
    run_dir = tmp_path / "run"
    launcher = launch_idle_worker(server, run_dir)
    try:
        with server.client() as c:
            runs = wait_until(
                lambda: c.get("/api/v1/runs", params={"project": "tb"}).json()["runs"],
                30,
                what="the launched run",
            )
            run_id = runs[0]["id"]
            started = wait_until(  # 404 until the launcher has registered the run dir
                lambda: registered(c.post(f"/api/v1/runs/{run_id}/tensorboard", timeout=90)),
                90,
                what="TensorBoard over the launched run's dir",
            )
            assert started["url"].startswith("http://127.0.0.1:") and started["logdir"] == str(
                run_dir.resolve()
            )
            assert httpx.get(started["url"], timeout=10).status_code == 200
            again = c.post(f"/api/v1/runs/{run_id}/tensorboard", timeout=90).json()
            assert again["pid"] == started["pid"] and again["lease_until"] >= started["lease_until"]
            assert c.delete(f"/api/v1/runs/{run_id}/tensorboard").json() == {"stopped": True}
            wait_until(lambda: not alive(started["pid"]), 15, what="TensorBoard to exit")
            second = c.post(f"/api/v1/runs/{run_id}/tensorboard", timeout=90).json()
            assert c.post(f"/api/v1/runs/{run_id}/commands", json={"kind": "cancel"}).is_success
            assert launcher.wait(60) != 0  # cancelled
        server.stop()  # shutting the server down stops what it started
        wait_until(lambda: not alive(second["pid"]), 15, what="TensorBoard to exit with the server")
    finally:
        if launcher.poll() is None:
            launcher.kill()
            launcher.wait(10)
        server.stop()
