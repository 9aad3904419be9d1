"""Two server replicas on one PostgreSQL database: a producer that loses its replica to SIGKILL
fails over to the other, and nothing acknowledged is lost or stored twice.

(Live fan-out across replicas needs the Redis bus; this is the store's half: durability and
gap-free seqs when a run's writers move between replicas.)
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from runwatch.sdk.run import Run
from runwatch.sdk.sender import SenderConfig
from tests.pg import fresh_database
from tests.servers import ServerProcess, wait_until


@pytest.fixture
def pg_url() -> Iterator[str]:
    with fresh_database() as url:
        yield url


def test_killed_replica_loses_nothing_and_seqs_stay_gap_free(pg_url: str, tmp_path: Path) -> None:
    a = ServerProcess(tmp_path / "a", extra_args=["--store", pg_url]).start()
    b = ServerProcess(tmp_path / "b", extra_args=["--store", pg_url]).start()
    try:
        spec = {"id": "failover1", "project": "replicas", "name": "failover"}
        run = Run(spec, [a.url, b.url], None, tmp_path / "run", SenderConfig(backoff_cap=0.3))
        steps = 20_000
        for step in range(steps):
            run.log({"x": float(step)}, step=step)
            if step % 2000 == 0:
                run.event("mark", entity=step)
            if step == steps // 3:
                wait_until(lambda: run._sender.acked_batches > 0, 10, what="a first ack on A")
                a.kill()
        run.finish(timeout=60)
        with b.client() as c:
            params = {"keys": "x", "max_points": steps}
            got = c.get(f"/api/v1/runs/{run.id}/metrics", params=params).json()["series"]["x"]
            info = c.get(f"/api/v1/runs/{run.id}").json()
            events = c.get(f"/api/v1/runs/{run.id}/events", params={"limit": 1000}).json()
        with b.client() as c, c.stream("GET", f"/api/v1/runs/{run.id}/stream") as stream:
            # A finished run's stream replays everything, then says run.closed and ends.
            frames = [line for line in stream.iter_lines() if line.startswith(("id:", "data:"))]
    finally:
        a.stop()
        b.stop()
    assert got["x"] == list(range(steps))  # every step exactly once
    assert got["value"] == [float(s) for s in range(steps)]
    assert info["status"] == "succeeded"
    assert [e["payload"] for e in events["events"] if e["kind"] == "mark"] == [{}] * 10
    seqs = [int(line[3:]) for line in frames if line.startswith("id:")]
    assert seqs[:-1] == list(range(1, info["seq"] + 1))  # replayed from B: gap-free, in order
    assert '"type":"run.closed"' in frames[-1]
