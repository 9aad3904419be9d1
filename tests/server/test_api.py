"""The HTTP API (the app in process, tests.asgi): create, list, ingest, query, and clear errors
for bad input."""

from __future__ import annotations

import time

import httpx

from tests.asgi import InProcessServer

JSON = {"Content-Type": "application/json"}


def new_run(client: httpx.Client, **spec: object) -> dict:
    r = client.post("/api/v1/runs", json={"project": "api", **spec})
    assert r.status_code == 201, r.text
    return r.json()


def post(client: httpx.Client, run_id: str, **batch: object) -> httpx.Response:
    return client.post(f"/api/v1/runs/{run_id}/batches", json={"producer": "t", **batch})


def test_create_list_get_and_projects(app_server: InProcessServer) -> None:
    with app_server.client() as c:
        a = new_run(c, name="a", tags=["x"], config={"lr": 0.1})
        new_run(c, project="other", name="b")
        assert c.get(f"/api/v1/runs/{a['id']}").json()["config"] == {"lr": 0.1}
        assert [
            r["name"] for r in c.get("/api/v1/runs", params={"project": "api"}).json()["runs"]
        ] == ["a"]
        assert [r["name"] for r in c.get("/api/v1/runs", params={"tag": "x"}).json()["runs"]] == [
            "a"
        ]
        projects = {p["name"]: p for p in c.get("/api/v1/projects").json()["projects"]}
        assert projects["api"]["runs"] == 1 and projects["other"]["running"] == 1
        health = c.get("/healthz").json()
        assert health["status"] == "ok" and health["store"]["backend"] == "sqlite"


def test_ingest_then_query_metrics_events_and_state(app_server: InProcessServer) -> None:
    with app_server.client() as c:
        run_id = new_run(c)["id"]
        now = time.time()
        points = [[i, now, {"loss": 1.0 / (i + 1)}] for i in range(50)]
        events = [{"kind": "birth", "ts": now, "entity": 7, "payload": {"size": 3}}]
        ack = post(c, run_id, batch_seq=1, points=points, events=events).json()
        assert (ack["seq_first"], ack["seq_last"], ack["points"]) == (2, 3, 50)
        metrics = c.get(
            f"/api/v1/runs/{run_id}/metrics", params={"keys": "loss", "max_points": 10}
        ).json()
        loss = metrics["series"]["loss"]
        assert loss["mode"] == "buckets" and len(loss["x"]) <= 10 and loss["width"] == 7
        assert sum(loss["count"]) == 50 and loss["finite"] == loss["count"]
        assert loss["last_x"][-1] == 49 and metrics["seq"] == 3
        evs = c.get(f"/api/v1/runs/{run_id}/events", params={"after": 1}).json()["events"]
        assert [(e["kind"], e["entity"], e["payload"]) for e in evs] == [("birth", 7, {"size": 3})]
        state = c.get(f"/api/v1/runs/{run_id}/state").json()
        assert state["seq"] == 3 and state["run"]["summary"] == {"loss": 0.02}
        assert state["metrics"]["loss"]["value"][:2] == [1.0, 0.5]
        assert [e["seq"] for e in state["events"]] == [3, 1]


def test_bad_input_gets_a_clear_error_and_loses_nothing(app_server: InProcessServer) -> None:
    with app_server.client() as c:
        run_id = new_run(c)["id"]
        good = post(c, run_id, batch_seq=1, points=[[0, 1.0, {"x": 1.0}]])
        assert good.status_code == 200
        cases = [
            (post(c, run_id, batch_seq="two"), 400, "$.batch_seq"),
            (
                post(c, run_id, batch_seq=2, points=[[0, 1.0, {"x": "lots"}]]),
                400,
                "$.points[0].values.x",
            ),
            (
                c.post(f"/api/v1/runs/{run_id}/batches", content=b"{not json", headers=JSON),
                400,
                None,
            ),
            (c.post(f"/api/v1/runs/{run_id}/batches", content=b"{}"), 415, None),
            (post(c, "no-such-run", batch_seq=3), 404, "run"),
            (c.post("/api/v1/runs", json={"project": ""}), 400, "$.project"),
            (
                c.get(f"/api/v1/runs/{run_id}/metrics", params={"max_points": 0}),
                400,
                "query.max_points",
            ),
            (c.get("/api/v1/runs/nope/state"), 404, "run"),
        ]
        for response, status, field in cases:
            assert response.status_code == status, response.text
            error = response.json()["error"]
            assert error["message"] and error["field"] == field
        # A batch after the bad ones still lands, and the first is intact.
        assert post(c, run_id, batch_seq=4, points=[[1, 1.0, {"x": 2.0}]]).status_code == 200
        values = c.get(f"/api/v1/runs/{run_id}/metrics").json()["series"]["x"]["value"]
        assert values == [1.0, 2.0]
        assert c.get("/healthz").status_code == 200


def test_oversize_body_is_413(app_server: InProcessServer) -> None:
    with app_server.client() as c:
        run_id = new_run(c)["id"]
        huge = (
            b'{"producer":"t","batch_seq":1,"points":[' + b"[1,1,{}]," * 2_000_000 + b"[1,1,{}]]}"
        )
        r = c.post(f"/api/v1/runs/{run_id}/batches", content=huge, headers=JSON)
        assert r.status_code == 413 and r.json()["error"]["code"] == "body_too_large"


