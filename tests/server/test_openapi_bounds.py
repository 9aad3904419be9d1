"""Every bound the API enforces is declared in ``/openapi.json``, and a request at the bound is
taken while one just over it gets the 4xx the document declares for it."""

from __future__ import annotations

import string
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from runwatch.server.api import MAX_EVENTS_PAGE, MAX_POINTS, MAX_SPARKLINE
from runwatch.server.archive import MAX_RAW_PAGE
from runwatch.server.control import MAX_WAIT
from runwatch.server.rules import MAX_ALERTS_PAGE, MAX_RULES_PER_PROJECT
from runwatch.server.run_objects import MAX_ENTITY_EVENTS, MAX_LOG_LINES
from runwatch.server.runs_api import MAX_RUNS_PAGE
from runwatch.server.settings import Settings
from runwatch.server.tensorboard import MAX_PROCESSES
from runwatch.store.prepare import MAX_TIMESTAMP
from runwatch.store.sql.control import COMMANDS_LISTED
from runwatch.store.sql.queue import MAX_WAITING
from tests.server.test_api import JSON, new_run, post
from tests.servers import ServerProcess

ERROR = {"$ref": "#/components/schemas/Error"}
# (path, query parameter, its declared maximum, what "just over" is)
PAGES = [
    ("/api/v1/runs/{run_id}/metrics", "max_points", MAX_POINTS, MAX_POINTS + 1),
    ("/api/v1/runs/{run_id}/sparklines", "n", MAX_SPARKLINE, MAX_SPARKLINE + 1),
    ("/api/v1/runs/{run_id}/events", "limit", MAX_EVENTS_PAGE, MAX_EVENTS_PAGE + 1),
    ("/api/v1/runs/{run_id}/commands/next", "wait", MAX_WAIT, MAX_WAIT + 0.5),
    ("/api/v1/runs/{run_id}/entities/{entity}/events", "limit", MAX_ENTITY_EVENTS, MAX_ENTITY_EVENTS + 1),
    ("/api/v1/runs/{run_id}/logs", "limit", MAX_LOG_LINES, MAX_LOG_LINES + 1),
    ("/api/v1/projects/{project}/alerts", "limit", MAX_ALERTS_PAGE, MAX_ALERTS_PAGE + 1),
    ("/api/v1/runs/{run_id}/raw/{key}", "limit", MAX_RAW_PAGE, MAX_RAW_PAGE + 1),
]  # fmt: skip


def spec_of(c: httpx.Client) -> dict[str, Any]:
    spec: dict[str, Any] = c.get("/openapi.json").json()
    return spec


def declared(spec: dict[str, Any], method: str, path: str, status: int) -> str:
    """The description of the error response ``path`` declares for ``status`` (asserted)."""
    response = spec["paths"][path][method]["responses"][str(status)]
    assert response["content"]["application/json"]["schema"] == ERROR, (path, status)
    description: str = response["description"]
    return description


def refused(r: httpx.Response, status: int, code: str, mention: str | None = None) -> None:
    assert r.status_code == status, r.text[:300]
    error = r.json()["error"]
    assert error["code"] == code, error
    assert mention is None or mention in error["message"] or mention == error["field"], error


def test_page_sizes_are_declared_and_one_over_is_400(server: ServerProcess) -> None:
    with server.client() as c:
        spec = spec_of(c)
        run_id = new_run(c, project="p")["id"]
        # A finished run: the producer's long-poll answers at once instead of waiting.
        done = {"state": "succeeded", "ts": time.time()}
        assert post(c, run_id, batch_seq=1, status=done).status_code == 200
        for path, name, maximum, over in PAGES:
            params = {p["name"]: p["schema"] for p in spec["paths"][path]["get"]["parameters"]}
            assert params[name]["maximum"] == maximum, path
            declared(spec, "get", path, 400)
            url = path.format(run_id=run_id, entity="e", key="k", project="p")
            assert c.get(url, params={name: maximum}).status_code == 200, path
            refused(c.get(url, params={name: over}), 400, "invalid_request", f"query.{name}")
        # FastAPI's own 422 shape is never answered, so it is not documented either.
        assert "HTTPValidationError" not in spec["components"]["schemas"]


