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
        server.start()
        assert run.finish(timeout=120)
        assert stored(server, "vitals01") == RECORDS
        assert stored(server, "vitals01", "sys/cpu_percent") > 0
        assert run._sender.lost_total == 0
    finally:
        server.stop()
