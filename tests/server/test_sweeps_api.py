"""The sweep controller's routes on each store: create, claim each trial once, pause / resume /
stop, a run stopped early saying why, and bad configurations refused with a 4xx naming the
key."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.servers import wait_until

GRID = {
    "method": "grid",
    "project": "sw",
    "metric": {"name": "loss", "goal": "minimize"},
    "early_terminate": {"type": "hyperband", "min_iter": 2},
    "parameters": {
        "x": {"values": [1, 2, 3]},
        "opt": {"parameters": {"lr": {"values": [0.1, 0.01]}}},
    },
}


def claim(c: httpx.Client, sweep_id: str, agent: str = "a") -> dict[str, Any]:
    r = c.post(f"/api/v1/sweeps/{sweep_id}/next", json={"agent": agent})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def test_a_grid_sweep_hands_out_each_point_once_then_says_finished(store_api: httpx.Client) -> None:
    c = store_api
    r = c.post("/api/v1/sweeps", json=GRID)
    assert r.status_code == 201, r.text
    sweep = r.json()
    assert (sweep["state"], sweep["trial_limit"], sweep["limit_reason"]) == ("running", 6, "space")
    assert sweep["spec"]["early_terminate"] == {"type": "hyperband", "min_iter": 2}
    assert sweep["page"] == f"/sweep?sweep={sweep['id']}"
    trials = [claim(c, sweep["id"])["trial"] for _ in range(6)]
    configs = [json.dumps(t["config"], sort_keys=True) for t in trials]
    assert len(set(configs)) == 6 and [t["index"] for t in trials] == list(range(6))
    assert trials[0]["config"] == {"x": 1, "opt": {"lr": 0.1}}
    done = claim(c, sweep["id"])
    assert (done["trial"], done["reason"], done["sweep"]["state"]) == (None, "finished", "finished")
    got = c.get(f"/api/v1/sweeps/{sweep['id']}").json()
    assert (got["handed_out"], got["trials"]) == (6, {"claimed": 6})
    listed = c.get(f"/api/v1/sweeps/{sweep['id']}/trials", params={"after": 3}).json()["trials"]
    assert [t["index"] for t in listed] == [4, 5] and listed[0]["agent"] == "a"


def test_a_random_sweep_stops_at_its_run_cap_and_obeys_pause_and_stop(
    store_api: httpx.Client,
) -> None:
    c = store_api
    spec = {"method": "random", "run_cap": 3, "parameters": {"lr": {"min": 0.0, "max": 1.0}}}
    sweep_id = c.post("/api/v1/sweeps", json=spec).json()["id"]
    first = claim(c, sweep_id)["trial"]
    assert 0 <= first["config"]["lr"] <= 1
    assert c.post(f"/api/v1/sweeps/{sweep_id}/pause").json()["state"] == "paused"
    assert claim(c, sweep_id)["reason"] == "paused"
    assert c.post(f"/api/v1/sweeps/{sweep_id}/resume").json()["state"] == "running"
    assert claim(c, sweep_id)["trial"]["index"] == 1
    assert c.post(f"/api/v1/sweeps/{sweep_id}/stop").json()["state"] == "stopped"
    assert claim(c, sweep_id)["reason"] == "stopped"
    r = c.post(f"/api/v1/sweeps/{sweep_id}/resume")
    assert (r.status_code, r.json()["error"]["code"]) == (409, "sweep_stopped")
    capped = c.post("/api/v1/sweeps", json=spec).json()
    assert (capped["trial_limit"], capped["limit_reason"], capped["project"]) == (
        3,
        "run_cap",
        "default",
    )
    assert [claim(c, capped["id"])["trial"] is not None for _ in range(4)] == [True] * 3 + [False]


def test_a_trial_claimed_before_the_stop_is_cancelled_and_its_run_refused(
    store_api: httpx.Client,
) -> None:
    c = store_api
    sweep_id = c.post("/api/v1/sweeps", json=GRID).json()["id"]
    started, unstarted = claim(c, sweep_id)["trial"], claim(c, sweep_id)["trial"]
    assert c.post("/api/v1/runs", json={"project": "sw", "id": started["run_id"]}).is_success
    assert c.post(f"/api/v1/sweeps/{sweep_id}/stop").json()["trials"] == {
        "running": 1,
        "cancelled": 1,
    }
    r = c.post("/api/v1/runs", json={"project": "sw", "id": unstarted["run_id"]})
    error = r.json()["error"]
    assert (r.status_code, error["code"], error["field"]) == (409, "sweep_stopped", "$.id"), r.text
    assert f"sweep {sweep_id!r} is stopped" in error["message"]
    assert c.get(f"/api/v1/runs/{unstarted['run_id']}").status_code == 404
    listed = c.get(f"/api/v1/sweeps/{sweep_id}/trials").json()["trials"]
    assert [t["status"] for t in listed] == ["running", "cancelled"]
    assert c.get(f"/api/v1/sweeps/{sweep_id}").json()["trials"] == {
        "running": 1,
        "cancelled": 1,
    }
    openapi = c.get("/openapi.json").json()
    assert "`sweep_stopped`" in str(openapi["paths"]["/api/v1/runs"]["post"]["responses"]["409"])


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"parameters": {"x": {"value": 1}}}, 400, "$.method"),
        ({"method": "grid", "parameters": {"x": {"value": 1}}, "metod": 1}, 400, "$.metod"),
        ({"method": "grid", "run_cap": 0, "parameters": {"x": {"value": 1}}}, 400, "$.run_cap"),
        ({"method": "grid", "parameters": {"x": {"valeus": [1]}}}, 422, "$.parameters.x.valeus"),
        (
            {"method": "grid", "parameters": {"lr": {"min": 0.1, "max": 1.0}}},
            422,
            "$.parameters.lr",
        ),
        (
            {"method": "random", "parameters": {"lr": {"min": 2, "max": 1}}},
            422,
            "$.parameters.lr.max",
        ),
        ({"method": "bayes", "parameters": {"x": {"value": 1}}}, 422, "$.metric"),
        # Grids too fine for floats to count (these were 500s).
        (
            {
                "method": "grid",
                "parameters": {"n": {"distribution": "int_uniform", "min": 0, "max": 10**20}},
            },
            422,
            "$.parameters.n",
        ),
        (
            {
                "method": "grid",
                "parameters": {
                    "lr": {"distribution": "q_uniform", "min": 0, "max": 1, "q": 1e-300}
                },
            },
            422,
            "$.parameters.lr",
        ),
        (
            {
                "method": "grid",
                "parameters": {
                    "lr": {"distribution": "q_uniform", "min": -1e308, "max": 1e308, "q": 1e-5}
                },
            },
            422,
            "$.parameters.lr",
        ),
        (
            {"method": "bayes", "metric": {"name": 'a"b'}, "parameters": {"x": {"value": 1}}},
            422,
            "$.metric.name",
        ),
        (
            {"method": "grid", "command": ["${env}", "${arg}"], "parameters": {"x": {"value": 1}}},
            422,
            "$.command[1]",
        ),
    ],
)
def test_a_bad_configuration_is_a_4xx_naming_the_key(
    store_api: httpx.Client, body: dict[str, Any], status: int, field: str
) -> None:
    r = store_api.post("/api/v1/sweeps", json=body)
    assert (r.status_code, r.json()["error"]["field"]) == (status, field), r.text


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"method":"grid","parameters":{"a":{"values":[1]},"lr":5}}', "$.parameters.lr"),
        (b'{"method":"grid","parameters":{"a":{"value":1},"lr":{"min":1e999}}}',
         "$.parameters.lr.min"),
        (b'{"method":"grid","parameters":{"lr":{"values":[1,-1e999]}}}',
         "$.parameters.lr.values[1]"),
        (b'{"method":"random","parameters":{"o":{"parameters":{"a":{"value":1},'
         b'"lr":{"min":0,"max":1e999}}}}}', "$.parameters.o.parameters.lr.max"),
        (b'{"method":"grid","parameters":{"a":{"value":1},"b c":[]}}', '$.parameters["b c"]'),
    ],
)  # fmt: skip
def test_a_400_names_the_parameter_not_a_placeholder(
    store_api: httpx.Client, body: bytes, field: str
) -> None:
    r = store_api.post("/api/v1/sweeps", content=body, headers={"Content-Type": "application/json"})
    error = r.json()["error"]
    assert (r.status_code, error["field"]) == (400, field), r.text
    assert f"at `{field}`" in error["message"] and "[...]" not in error["message"]


def test_a_claim_whose_command_the_sweep_cannot_give_is_refused_and_takes_no_trial(
    store_api: httpx.Client,
) -> None:
    """An agent without a command of its own (``[]``) needs the sweep's ``program`` or
    ``command``; one whose own command uses ``${program}`` needs its ``program``."""
    c = store_api
    bare = c.post("/api/v1/sweeps", json={"method": "grid", "parameters": {"x": {"values": [1]}}})
    sweep_id = bare.json()["id"]
    for command in ([], ["python", "${program}", "${args}"]):
        r = c.post(f"/api/v1/sweeps/{sweep_id}/next", json={"agent": "a", "command": command})
        assert (r.status_code, r.json()["error"]["code"]) == (422, "nothing_to_run"), r.text
    refused = c.post(f"/api/v1/sweeps/{sweep_id}/next", json={"command": []}).json()["error"]
    assert refused["message"].startswith("nothing to run: the sweep has neither a program nor")
    assert c.get(f"/api/v1/sweeps/{sweep_id}").json()["handed_out"] == 0
    own = c.post(f"/api/v1/sweeps/{sweep_id}/next", json={"command": ["python", "t.py"]})
    assert own.status_code == 200 and own.json()["trial"]["index"] == 0
    program = {"method": "grid", "program": "t.py", "parameters": {"x": {"values": [1]}}}
    with_program = c.post("/api/v1/sweeps", json=program).json()["id"]
    r = c.post(f"/api/v1/sweeps/{with_program}/next", json={"command": []})
    assert r.status_code == 200 and r.json()["trial"]["config"] == {"x": 1}


def test_an_unknown_sweep_is_a_404_naming_it(store_api: httpx.Client) -> None:
    for method, path in [("GET", ""), ("POST", "/next"), ("POST", "/pause"), ("GET", "/trials")]:
        r = store_api.request(
            method, f"/api/v1/sweeps/nope{path}", json={} if method == "POST" else None
        )
        assert (r.status_code, r.json()["error"]["code"]) == (404, "sweep_not_found"), path


def test_a_run_stopped_early_says_why_as_the_runs_api_returns_it(
    store_api: httpx.Client,
) -> None:
    """The server's hyperband stops the worse trial at its first rung: every read of its run
    carries the reason, a query finds it, and its status stays ``cancelled``."""
    c = store_api
    sweep_id = c.post("/api/v1/sweeps", json=GRID).json()["id"]
    good, bad = claim(c, sweep_id)["trial"], claim(c, sweep_id)["trial"]
    for trial, loss in ((good, 1.0), (bad, 10.0)):
        assert c.post("/api/v1/runs", json={"project": "sw", "id": trial["run_id"]}).is_success
        points = [[step, 1.0, {"loss": loss}] for step in range(3)]  # past the rung at 2
        body = {"producer": "t", "batch_seq": 1, "points": points}
        assert c.post(f"/api/v1/runs/{trial['run_id']}/batches", json=body).is_success

    def early_stop() -> list[dict[str, Any]]:
        answer = c.get(f"/api/v1/runs/{bad['run_id']}/events", params={"kind": "early_stop"})
        events: list[dict[str, Any]] = answer.json()["events"]
        return events

    (event,) = wait_until(early_stop, timeout=10, what="the early_stop event")
    reason = event["payload"]["message"]
    # Judged, not yet ended: the run is running (the pages then read its status).
    run = c.get(f"/api/v1/runs/{bad['run_id']}").json()
    assert (run["status"], run["stopped_early"]) == ("running", reason)
    status = {"state": "cancelled", "ts": 2.0, "error": reason}
    body = {"producer": "t", "batch_seq": 2, "status": status}
    assert c.post(f"/api/v1/runs/{bad['run_id']}/batches", json=body).is_success
    run = c.get(f"/api/v1/runs/{bad['run_id']}").json()
    assert (run["status"], run["stopped_early"]) == ("cancelled", reason)
    listed = c.get("/api/v1/runs", params={"project": "sw"}).json()
    assert {r["id"]: r["stopped_early"] for r in listed["runs"]} == {
        good["run_id"]: None,
        bad["run_id"]: reason,
    }
    found = c.get("/api/v1/runs", params={"q": "stopped_early != null"}).json()
    assert ([r["id"] for r in found["runs"]], found["total"]) == ([bad["run_id"]], 1)
    cancelled = c.get("/api/v1/runs", params={"status": "cancelled"}).json()["runs"]
    assert [r["id"] for r in cancelled] == [bad["run_id"]]
    trials = c.get(f"/api/v1/sweeps/{sweep_id}/trials").json()["trials"]
    assert [t["status"] for t in trials] == ["running", "stopped_early"]
