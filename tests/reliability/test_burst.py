"""Nothing logged is lost: a loop that logs faster than the server ingests, a server that comes
up mid-loop, a producer killed mid-burst, a finish() whose wait ends first."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import runwatch
from runwatch.sdk.spool import read_batches
from tests.servers import ServerProcess, wait_until

BURST = 2_000_000


def stored(server: ServerProcess, run_id: str, key: str = "loss") -> int:
    """How many points of ``key`` the server holds (bucket counts add up to every point)."""
    with server.client() as c:
        reply = c.get(f"/api/v1/runs/{run_id}/metrics", params={"keys": key, "max_points": 1})
    series = reply.json()["series"] if reply.status_code == 200 else {}
    if key not in series:
        return 0
    return sum(series[key]["count"]) if "count" in series[key] else len(series[key]["x"])


def status(server: ServerProcess, run_id: str) -> str:
    with server.client() as c:
        reply = c.get(f"/api/v1/runs/{run_id}")
    return str(reply.json()["status"]) if reply.status_code == 200 else "absent"


def sync(run_dir: Path, url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "runwatch", "sync", str(run_dir), "--url", url],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip


@pytest.mark.parametrize("server_at_start", [True, False], ids=["server up", "server down"])
def test_a_tight_loop_faster_than_ingest_is_stored_whole(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], server_at_start: bool
) -> None:
    server = ServerProcess(tmp_path / "data").start()
    if not server_at_start:
        server.stop()  # the port is known; nothing listens on it until half-way
    try:
        run = runwatch.init(project="p", name="burst", url=server.url, run_dir=tmp_path / "run")
        for i in range(BURST):
            if i == BURST // 2 and not server_at_start:
                server.start()
            run.log({"loss": math.sin(i / 5000)}, step=i)
        assert run.finish()
        assert stored(server, run.id) == BURST  # every point, once
        assert status(server, run.id) == "succeeded"
        err = capfd.readouterr().err
        assert "409" not in err and "refused" not in err, err
    finally:
        server.stop()


def test_a_finish_that_times_out_leaves_the_run_open_until_sync_delivers_the_rest(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    server = ServerProcess(tmp_path / "data").start()
    try:
        run = runwatch.init(project="p", url=server.url, run_dir=tmp_path / "run")
        run.log({"loss": 0.0}, step=0)
        wait_until(lambda: stored(server, run.id) == 1, 30, what="the first point")
        server.stop()
        for i in range(1, 50_000):
            run.log({"loss": float(i)}, step=i)
        assert not run.finish(timeout=1.0)
        assert "runwatch sync" in capfd.readouterr().err
        server.start()
        assert status(server, run.id) == "running" and stored(server, run.id) == 1
        first = sync(tmp_path / "run", server.url)
        assert first.returncode == 0, first.stderr
        assert stored(server, run.id) == 50_000 and status(server, run.id) == "succeeded"
        again = sync(tmp_path / "run", server.url)
        assert again.returncode == 0 and "nothing to send" in again.stdout, again.stdout
    finally:
        server.stop()


def test_a_producer_killed_mid_burst_has_every_spooled_record_synced_once(
    tmp_path: Path,
) -> None:
    server = ServerProcess(tmp_path / "data").start()
    script = tmp_path / "producer.py"
    script.write_text(
        textwrap.dedent(f"""
            import runwatch
            run = runwatch.init(project="p", run_id="killed01", url={server.url!r},
                                run_dir={str(tmp_path / "run")!r})
            i = 0
            while True:
                run.log({{"loss": float(i)}}, step=i)
                i += 1
        """)
    )
    producer = subprocess.Popen([sys.executable, str(script)], stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: stored(server, "killed01") >= 100_000, 60, what="a burst under way")
        os.kill(producer.pid, signal.SIGKILL)
        producer.wait(10)
        (spool,) = (tmp_path / "run").glob("spool-*.jsonl")
        steps = [p[0] for b in read_batches(spool) for p in b["points"] if "loss" in p[2]]
        spooled = set(steps)
        assert len(spooled) == len(steps)
        done = sync(tmp_path / "run", server.url)
        assert done.returncode == 0, done.stderr
        assert stored(server, "killed01") == len(spooled)
        again = sync(tmp_path / "run", server.url)
        assert again.returncode == 0 and "nothing to send" in again.stdout, again.stdout
        assert stored(server, "killed01") == len(spooled)
    finally:
        if producer.poll() is None:
            producer.kill()
            producer.wait(10)
        server.stop()
