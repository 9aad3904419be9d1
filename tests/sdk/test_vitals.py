"""System vitals ride in batches of their own: never in the user's queue, never at the cost of a
user record."""

from __future__ import annotations

from pathlib import Path

from runwatch.sdk.run import Run
from runwatch.sdk.sender import SenderConfig
from runwatch.sdk.spool import read_batches
from tests.reliability.test_burst import stored
from tests.servers import ServerProcess, wait_until

RECORDS = 50_000


def sampled(run: Run) -> int:
    """Vitals samples in the spool (taken while nothing was sent)."""
    batches = read_batches(run.spool_path)
    return sum(1 for b in batches for p in b["points"] if "sys/cpu_percent" in p[2])


def waiting(run: Run) -> float:
    """The last vitals sample's ``sys/sdk_queue`` in the spool (0 before any)."""
    values = [
        p[2]["sys/sdk_queue"]
        for b in read_batches(run.spool_path)
        for p in b["points"]
        if "sys/sdk_queue" in p[2]
    ]
    return values[-1] if values else 0.0


def test_vitals_sampled_through_an_outage_cost_no_user_record(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data").start()
    server.stop()  # down: every batch waits, the memory cache is full, the rest on disk
    spec = {"id": "vitals01", "project": "p", "name": "v", "tags": [], "config": {}}
    config = SenderConfig(cache_bytes=20_000, vitals_interval=0.01, backoff_cap=0.3)
    run = Run(spec, [server.url], None, tmp_path / "run", config)
    try:
        for i in range(RECORDS):
            run.log({"loss": float(i)}, step=i)
        wait_until(lambda: sampled(run) >= 3, 30, what="vitals sampled during the outage")
        # sys/sdk_queue counts what waits for the server, spooled or not (the queue is empty).
        wait_until(lambda: waiting(run) >= RECORDS, 30, what="a sample counting the spooled")
        server.start()
        assert run.finish(timeout=120)
        assert stored(server, "vitals01") == RECORDS
        assert stored(server, "vitals01", "sys/cpu_percent") > 0
        assert run._sender.lost_total == 0
    finally:
        server.stop()
