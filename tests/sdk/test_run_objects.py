"""Tables, point sets, snapshot history, vitals and entity histories, from SDK to API."""

from __future__ import annotations

from pathlib import Path

import pytest

import runwatch
from runwatch.sdk.run import Run
from runwatch.sdk.sender import SenderConfig
from tests.servers import ServerProcess, wait_until


def test_snapshot_history_keeps_log_spaced_and_changed_versions(
    server: ServerProcess, tmp_path: Path
) -> None:
    with runwatch.init(project="obj", url=server.url, run_dir=tmp_path) as run:
        for step in range(200):
            run.log({"x": 1.0}, step=step)
            footprint = [1.0, 2.0, 3.0] if step < 50 else [1.0, 2.0, 9.0]
            run.snapshot("neuron/7", footprint)
            run.snapshot("label", "stable")
    with server.client() as c:
        history = c.get(f"/api/v1/runs/{run.id}/snapshots/neuron/7").json()
        steps = [(v["step"], v["reason"]) for v in history["versions"]]
        assert steps == [(0, "first"), (1, "age"), (2, "age"), (4, "age"), (8, "age"), (16, "age"),
                         (32, "age"), (50, "change"), (64, "age"), (128, "age")]  # fmt: skip
        assert history["current"]["value"] == [1.0, 2.0, 9.0]
        first = c.get(f"/api/v1/runs/{run.id}/snapshots/neuron/7", params={"at": 1}).json()
        assert first["current"] == {
            "version": 1,
            "step": 0,
            "ts": first["current"]["ts"],
            "reason": "first",
            "value": [1.0, 2.0, 3.0],
        }
        labels = c.get(f"/api/v1/runs/{run.id}/snapshots/label").json()["versions"]
        assert all(v["reason"] in ("first", "age") for v in labels)
        assert c.get(f"/api/v1/runs/{run.id}/snapshots/nope").status_code == 404


def test_snapshot_history_stays_bounded(server: ServerProcess, tmp_path: Path) -> None:
    with runwatch.init(project="obj", url=server.url, run_dir=tmp_path) as run:
        for step in range(300):
            run.log({"x": 1.0}, step=step)
            run.snapshot("hist", [float(step % 2), float((step + 1) % 2)])  # changes every step
    with server.client() as c:
        versions = c.get(f"/api/v1/runs/{run.id}/snapshots/hist").json()["versions"]
    assert len(versions) == 64
    assert versions[0]["reason"] == "first" and versions[-1]["step"] == 299
    assert {v["step"] for v in versions} >= {0, 1, 2, 4, 8, 16, 32, 64, 128, 256}


def test_tables_replace_and_append_bounded(server: ServerProcess, tmp_path: Path) -> None:
    with runwatch.init(project="obj", url=server.url, run_dir=tmp_path) as run:
        run.table("leaderboard", [{"model": "a", "score": 0.5}])
        run.table("leaderboard", [{"model": "b", "score": 0.9}, {"model": "a", "score": 0.5}])
        for i in range(30):
            run.table("trials", [{"trial": i}], mode="append", max_rows=10)
    with server.client() as c:
        board = c.get(f"/api/v1/runs/{run.id}/tables/leaderboard").json()
        assert board["version"] == 2 and [r["model"] for r in board["rows"]] == ["b", "a"]
        trials = c.get(f"/api/v1/runs/{run.id}/tables/trials").json()["rows"]
        assert [r["trial"] for r in trials] == list(range(20, 30))
        assert c.get(f"/api/v1/runs/{run.id}/tables/none").status_code == 404


