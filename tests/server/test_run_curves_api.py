"""``GET /api/v1/run-curves``: many runs' curves of one metric in one request, as each run's
``/metrics`` answers it (x and value, or x and mean when bucketed), on each store; runs
unknown, without the metric or out of the token's project left out; more than 100 ids is a
400 naming them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from runwatch.tokens import create
from tests.asgi import serve_in_process, settings_for


def new_run(c: httpx.Client, project: str, points: list[list[Any]]) -> str:
    made = c.post("/api/v1/runs", json={"project": project})
    assert made.status_code == 201, made.text
    run_id: str = made.json()["id"]
    body = {"producer": "t", "batch_seq": 1, "points": points}
    assert c.post(f"/api/v1/runs/{run_id}/batches", json=body).is_success
    return run_id


def curves(c: httpx.Client, ids: list[str], **params: Any) -> httpx.Response:
    return c.get("/api/v1/run-curves", params={"key": "loss", "ids": ",".join(ids), **params})


def test_each_runs_curve_as_its_metrics_answer_it(store_api: httpx.Client) -> None:
    c = store_api
    short = new_run(c, "p", [[s, 1.0, {"loss": 1 / (s + 1)}] for s in range(5)])
    long = new_run(c, "p", [[s, 1.0, {"loss": float(s % 7)}] for s in range(600)])
    other_key = new_run(c, "p", [[0, 1.0, {"acc": 0.5}]])
    answer = curves(c, [short, long, other_key, "nosuchrun"], max_points=50)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["key"] == "loss" and set(body["series"]) == {short, long}
    assert body["series"][short] == {
        "mode": "raw", "x": [0, 1, 2, 3, 4], "value": [1.0, 0.5, 1 / 3, 0.25, 0.2],
    }  # fmt: skip
    # Bucketed as the run's own /metrics buckets it; only x and the means come.
    own = c.get(f"/api/v1/runs/{long}/metrics", params={"keys": "loss", "max_points": 50})
    whole = own.json()["series"]["loss"]
    assert whole["mode"] == "buckets"
    assert body["series"][long] == {"mode": "buckets", "x": whole["x"], "mean": whole["mean"]}
    assert curves(c, []).json() == {"key": "loss", "series": {}}


def test_more_than_100_ids_is_a_400_naming_them(store_api: httpx.Client) -> None:
    answer = curves(store_api, [f"run{i:04}" for i in range(101)])
    error = answer.json()["error"]
    assert (answer.status_code, error["code"], error["field"]) == (
        400,
        "invalid_request",
        "query.ids",
    )
    assert curves(store_api, [f"run{i:04}" for i in range(100)]).status_code == 200


def test_a_project_limited_token_gets_its_projects_runs_only(tmp_path: Path) -> None:
    data = tmp_path / "data"
    admin = create(data, "admin", None, None, "admin")[0]
    mine = create(data, "read", "mine", None, "mine only")[0]
    with serve_in_process(settings_for(data)) as server, server.client() as c:
        c.headers["Authorization"] = f"Bearer {admin}"
        point = [[0, 1.0, {"loss": 1.0}]]
        ours, theirs = new_run(c, "mine", point), new_run(c, "theirs", point)
        assert set(curves(c, [ours, theirs]).json()["series"]) == {ours, theirs}
        c.headers["Authorization"] = f"Bearer {mine}"
        assert set(curves(c, [ours, theirs]).json()["series"]) == {ours}