def test_openapi_documents_the_wire_schemas(app_server: InProcessServer) -> None:
    with app_server.client() as c:
        spec = c.get("/openapi.json").json()
        body = spec["paths"]["/api/v1/runs/{run_id}/batches"]["post"]["requestBody"]
        assert body["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/Batch"
        }
        assert "PointRow" in spec["components"]["schemas"]
        assert c.get("/docs").status_code == 200


def test_sparklines_return_the_last_points_of_each_key(app_server: InProcessServer) -> None:
    with app_server.client() as c:
        run_id = new_run(c)["id"]
        for b in range(3):  # several batches: the tail spans chunks
            rows = [
                [s, 1.0, {"a": float(s), "b": -float(s)}] for s in range(b * 100, b * 100 + 100)
            ]
            post(c, run_id, batch_seq=b + 1, points=rows)
        post(c, run_id, batch_seq=9, points=[[5000, 1.0, {"b": "nan"}]])
        tails = c.get(f"/api/v1/runs/{run_id}/sparklines", params={"n": 5}).json()["series"]
        assert tails["a"] == {
            "mode": "raw",
            "x": [295, 296, 297, 298, 299],
            "value": [295.0, 296.0, 297.0, 298.0, 299.0],
        }
        assert tails["b"]["x"] == [296, 297, 298, 299, 5000] and tails["b"]["value"][-1] == "nan"
        only = c.get(f"/api/v1/runs/{run_id}/sparklines", params={"keys": "a", "n": 250}).json()
        assert list(only["series"]) == ["a"] and only["series"]["a"]["x"] == list(range(50, 300))


def test_a_key_holding_a_comma_is_asked_for_exactly(app_server: InProcessServer) -> None:
    """``keys=a,b`` splits at commas; ``key`` (repeated) names each key whole, so a key that
    holds a comma can be charted and sparklined."""
    with app_server.client() as c:
        run_id = new_run(c)["id"]
        rows = [[s, 1.0, {"f1,macro": float(s), "f1": -1.0, "macro": -2.0}] for s in range(3)]
        post(c, run_id, batch_seq=1, points=rows)
        base = f"/api/v1/runs/{run_id}"
        for route in ("metrics", "sparklines"):
            asked = [("key", "f1,macro"), ("key", "f1"), ("keys", "macro,f1")]
            series = c.get(f"{base}/{route}", params=asked).json()["series"]
            assert list(series) == ["macro", "f1", "f1,macro"], route  # keys first, once each
            assert series["f1,macro"]["value"] == [0.0, 1.0, 2.0], route
            split = c.get(f"{base}/{route}", params={"keys": "f1,macro"}).json()["series"]
            assert list(split) == ["f1", "macro"], route
            many = c.get(f"{base}/{route}", params=[("key", str(i)) for i in range(65)])
            assert many.status_code == 400 and many.json()["error"]["field"] == "query.key"


def test_a_finished_run_refuses_new_data_but_acks_retries(app_server: InProcessServer) -> None:
    with app_server.client() as c:
        run_id = new_run(c)["id"]
        final = {"state": "succeeded", "ts": time.time()}
        assert post(c, run_id, batch_seq=1, points=[[0, 1.0, {"x": 1.0}]]).status_code == 200
        assert post(c, run_id, batch_seq=2, status=final).status_code == 200
        late = post(
            c,
            run_id,
            batch_seq=3,
            points=[[1, 1.0, {"x": 2.0}]],
            status={**final, "state": "running"},
        )
        assert late.status_code == 409 and late.json()["error"]["code"] == "run_finished"
        retried = post(c, run_id, batch_seq=2, status=final)
        assert retried.status_code == 200 and retried.json()["duplicate"]
        assert c.get(f"/api/v1/runs/{run_id}").json()["status"] == "succeeded"


def test_retention_drops_raw_points_and_keeps_aggregates(app_server: InProcessServer) -> None:
    with app_server.client() as c:
        run_id = new_run(c, project="kept")["id"]
        for b in range(10):
            rows = [[s, 1.0, {"v": float(s)}] for s in range(b * 1000, b * 1000 + 1000)]
            post(c, run_id, batch_seq=b + 1, points=rows)
        assert c.get("/api/v1/projects/kept/retention").json() == {
            "raw_keep_steps": None,
            "raw_keep_days": None,
        }
        r = c.put("/api/v1/projects/kept/retention", json={"raw_keep_steps": 2000})
        assert r.status_code == 200 and r.json()["dropped_chunks"] > 0
        assert c.get("/api/v1/projects/kept/retention").json()["raw_keep_steps"] == 2000

        def metrics(**params: object) -> dict:
            return c.get(f"/api/v1/runs/{run_id}/metrics", params={"keys": "v", **params}).json()[
                "series"
            ]["v"]

        full = metrics(max_points=100)
        assert full["mode"] == "buckets" and sum(full["count"]) == 10_000  # every point counted
        assert min(full["min"]) == 0.0 and max(full["max"]) == 9999.0
        old = metrics(start=100, end=200, max_points=5000)  # raw is gone here: whole blocks
        assert old["mode"] == "buckets" and old["count"] and old["x"][0] <= 100
        recent = metrics(start=9000, end=9010, max_points=100)  # raw is kept here
        assert recent == {
            "mode": "raw",
            "x": list(range(9000, 9011)),
            "value": [float(s) for s in range(9000, 9011)],
        }
        bad = c.put("/api/v1/projects/kept/retention", json={"raw_keep_steps": -1})
        assert bad.status_code == 400 and bad.json()["error"]["field"] == "$.raw_keep_steps"
