"""The server SIGKILLed at random moments under heavy ingest from several producers."""

from __future__ import annotations

import random
import sqlite3
import threading
from pathlib import Path

from runwatch.sdk.run import Run
from runwatch.sdk.sender import SenderConfig
from tests.servers import ServerProcess, wait_until

PRODUCERS = 3
STEPS = 8_000
KILLS = 3


def producer(run: Run, done: threading.Event) -> None:
    for step in range(STEPS):
        run.log({"loss": 1.0 / (step + 1), "acc": step / STEPS, "lr": 1e-3}, step=step)
        if step % 500 == 0:
            run.event("checkpoint", entity=step // 500, step=step)
            run.table("leaderboard", [{"step": step, "loss": 1.0 / (step + 1)}])
        if step % 50 == 0:
            # A training step takes time; this keeps ingest running across the kills below.
            done.wait(0.02)
    done.set()


def test_sigkill_during_heavy_ingest_loses_nothing_and_duplicates_nothing(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data").start()
    config = SenderConfig(backoff_cap=0.3, vitals_interval=0)
    runs = []
    for i in range(PRODUCERS):
        spec = {
            "id": f"crash{i:04d}",
            "project": "crash",
            "name": f"p{i}",
            "group": None,
            "tags": [],
            "config": {},
        }
        runs.append(Run(spec, [server.url], None, tmp_path / f"run{i}", config))
    finished = [threading.Event() for _ in runs]
    threads = [
        threading.Thread(target=producer, args=(run, done))
        for run, done in zip(runs, finished, strict=True)
    ]
    rng = random.Random(11)
    try:
        for t in threads:
            t.start()
        for _ in range(KILLS):
            wait_until(
                lambda: any(r._sender.acked_batches for r in runs), 20, what="acknowledged batches"
            )
            threading.Event().wait(rng.uniform(0.05, 0.4))  # a random moment, not synchronisation
            server.kill()
            server.start()
        for t in threads:
            t.join(120)
        for run in runs:
            run.finish(timeout=60)
        conn = sqlite3.connect(tmp_path / "data" / "runwatch.sqlite3")
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        conn.close()
        with server.client() as c:
            for run in runs:
                info = c.get(f"/api/v1/runs/{run.id}").json()
                assert info["status"] == "succeeded"
                for key in ("loss", "acc", "lr"):
                    steps = []
                    for lo, hi in ((0, STEPS // 2 - 1), (STEPS // 2, STEPS - 1)):
                        params = {"keys": key, "start": lo, "end": hi, "max_points": STEPS}
                        steps += c.get(f"/api/v1/runs/{run.id}/metrics", params=params).json()[
                            "series"
                        ][key]["x"]
                    assert steps == list(range(STEPS)), key  # each point exactly once
                events = c.get(
                    f"/api/v1/runs/{run.id}/events", params={"kind": "checkpoint", "limit": 1000}
                ).json()
                assert [e["entity"] for e in events["events"]] == list(range(STEPS // 500))
                board = c.get(f"/api/v1/runs/{run.id}/tables/leaderboard").json()
                assert board["rows"] == [{"step": 7500, "loss": 1.0 / 7501}]
    finally:
        server.stop()
