"""Resuming a run and creating one late: a producer attaching to a run that has steps goes on
after them, and a run created from a spool (`runwatch sync`) keeps its producer's times.
Real servers on SQLite and PostgreSQL, real producer processes and CLI."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

import runwatch
from runwatch.sdk.run import Run
from tests.servers import ServerProcess, sync_cli

RUN_ID = "resume01"
PRODUCER = textwrap.dedent("""
    import sys
    import runwatch

    url, run_dir, *steps = sys.argv[1:]
    run = runwatch.init(project="resume", run_id="resume01", url=url, run_dir=run_dir)
    for step in steps:  # "-": no step given
        run.log({"x": 1.0}, step=None if step == "-" else int(step))
    run.finish(send_status=False)  # delivered, but no final status: the run can be resumed
""")


def get(server: ServerProcess, path: str, **params: Any) -> Any:
    with server.client() as c:
        reply = c.get(path, params=params)
    assert reply.status_code == 200, reply.text
    return reply.json()


def raw_steps(server: ServerProcess, run_id: str, key: str = "x") -> list[int]:
    return [p[0] for p in get(server, f"/api/v1/runs/{run_id}/raw/{key}")["points"]]


def produce(server: ServerProcess, run_dir: Path, *steps: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", PRODUCER, server.url, str(run_dir), *steps],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr


def test_a_resumed_run_goes_on_after_its_last_step(store_args: list[str], tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", extra_args=store_args).start()
    try:
        produce(server, tmp_path / "first", *"-----")
        assert raw_steps(server, RUN_ID) == [0, 1, 2, 3, 4]
        produce(server, tmp_path / "again", *"-----")  # the same run again, no steps given
        assert raw_steps(server, RUN_ID) == list(range(10))
        produce(server, tmp_path / "explicit", "20", "-")  # a step given still wins
        assert raw_steps(server, RUN_ID) == [*range(10), 20, 21]
        produce(server, tmp_path / "after", "-")
        assert raw_steps(server, RUN_ID)[-1] == 22
    finally:
        server.stop()


def test_a_resume_the_server_answers_late_starts_at_0_and_says_so(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    server = ServerProcess(tmp_path / "data").start()
    try:
        produce(server, tmp_path / "first", *"---")
        server.stop()
        run = runwatch.init(project="resume", run_id=RUN_ID, url=server.url, run_dir=tmp_path / "b")
        run.log({"x": 2.0})  # the server is down: init could not learn the run's steps
        server.start()
        assert run.finish(timeout=30)
        assert raw_steps(server, RUN_ID) == [0, 1, 2, 0]
        assert f"run {RUN_ID} already had steps up to 2" in capfd.readouterr().err
    finally:
        server.stop()


def test_a_run_logged_offline_keeps_its_times_once_synced(
    store_args: list[str], tmp_path: Path
) -> None:
    server = ServerProcess(tmp_path / "data", extra_args=store_args).start()
    server.stop()  # its port is known, and nothing listens on it
    before = time.time()
    run = runwatch.init(project="offline", url=server.url, run_dir=tmp_path / "run")
    started = time.time()
    for i in range(10_000):
        run.log({"x": float(i)})
    run.event("epoch", n=1)
    finishing = time.time()
    assert not run.finish(timeout=2)
    server.start()
    try:
        synced = sync_cli(tmp_path / "run", server.url)
        assert synced.returncode == 0, synced.stderr
        info = get(server, f"/api/v1/runs/{run.id}")
        events = get(server, f"/api/v1/runs/{run.id}/events", limit=100)["events"]
        first_ts = get(server, f"/api/v1/runs/{run.id}/raw/x", limit=1)["points"][0][1]
    finally:
        server.stop()
    assert info["status"] == "succeeded"
    assert before <= info["created_at"] == info["started_at"] <= started <= first_ts
    assert info["ended_at"] - info["started_at"] >= finishing - started  # its duration
    status = [(e["payload"]["state"], e["ts"]) for e in events if e["kind"] == "status"]
    assert status == [("running", info["started_at"]), ("succeeded", info["ended_at"])]
    assert all(e["ts"] >= info["started_at"] for e in events)


def test_a_producer_clock_ahead_of_the_server_gets_the_server_time(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    server = ServerProcess(tmp_path / "data").start()
    try:
        ahead = time.time() + 3600
        spec = {"id": "aheadrun", "project": "skew", "config": {}, "started_at": ahead}
        run = Run(spec, [server.url], None, tmp_path / "live")
        run.log({"x": 1.0})
        assert run.finish(timeout=30)
        live = get(server, "/api/v1/runs/aheadrun")
        assert live["started_at"] < ahead - 3000
        assert "ahead of the server's clock" in capfd.readouterr().err
        # A spool written on that machine syncs too, at the server's time.
        offline = runwatch.init(project="skew", url="http://127.0.0.1:9", run_dir=tmp_path / "s")
        offline.log({"x": 1.0})
        offline.finish(timeout=1)
        header, rest = offline.spool_path.read_text().split("\n", 1)
        fields = json.loads(header)
        fields["run"]["started_at"] = ahead
        offline.spool_path.write_text(json.dumps(fields) + "\n" + rest)
        synced = sync_cli(tmp_path / "s", server.url)
        assert synced.returncode == 0, synced.stderr
        assert get(server, f"/api/v1/runs/{offline.id}")["started_at"] < ahead - 3000
    finally:
        server.stop()