def test_every_body_declares_the_size_cap_and_one_byte_over_is_413(server: ServerProcess) -> None:
    cap = Settings().max_body_bytes
    with server.client() as c:
        spec = spec_of(c)
        bodies = [
            (path, method)
            for path, item in spec["paths"].items()
            for method, op in item.items()
            if "requestBody" in op
        ]
        assert len(bodies) >= 8
        for path, method in bodies:
            assert f"{cap:,} bytes" in declared(spec, method, path, 413), path
        at_cap = b'{"project": "p"}'.ljust(cap)  # JSON may end in whitespace
        assert c.post("/api/v1/runs", content=at_cap, headers=JSON).status_code == 201
        r = c.post("/api/v1/runs", content=at_cap + b" ", headers=JSON)
        refused(r, 413, "body_too_large", str(cap))


def test_batch_limits_are_declared_and_one_over_is_refused(server: ServerProcess) -> None:
    with server.client() as c:
        spec = spec_of(c)
        schemas = spec["components"]["schemas"]
        limits = schemas["Batch"]["x-runwatch-limits"]
        batches = "/api/v1/runs/{run_id}/batches"
        assert "x-runwatch-limits" in declared(spec, "post", batches, 422)
        declared(spec, "post", batches, 400)
        row = schemas["PointRow"]["prefixItems"]
        event = schemas["EventIn"]["properties"]
        table = schemas["TableIn"]["properties"]
        point_set = schemas["PointSetIn"]["properties"]
        entity = next(b for b in event["entity"]["anyOf"] if b.get("type") == "string")
        assert row[2]["propertyNames"]["maxLength"] == limits["max_key_length"] == 256
        assert entity["maxLength"] == limits["max_key_length"]
        assert schemas["Batch"]["properties"]["events"]["maxItems"] == 10_000
        assert limits["max_events_per_batch"] == 10_000
        assert event["kind"]["maxLength"] == limits["max_kind_length"] == 128
        assert table["rows"]["maxItems"] == limits["max_table_rows"] == 10_000
        assert point_set["points"]["maxItems"] == limits["max_point_set"] == 100_000
        assert f"{limits['max_event_payload_bytes']:,} bytes" in event["payload"]["description"]
        snapshot = schemas["SnapshotIn"]["properties"]["value"]["description"]
        assert f"{limits['max_snapshot_bytes']:,} bytes" in snapshot
        points = schemas["Batch"]["properties"]["points"]["description"]
        assert f"{limits['max_points_per_batch']:,} values" in points
        assert f"{limits['max_keys_per_batch']:,} distinct keys" in points
        for ts in (row[1], event["ts"], schemas["StatusIn"]["properties"]["ts"]):
            assert (ts["minimum"], ts["maximum"]) == (0, MAX_TIMESTAMP)

        run_id = new_run(c)["id"]
        seq = iter(range(1, 1000))

        def send(**batch: Any) -> httpx.Response:
            return post(c, run_id, batch_seq=next(seq), **batch)

        ev = {"kind": "k", "ts": 1.0}
        # (limit, a batch of size n, the largest n the limit allows)
        cases: list[tuple[str, Callable[[int], dict[str, Any]], int]] = [
            ("max_events_per_batch", lambda n: {"events": [ev] * n}, 10_000),
            ("max_kind_length", lambda n: {"events": [{**ev, "kind": "k" * n}]}, 128),
            ("max_key_length", lambda n: {"events": [{**ev, "entity": "e" * n}]}, 256),
            ("max_key_length", lambda n: {"points": [[0, 1.0, {"k" * n: 1}]]}, 256),
            (
                "max_keys_per_batch",
                lambda n: {"points": [[0, 1.0, {f"k{i}": 1 for i in range(n)}]]},
                10_000,
            ),
            # {"s":"…"} is 8 bytes of JSON around the string.
            (
                "max_event_payload_bytes",
                lambda n: {"events": [{**ev, "payload": {"s": "x" * (n - 8)}}]},
                65_536,
            ),
            ("max_table_rows", lambda n: {"tables": [{"name": "t", "rows": [{}] * n}]}, 10_000),
            (
                "max_table_rows",
                lambda n: {"tables": [{"name": "t", "rows": [], "max_rows": n}]},
                10_000,
            ),
            (
                "max_point_set",
                lambda n: {"point_sets": [{"name": "s", "points": [{}] * n}]},
                100_000,
            ),
            (
                "max_point_set",
                lambda n: {"point_sets": [{"name": "s", "points": [], "cap": n}]},
                100_000,
            ),
            # A string is its characters and two quotes as JSON.
            (
                "max_snapshot_bytes",
                lambda n: {
                    "snapshots": [{"key": "s", "step": 0, "ts": 1.0, "value": "x" * (n - 2)}]
                },
                1_048_576,
            ),
        ]
        for name, make, at in cases:
            assert send(**make(at)).status_code == 200, name
            refused(send(**make(at + 1)), 422, "limit_exceeded", f"{name}={limits[name]}")

        # 2,000,001 values in 14 MB: one-character keys keep the body under the 16 MiB cap.
        names = string.ascii_letters + string.digits
        row = {k: 0 for k in names}
        rows_needed = limits["max_points_per_batch"] // len(names) + 1
        r = send(points=[[i, 1.0, row] for i in range(rows_needed)])
        refused(r, 422, "limit_exceeded", "max_points_per_batch=2000000")

        for ts in (MAX_TIMESTAMP, 0.0):
            assert send(points=[[0, ts, {"x": 1}]], events=[{**ev, "ts": ts}]).status_code == 200
        for bad in (MAX_TIMESTAMP + 1, -1.0):
            refused(send(points=[[0, bad, {"x": 1}]]), 400, "invalid_batch", "$.points[0].ts")
            refused(send(events=[{**ev, "ts": bad}]), 400, "invalid_batch", "$.events[0].ts")
            status = {"state": "running", "ts": bad}
            refused(send(status=status), 400, "invalid_batch", "$.status.ts")


