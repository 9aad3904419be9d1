"""A server that is not there, goes away, or hangs: log() stays fast, memory stays capped, the
spool keeps everything, and `runwatch sync` uploads it exactly once."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from runwatch.sdk.run import Run
from runwatch.sdk.sender import SenderConfig
from runwatch.sdk.spool import read_batches
from tests.servers import ServerProcess, wait_until

RECORDS = 30_000
CACHE_BYTES = 200_000


class HangingServer:
    """Accepts connections and never answers: the worst kind of unreachable."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.held: list[socket.socket] = []
        self._stop = threading.Event()
        self.sock.settimeout(0.2)
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            self.held.append(conn)

    def close(self) -> None:
        self._stop.set()
        self.thread.join(5)
        for conn in self.held:
            conn.close()
        self.sock.close()


@pytest.fixture
def hanging() -> Iterator[HangingServer]:
    server = HangingServer()
    yield server
    server.close()


def make_run(url: str, run_dir: Path, run_id: str) -> Run:
    spec = {
        "id": run_id,
        "project": "down",
        "name": run_id,
        "group": None,
        "tags": [],
        "config": {},
    }
    return Run(spec, [url], None, run_dir, SenderConfig(cache_bytes=CACHE_BYTES, vitals_interval=0))


def log_p99_us(run: Run, start: int = 0) -> float:
    costs = []
    for step in range(start, start + RECORDS):
        began = time.perf_counter_ns()
        run.log({"a": float(step), "b": 1.0}, step=step)
        costs.append(time.perf_counter_ns() - began)
        if step % 5_000 == 0:  # let the sender keep up, as a real loop's compute would
            wait_until(lambda: len(run._queue) < 5_000, 30, what="the sender")
    costs.sort()
    return costs[int(len(costs) * 0.99)] / 1000


def spooled_steps(run: Run) -> list[int]:
    return sorted(p[0] for b in read_batches(run.spool_path) for p in b["points"])


def test_log_cost_memory_and_spool_when_the_server_hangs(
    hanging: HangingServer, server: ServerProcess, tmp_path: Path
) -> None:
    healthy = make_run(server.url, tmp_path / "up", "healthy01")
    baseline = log_p99_us(healthy)
    healthy.finish(timeout=30)

    stuck = make_run(hanging.url, tmp_path / "hung", "hanging01")
    p99 = log_p99_us(stuck)
    wait_until(lambda: not stuck._queue, 30, what="everything to reach the spool")
    # Bounded memory: what waits to be sent stays at the cap; the rest is in the spool only.
    assert stuck._sender.outbox.cached_bytes <= CACHE_BYTES
    assert spooled_steps(stuck) == list(range(RECORDS))
    assert p99 <= 10 * baseline + 20, (p99, baseline)
    started = time.monotonic()
    stuck.finish(timeout=1.0)
    assert time.monotonic() - started < 5

    # Later, with a server: sync uploads it once, and a second sync adds nothing.
    for attempt in range(2):
        done = subprocess.run(
            [sys.executable, "-m", "runwatch", "sync", str(tmp_path / "hung"), "--url", server.url],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        if attempt == 1:
            assert "nothing to send" in done.stdout
    half = RECORDS // 2
    steps: list[int] = []
    with server.client() as c:
        for lo, hi in ((0, half - 1), (half, RECORDS - 1)):
            params = {"keys": "a", "start": lo, "end": hi, "max_points": half}
            steps += c.get("/api/v1/runs/hanging01/metrics", params=params).json()["series"]["a"][
                "x"
            ]
    assert steps == list(range(RECORDS))  # every record exactly once


@pytest.mark.parametrize("how", ["never started", "stopped mid-run"])
def test_a_missing_server_costs_the_loop_nothing_and_loses_nothing(
    tmp_path: Path, how: str
) -> None:
    server = ServerProcess(tmp_path / "data").start()
    if how == "never started":
        server.stop()
    run = make_run(server.url, tmp_path / "run", "missing01")
    try:
        log_p99_us(run)
        if how == "stopped mid-run":
            server.stop()
        log_p99_us(run, start=RECORDS)
        server.start()
        run.finish(timeout=60)
        with server.client() as c:
            params = {"keys": "a", "max_points": 1}  # buckets: their counts add up to every point
            series = c.get(f"/api/v1/runs/{run.id}/metrics", params=params).json()["series"]["a"]
        assert sum(series["count"]) == 2 * RECORDS
    finally:
        server.stop()
