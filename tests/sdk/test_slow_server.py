"""A paced producer against a server slower than the flush interval: batches grow with the
server's latency (one request takes all that came while the last was out) instead of queuing
a small request each, so the run stays live and finish() has little left to send."""

from __future__ import annotations

import time
from pathlib import Path

import runwatch
from tests.proxy import RecordingProxy
from tests.reliability.test_burst import stored
from tests.servers import ServerProcess

LATENCY = 0.2  # seconds the proxy adds to each batch: four flush intervals
SECONDS = 3.0


def slow_batches(method: str, path: str) -> None:
    if method == "POST" and path.endswith("/batches"):
        time.sleep(LATENCY)  # the server's latency, not a wait for anything


def test_batches_grow_with_a_slow_servers_latency(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data").start()
    try:
        with RecordingProxy(server.url, before=slow_batches) as proxy:
            run = runwatch.init(project="p", url=proxy.url, run_dir=tmp_path / "run")
            started = time.monotonic()
            step = 0
            while time.monotonic() - started < SECONDS:  # about 100 rows a second
                run.log({f"k{i}": float(step + i) for i in range(40)}, step=step)
                step += 1
                time.sleep(0.01)  # the training step
            looped = time.monotonic() - started
            assert run.finish(timeout=60)
            posts = [e for e in proxy.exchanges if e.path.endswith("/batches")]
        assert stored(server, run.id, "k0") == step
        # One request a round trip (and one for the final status), not one a flush interval.
        assert len(posts) <= looped / LATENCY + 5, (len(posts), looped)
    finally:
        server.stop()