def test_rule_limits_are_declared_and_one_over_is_refused(tmp_path: Path) -> None:
    # A rules file is not held to the API's cap: it fills the project up to the cap at once.
    rule = (
        '[[rules]]\nproject = "p"\nname = "r{i}"\ncondition = {{ type = "stalled", minutes = 5 }}\n'
    )
    rules = tmp_path / "rules.toml"
    rules.write_text("".join(rule.format(i=i) for i in range(MAX_RULES_PER_PROJECT - 1)))
    server = ServerProcess(tmp_path / "data", extra_args=["--rules", str(rules)]).start()
    try:
        with server.client() as c:
            spec = spec_of(c)
            path = "/api/v1/projects/{project}/rules"
            text = declared(spec, "post", path, 422)
            assert f"{MAX_RULES_PER_PROJECT:,} rules" in text and "65,536 bytes" in text
            actions = spec["components"]["schemas"]["RuleIn"]["properties"]["actions"]
            assert actions["maxItems"] == 8
            url = "/api/v1/projects/p/rules"
            stalled = {"type": "stalled", "minutes": 5}
            cancel = {"type": "cancel"}
            refused(
                c.post(url, json={"name": "a", "condition": stalled, "actions": [cancel] * 9}),
                400,
                "invalid_rule",
                "$.actions",
            )
            big = {"type": "command", "kind": "k", "payload": {"s": "x" * 65_529}}
            refused(
                c.post(url, json={"name": "b", "condition": stalled, "actions": [big]}),
                422,
                "limit_exceeded",
                "$.actions[0].payload",
            )
            last = {"name": "last", "condition": stalled, "actions": [cancel] * 8}
            assert c.post(url, json=last).status_code == 201
            refused(
                c.post(url, json={"name": "over", "condition": stalled}),
                422,
                "limit_exceeded",
                f"max_rules_per_project={MAX_RULES_PER_PROJECT}",
            )
    finally:
        server.stop()


def test_result_caps_and_the_remaining_refusals_are_described(server: ServerProcess) -> None:
    with server.client() as c:
        spec = spec_of(c)
    paths = spec["paths"]
    assert f"at most {MAX_RUNS_PAGE:,} runs" in paths["/api/v1/runs"]["get"]["description"]
    commands = paths["/api/v1/runs/{run_id}/commands"]["get"]["description"]
    assert f"newest {COMMANDS_LISTED}" in commands
    settings = Settings()
    state = paths["/api/v1/runs/{run_id}/state"]["get"]["description"]
    assert f"{settings.state_max_points:,} points" in state
    assert f"newest {settings.state_events} events" in state
    submit = declared(spec, "post", "/api/v1/templates/{name}/runs", 422)
    assert f"{MAX_WAITING:,} runs are waiting" in submit
    tensorboard = declared(spec, "post", "/api/v1/runs/{run_id}/tensorboard", 429)
    assert f"{MAX_PROCESSES} TensorBoards" in tensorboard
    batches = "/api/v1/runs/{run_id}/batches"
    assert "--ingest-rate" in declared(spec, "post", batches, 429)
    assert "write queue is full" in declared(spec, "post", batches, 503)