def test_republished_point_sets_stay_at_the_cap(server: ServerProcess, tmp_path: Path) -> None:
    cycle = [
        {"x": float(i), "y": float(i % 13), "cluster": i % 5, "label": f"p{i}"} for i in range(600)
    ]
    with runwatch.init(project="obj", url=server.url, run_dir=tmp_path) as run:
        for _ in range(200):  # the leak scenario: the same points again and again, appended
            run.points("embedding", cycle, replace=False)
        run.log({"x": 1.0})
    with server.client() as c:
        stored = c.get(f"/api/v1/runs/{run.id}/points/embedding").json()
        assert len(stored["points"]) == 4000 and stored["version"] == 200
    with runwatch.init(project="obj", url=server.url, run_dir=tmp_path / "again") as run2:
        run2.points("embedding", cycle, replace=False)
        run2.points("embedding", cycle, replace=True)
    with server.client() as c:
        assert len(c.get(f"/api/v1/runs/{run2.id}/points/embedding").json()["points"]) == 600


def test_entity_history_and_the_hydration_state(server: ServerProcess, tmp_path: Path) -> None:
    spec = {
        "id": "objstate1",
        "project": "obj",
        "name": "s",
        "group": None,
        "tags": [],
        "config": {},
    }
    run = Run(spec, [server.url], None, tmp_path, SenderConfig(vitals_interval=0.05))
    for step in range(20):
        run.log({"loss": 1.0 / (step + 1)}, step=step)
        run.log({"gpu_temp": 60.0 + step}, step=step, vital=True)
        run.event(
            "birth" if step == 0 else "merge", entity=47 if step % 2 == 0 else "n-3", size=step
        )
    run.table("leaderboard", [{"model": "a"}])
    run.points("embedding", [{"x": 1.0, "y": 2.0}])
    run.snapshot("footprint", [1.0, 2.0])
    with server.client() as c:

        def sys_vitals() -> bool:
            run.log({"tick": 1.0})
            return any(
                k.startswith("sys/") for k in c.get(f"/api/v1/runs/{run.id}/state").json()["vitals"]
            )

        wait_until(sys_vitals, 15, what="system vitals")
        run.finish()
        events = c.get(f"/api/v1/runs/{run.id}/entities/47/events").json()["events"]
        assert [e["payload"]["size"] for e in events] == list(range(0, 20, 2))
        named = c.get(f"/api/v1/runs/{run.id}/entities/n-3/events").json()["events"]
        assert len(named) == 10 and all(e["entity"] == "n-3" for e in named)
        state = c.get(f"/api/v1/runs/{run.id}/state").json()
    assert state["run"]["vitals"] == ["gpu_temp"]
    assert state["vitals"]["gpu_temp"]["x"][-1] == 19 and "sys/cpu_percent" in state["vitals"]
    assert state["tables"]["leaderboard"]["rows"] == [{"model": "a"}]
    assert state["point_sets"]["embedding"]["points"] == [{"x": 1.0, "y": 2.0}]
    assert state["snapshots"] == {"footprint": 1}


def test_entity_ids_with_slashes_and_new_vitals_arrive_live(
    server: ServerProcess, tmp_path: Path
) -> None:
    import json

    from websockets.sync.client import connect

    with runwatch.init(project="obj", url=server.url, run_dir=tmp_path) as run:
        run.event("birth", entity="layer/3/neuron/7", size=1)
        run.log({"x": 1.0})
        with server.client() as c:
            wait_until(lambda: c.get(f"/api/v1/runs/{run.id}/events").json()["events"][1:], 10)
            seq = c.get(f"/api/v1/runs/{run.id}").json()["seq"]
            events = c.get(f"/api/v1/runs/{run.id}/entities/layer/3/neuron/7/events").json()[
                "events"
            ]
            assert [e["entity"] for e in events] == ["layer/3/neuron/7"]
        with connect(
            server.url.replace("http://", "ws://") + f"/api/v1/runs/{run.id}/live?since={seq}"
        ) as ws:
            run.log({"temp": 50.0}, vital=True)
            seen: list[dict] = []
            while not any(m["type"] == "vitals" for m in seen):
                frame = json.loads(ws.recv(timeout=10))
                seen += frame if isinstance(frame, list) else [frame]
    assert next(m for m in seen if m["type"] == "vitals")["keys"] == ["temp"]


