"""POST /api/v1/runs on each store: a producer's ``started_at`` gives a run created late its
real times (bounded, and declared in the OpenAPI document), and the answer's ``last_step`` says
where a producer attaching to the run goes on from."""

from __future__ import annotations

import time

import httpx

from runwatch.protocol import MAX_START_SKEW


def create(client: httpx.Client, **fields: object) -> httpx.Response:
    return client.post("/api/v1/runs", json={"project": "start", **fields})


def test_a_run_created_late_keeps_the_producers_start(store_api: httpx.Client) -> None:
    began = time.time() - 3600.0  # the producer started an hour ago, offline
    run = create(store_api, id="latestart", started_at=began).json()
    assert run["created_at"] == run["started_at"] == began
    events = store_api.get("/api/v1/runs/latestart/events").json()["events"]
    assert [(e["kind"], e["ts"]) for e in events] == [("status", began)]
    # Attaching to the run later changes none of its times.
    again = create(store_api, id="latestart", started_at=time.time()).json()
    assert again["created_at"] == again["started_at"] == began
    now = time.time()
    fresh = create(store_api).json()  # no started_at: the server's time
    assert now <= fresh["created_at"] == fresh["started_at"] <= time.time()


def test_a_start_ahead_of_the_server_or_before_1970_is_refused_by_name(
    store_api: httpx.Client,
) -> None:
    ahead = create(store_api, id="aheadrun", started_at=time.time() + MAX_START_SKEW + 60)
    assert ahead.status_code == 422
    assert ahead.json()["error"]["code"] == "started_in_future"
    assert ahead.json()["error"]["field"] == "$.started_at"
    negative = create(store_api, id="negative", started_at=-1.0)
    assert negative.status_code == 400 and negative.json()["error"]["field"] == "$.started_at"
    assert store_api.get("/api/v1/runs/aheadrun").status_code == 404
    within = create(store_api, started_at=time.time() + MAX_START_SKEW / 2)  # a small skew
    assert within.status_code == 201
    schema = store_api.get("/openapi.json").json()["components"]["schemas"]["RunCreate"]
    started = schema["properties"]["started_at"]["anyOf"][0]
    assert started["type"] == "number" and started["minimum"] == 0


def test_the_answer_says_where_the_runs_steps_end(store_api: httpx.Client) -> None:
    assert create(store_api, id="stepsrun").json()["last_step"] is None
    batch = {
        "producer": "p",
        "batch_seq": 1,
        "points": [[step, 1000.0 + step, {"loss": 1.0}] for step in range(10)]
        + [[50, 1100.0, {"sys/cpu": 3.0}], [7, 1007.0, {"acc": 0.5}]],
    }
    assert store_api.post("/api/v1/runs/stepsrun/batches", json=batch).status_code == 200
    # sys/* vitals are sampled by the SDK (a launcher's at step 0) on their own: left out.
    assert create(store_api, id="stepsrun").json()["last_step"] == 9
    # Raw points dropped by retention still count.
    dropped = store_api.put("/api/v1/projects/start/retention", json={"raw_keep_days": 0})
    assert dropped.status_code == 200 and dropped.json()["dropped_chunks"] > 0
    assert store_api.get("/api/v1/runs/stepsrun/raw/loss").json()["points"] == []
    assert create(store_api, id="stepsrun").json()["last_step"] == 9
