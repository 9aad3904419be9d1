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
REPO = Path(__file__).resolve().parents[2]


def stored(server: ServerProcess, run_id: str, key: str = "loss") -> int:
    """How many points of ``key`` the server holds: bucket counts by time add up to every point
    (by step, a step logged again counts once, and a point delivered twice would hide)."""
    with server.client() as c:
        params = {"key": key, "max_points": 1, "x": "time"}
        reply = c.get(f"/api/v1/runs/{run_id}/metrics", params=params)
    series = reply.json()["series"] if reply.status_code == 200 else {}
    if key not in series:
        return 0
    return sum(series[key]["count"]) if "count" in series[key] else len(series[key]["x"])


def status(server: ServerProcess, run_id: str) -> str:
    with server.client() as c:
        reply = c.get(f"/api/v1/runs/{run_id}")
    return str(reply.json()["status"]) if reply.status_code == 200 else "absent"


def with_repo_on_path() -> dict[str, str]:
    """The environment for a producer script that imports ``tests.servers``."""
    path = [p for p in (os.environ.get("PYTHONPATH"), str(REPO)) if p]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(path)}


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
        # The spool holds every step from some step on, in order, once (the delivered ones
        # before it may have been cut away: Outbox.compact); with none, all were delivered.
        assert not steps or steps == list(range(steps[0], steps[-1] + 1))
        last = steps[-1] + 1 if steps else stored(server, "killed01")
        done = sync(tmp_path / "run", server.url)
        assert done.returncode == 0, done.stderr
        assert stored(server, "killed01") == last
        again = sync(tmp_path / "run", server.url)
        assert again.returncode == 0 and "nothing to send" in again.stdout, again.stdout
        assert stored(server, "killed01") == last
    finally:
        if producer.poll() is None:
            producer.kill()
            producer.wait(10)
        server.stop()


def test_records_are_lost_only_when_the_disk_refuses_and_the_loss_is_reported(
    tmp_path: Path,
) -> None:
    server = ServerProcess(tmp_path / "data").start()
    server.stop()  # down while the spool fills: the memory cache fills too
    script = tmp_path / "producer.py"
    script.write_text(
        textwrap.dedent(f"""
            import resource, signal, sys
            from pathlib import Path
            from runwatch.sdk.run import Run
            from runwatch.sdk.sender import SenderConfig
            from tests.servers import wait_until
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a full disk: writes fail with EFBIG
            resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))
            spec = {{"id": "full01", "project": "p", "name": "full", "tags": [], "config": {{}}}}
            config = SenderConfig(cache_bytes=50_000, vitals_interval=0, backoff_cap=0.3)
            run = Run(spec, [{server.url!r}], None, Path({str(tmp_path / "run")!r}), config)
            for i in range(20_000):
                run.log({{"loss": float(i)}}, step=i)
            wait_until(lambda: not run._queue, 30, what="the sender")
            print("logged", flush=True)
            sys.stdin.readline()
            print("delivered" if run.finish(timeout=60) else "undelivered", flush=True)
        """)
    )
    producer = subprocess.Popen(
        [sys.executable, str(script)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, env=with_repo_on_path(),
    )  # fmt: skip
    try:
        assert producer.stdout is not None and producer.stdout.readline() == "logged\n"
        server.start()
        out, err = producer.communicate("go\n", timeout=120)
        assert out == "undelivered\n", err  # finish() says records were lost on the way
        with server.client() as c:
            reports = c.get("/api/v1/runs/full01/events", params={"kind": "sdk.lost"}).json()
            counted = c.get("/api/v1/runs/full01").json()["lost"]
        lost = sum(e["payload"]["lost"] for e in reports["events"])
        assert counted == lost  # the run says its loss beside its status
        assert lost > 0 and all(e["level"] == "error" for e in reports["events"])
        assert f"{lost:,} records of run full01 were lost" in err, err
        assert stored(server, "full01") == 20_000 - lost
        assert status(server, "full01") == "succeeded"
    finally:
        if producer.poll() is None:
            producer.kill()
            producer.communicate()
        server.stop()