def test_config_changes_after_init_reach_the_run_and_an_oversized_one_loses_nothing_else(
    server: ServerProcess, tmp_path: Path
) -> None:
    with runwatch.init(
        project="obj", url=server.url, run_dir=tmp_path, config={"lr": 0.1, "opt": "sgd"}
    ) as run:
        run.log({"x": 1.0}, step=0)
        run.update_config({"lr": 0.01, "batch": 32})
        run.update_config({"layers": [64, 64]})
        run.log({"x": 2.0}, step=1)
        run.update_config({"blob": "x" * 40_000})  # each change fits; together they do not
        run.update_config({"blob2": "y" * 40_000})
        run.log({"x": 3.0}, step=2)
    with server.client() as c:
        info = c.get(f"/api/v1/runs/{run.id}").json()
        events = c.get(f"/api/v1/runs/{run.id}/events").json()["events"]
        series = c.get(f"/api/v1/runs/{run.id}/metrics", params={"keys": "x"}).json()
    config = info["config"]
    assert {k: config[k] for k in ("lr", "opt", "batch", "layers")} == {
        "lr": 0.01, "opt": "sgd", "batch": 32, "layers": [64, 64],
    }  # fmt: skip
    assert not ("blob" in config and "blob2" in config)
    refused = [e for e in events if e["kind"] == "config.refused"]
    assert len(refused) == 1 and "max_config_bytes" in refused[0]["payload"]["error"]
    assert series["series"]["x"]["value"] == [1.0, 2.0, 3.0]
    assert info["status"] == "succeeded"


def test_an_event_naming_several_entities_is_in_each_ones_history(
    server: ServerProcess, tmp_path: Path
) -> None:
    with runwatch.init(project="obj", url=server.url, run_dir=tmp_path) as run:
        run.event("merge", entity=[5, 6], into=5)
        run.event("split", entities=(6, "n-7"))
        run.event("birth", entity=8)
        run.event("crowd", entities=list(range(70)))  # past the 64 cap: the first 64 kept
    with server.client() as c:

        def history(entity: str) -> list[tuple[str, object]]:
            events = c.get(f"/api/v1/runs/{run.id}/entities/{entity}/events").json()["events"]
            return [(e["kind"], e.get("entities", e["entity"])) for e in events]

        assert history("5") == [("merge", [5, 6]), ("crowd", list(range(64)))]
        assert history("6") == [
            ("merge", [5, 6]),
            ("split", [6, "n-7"]),
            ("crowd", list(range(64))),
        ]
        assert history("n-7") == [("split", [6, "n-7"])]
        assert history("8") == [("birth", 8), ("crowd", list(range(64)))]
        assert history("64") == []


def test_an_artifact_entry_that_is_not_an_object_costs_only_itself(
    server: ServerProcess, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = {"id": "artshape", "project": "p", "name": "a", "tags": [], "config": {}}
    run = Run(spec, [server.url], None, tmp_path, SenderConfig(vitals_interval=0))
    report = {"path": "report.html", "kind": "report"}
    model = {"path": "<b>x</b>", "kind": "model", "size": 5}
    run.event("checkpoint", path="ckpt/1.pt")
    run.artifacts([report, "notes.txt", 3, None, ["a"], model])
    run.artifacts([report, "notes.txt"])
    run.write_log("stdout", "same batch")
    assert run.finish(timeout=60)  # nothing was refused: nothing lost
    with server.client() as c:
        listed = c.get(f"/api/v1/runs/{run.id}/artifacts").json()["artifacts"]
        events = c.get(f"/api/v1/runs/{run.id}/events", params={"kind": "checkpoint"}).json()
        lines = c.get(f"/api/v1/runs/{run.id}/logs").json()["lines"]
    assert listed == [report]  # the last manifest wins, without its string
    assert len(events["events"]) == 1 and [line["text"] for line in lines] == ["same batch"]
    err = capsys.readouterr().err
    assert err.count("an entry that is not an object (dict) is left out") == 1, err
