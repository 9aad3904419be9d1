"""The demo's synthetic run exercises every panel of the run page."""

from __future__ import annotations

from pathlib import Path

import runwatch
from runwatch.demo import produce
from tests.queue.setup import kill_launchers
from tests.servers import ServerProcess, wait_until


def test_the_synthetic_run_fills_every_panel(server: ServerProcess, tmp_path: Path) -> None:
    run = runwatch.init(project="demo", name="synthetic", url=server.url, run_dir=tmp_path)
    produce(run, steps=120, rate=400.0)
    with server.client() as c:
        state = c.get(f"/api/v1/runs/{run.id}/state").json()
        media = c.get(f"/api/v1/runs/{run.id}/media").json()["keys"]
        pictured = c.get(f"/api/v1/runs/{run.id}/entities/1/media").json()["images"]
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
    # The Media tab: an image, a heatmap and a label map of the entities, with distributions;
    # the first entity born has a picture of its own, which its drawer lists.
    kinds = {k["key"]: k["kind"] for k in media}
    assert kinds == {
        "samples/generated": "image",
        "attention/map": "heatmap",
        "segmentation/entities": "labels",
        "entities/1": "image",
    }
    assert [i["key"] for i in pictured] == ["entities/1"]
    assert set(state["histograms"]) == {"weights/layer1", "grads/layer1"}


def test_runwatch_demo_serves_rules_alerts_and_a_template_that_runs(tmp_path: Path) -> None:
    data = tmp_path / "data"
    demo = ServerProcess(data, command="demo", extra_args=["--steps", "100"])
    try:
        with demo.start().client() as c:
            names = {r["name"] for r in c.get("/api/v1/projects/demo/rules").json()["rules"]}
            assert names == {"loss diverged", "slow steps"}
            # The seeded "lr-too-high" run diverges after the rules exist: one alert fires.
            wait_until(
                lambda: any(
                    a["rule_name"] == "loss diverged"
                    for a in c.get("/api/v1/projects/demo/alerts").json()["alerts"]
                ),
                60,
                what="the divergence alert",
            )
            # The seeded runs have images too: the compare page shows them beside the live run's.
            baseline = c.get("/api/v1/runs", params={"q": 'name == "baseline"'}).json()["runs"]
            media = c.get(f"/api/v1/runs/{baseline[0]['id']}/media").json()["keys"]
            assert {k["key"]: k["count"] for k in media} == {
                "attention/map": 4,
                "samples/generated": 4,
            }
            templates = c.get("/api/v1/templates").json()["templates"]
            assert [t["name"] for t in templates] == ["synthetic"]
            params = {"steps": 40, "seed": 3}
            r = c.post("/api/v1/templates/synthetic/runs", json={"params": params})
            assert r.status_code == 201, r.text
            run_id = r.json()["id"]

            def finished() -> dict | None:
                run = c.get(f"/api/v1/runs/{run_id}").json()
                return run if run["status"] not in ("queued", "running") else None

            run = wait_until(finished, 120, what="the template's run to end")
            assert run["status"] == "succeeded", run
            series = c.get(f"/api/v1/runs/{run_id}/metrics", params={"keys": "train/loss"})
            assert series.json()["series"]["train/loss"]["x"] == list(range(40))
    finally:
        demo.stop()
        kill_launchers(data)
