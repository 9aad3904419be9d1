"""The demo's synthetic run exercises every panel of the run page."""

from __future__ import annotations

from pathlib import Path

import runwatch
from runwatch.demo import produce
from tests.servers import ServerProcess


def test_the_synthetic_run_fills_every_panel(server: ServerProcess, tmp_path: Path) -> None:
    run = runwatch.init(project="demo", name="synthetic", url=server.url, run_dir=tmp_path)
    produce(run, steps=120, rate=400.0)
    with server.client() as c:
        state = c.get(f"/api/v1/runs/{run.id}/state").json()
    assert state["run"]["status"] == "succeeded"
    assert {"train/loss", "train/acc", "train/lr", "perf/throughput"} <= set(state["metrics"])
    assert state["run"]["vitals"] == ["perf/throughput"]
    assert (
        state["tables"]["leaderboard"]["rows"]
        and len(state["point_sets"]["embedding"]["points"]) == 600
    )
    assert state["snapshots"]["footprint"] >= 1
    kinds = {e["kind"] for e in state["events"]}
    assert "birth" in kinds and "status" in kinds
