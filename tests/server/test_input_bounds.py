"""What a client can send is held to what the stores can keep, on both stores: 64-bit integers,
finite bounds, bounded nesting, values the wire schema names; each refusal a 4xx naming the
field, and every answer one the OpenAPI document declares."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from runwatch.protocol import encode_value
from tests.pg import fresh_database
from tests.servers import ServerProcess

BEYOND_64_BITS = str(2**64 + 5)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def bounded(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    data = tmp_path_factory.mktemp(f"bounds-{request.param}") / "data"
    if request.param == "sqlite":
        server = ServerProcess(data).start()
        yield server
        server.stop()
        return
    with fresh_database() as url:
        server = ServerProcess(data, extra_args=["--store", url]).start()
        yield server
        server.stop()


@pytest.fixture
def c(bounded: ServerProcess) -> Iterator[httpx.Client]:
    with bounded.client() as client:
        yield client


def new_run(c: httpx.Client) -> str:
    r = c.post("/api/v1/runs", json={"project": "bounds"})
    assert r.status_code == 201, r.text
    run_id: str = r.json()["id"]
    return run_id


def refused(r: httpx.Response, field: str, code: str | None = None) -> dict[str, Any]:
    assert r.status_code == 400, r.text
    error: dict[str, Any] = r.json()["error"]
    assert error["field"] == field, error
    if code is not None:
        assert error["code"] == code, error
    return error


@pytest.mark.parametrize("path", ["commands/next", "logs", "events"])
def test_a_cursor_beyond_64_bits_is_a_400_naming_it(c: httpx.Client, path: str) -> None:
    run_id = new_run(c)
    params = (
        {"after": BEYOND_64_BITS, "wait": 0}
        if path == "commands/next"
        else {"after": BEYOND_64_BITS}
    )
    refused(c.get(f"/api/v1/runs/{run_id}/{path}", params=params), "query.after")
    at_most = {"after": str(2**63 - 1), **({"wait": 0} if path == "commands/next" else {})}
    assert c.get(f"/api/v1/runs/{run_id}/{path}", params=at_most).status_code == 200


def test_other_integers_and_bounds_stay_within_what_a_store_holds(c: httpx.Client) -> None:
    run_id = new_run(c)
    refused(c.get(f"/api/v1/runs/{run_id}/snapshots/k", params={"at": BEYOND_64_BITS}), "query.at")
    refused(c.get(f"/api/v1/runs/{run_id}/stream", params={"since": BEYOND_64_BITS}), "query.since")
    for bound in ("inf", "-inf", "nan"):
        refused(c.get(f"/api/v1/runs/{run_id}/metrics", params={"start": bound}), "query.start")
    assert c.get(f"/api/v1/runs/{run_id}/metrics", params={"end": "1e300"}).status_code == 200


def test_a_last_event_id_that_is_not_a_seq_of_ours_is_ignored(c: httpx.Client) -> None:
    run_id = new_run(c)
    for header in (b"\xb2", BEYOND_64_BITS, "null"):  # \xb2: "²" in latin-1, isdigit()
        with c.stream(
            "GET", f"/api/v1/runs/{run_id}/stream", headers={"Last-Event-ID": header}
        ) as r:
            assert r.status_code == 200
            first = next(r.iter_lines())
        assert first == "id: 1", (header, first)  # from the start: the run's first record


def test_deep_nesting_is_a_400_and_the_server_goes_on(c: httpx.Client) -> None:
    run_id = new_run(c)
    batch = b'{"producer":"p","batch_seq":1,"events":[{"kind":"k","ts":1.0,"payload":{"x":'
    r = c.post(
        f"/api/v1/runs/{run_id}/batches",
        content=batch + b"[" * 100_000,
        headers={"Content-Type": "application/json"},
    )
    refused(r, "$", "too_deep")
    config = b'{"a":' * 1000 + b"1" + b"}" * 1000
    r = c.post(
        "/api/v1/runs",
        content=b'{"project":"bounds","config":' + config + b"}",
        headers={"Content-Type": "application/json"},
    )
    refused(r, "$", "too_deep")
    shallow = {"a": {"b": {"c": [[[1]]]}}}
    created = c.post("/api/v1/runs", json={"project": "bounds", "config": shallow})
    assert created.status_code == 201 and created.json()["config"] == shallow
    assert c.get("/healthz").status_code == 200


def test_an_integer_written_as_a_whole_float_is_an_integer(c: httpx.Client) -> None:
    run_id = new_run(c)
    batch = {"producer": "p", "batch_seq": 7.0, "points": [[3.0, 1.0, {"loss": 0.5}]]}
    r = c.post(f"/api/v1/runs/{run_id}/batches", json=batch)
    assert r.status_code == 200, r.text
    series = c.get(f"/api/v1/runs/{run_id}/metrics").json()["series"]["loss"]
    assert series["x"] == [3] and series["value"] == [0.5]
    fraction = {"producer": "p", "batch_seq": 8.5}
    refused(c.post(f"/api/v1/runs/{run_id}/batches", json=fraction), "$.batch_seq")


def test_a_value_string_other_than_a_non_finite_name_is_refused_by_name(c: httpx.Client) -> None:
    values = c.get("/openapi.json").json()["components"]["schemas"]["PointRow"]["prefixItems"][2]
    names = [b["enum"] for b in values["additionalProperties"]["anyOf"] if "enum" in b]
    assert [sorted(n) for n in names] == [
        sorted(["nan", "NaN", "inf", "Infinity", "-inf", "-Infinity"])
    ]
    run_id = new_run(c)
    batch = {"producer": "p", "batch_seq": 1, "points": [[1, 1.0, {"a": 1.0, "b": "®"}]]}
    refused(c.post(f"/api/v1/runs/{run_id}/batches", json=batch), "$.points[0].values.b")


def post_json(c: httpx.Client, path: str, body: bytes) -> httpx.Response:
    """POST ``body`` as it is: JSON as a client other than httpx writes it."""
    return c.post(path, content=body, headers={"Content-Type": "application/json"})


@pytest.mark.parametrize(
    ("values", "literal", "field"),
    [
        ({"acc": 0.5, "loss": math.nan}, "NaN", "$.points[1].values.loss"),
        ({"grad norm": math.inf}, "Infinity", '$.points[1].values["grad norm"]'),
        ({"acc": -math.inf, "loss": math.nan}, "-Infinity", "$.points[1].values.acc"),
    ],
)
def test_a_nan_or_infinity_literal_is_a_400_naming_where_and_what_to_send(
    c: httpx.Client, values: dict[str, float], literal: str, field: str
) -> None:
    run_id = new_run(c)
    path = f"/api/v1/runs/{run_id}/batches"
    rows = [[0, 1.0, {"acc": 0.25}], [1, 2.0, values]]
    # Python's json.dumps writes NaN and Infinity unless told not to, as users' clients send.
    body = json.dumps({"producer": "p", "batch_seq": 1, "points": rows}).encode()
    assert literal.encode() in body
    error = refused(post_json(c, path, body), field, "malformed_json")
    assert f"{literal} at `{field}`" in error["message"]
    assert '"nan", "inf" or "-inf"' in error["message"]
    declared = c.get("/openapi.json").json()["paths"]["/api/v1/runs/{run_id}/batches"]["post"]
    schema = declared["responses"]["400"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/Error"}
    # What the message says to send is taken, and stands for the number.
    rows[1][2] = {key: encode_value(value) for key, value in values.items()}
    sent = c.post(path, json={"producer": "p", "batch_seq": 1, "points": rows})
    assert sent.status_code == 200, sent.text
    series = c.get(f"/api/v1/runs/{run_id}/metrics").json()["series"]
    assert {key: series[key]["value"][-1] for key in values} == {
        key: encode_value(value) for key, value in values.items()
    }


def test_a_nan_literal_outside_the_points_is_named_too(c: httpx.Client) -> None:
    body = b'{"project": "bounds", "config": {"lr": 0.1, "sched": [1, {"warm up": NaN}]}}'
    error = refused(post_json(c, "/api/v1/runs", body), '$.config.sched[1]["warm up"]')
    assert error["message"].startswith("body is not valid JSON: NaN at `$.config.sched[1]")
    other = post_json(c, "/api/v1/runs", b'{"project": NULL}')
    assert other.status_code == 400 and other.json()["error"]["code"] == "malformed_json"


def test_a_constraint_broken_in_a_dict_names_that_key_not_an_earlier_valid_one(
    c: httpx.Client,
) -> None:
    run_id = new_run(c)
    texts = [[1, 1.0, {"model": "gpt-4o", "note": "a\x00b"}]]
    r = c.post(
        f"/api/v1/runs/{run_id}/batches", json={"producer": "p", "batch_seq": 1, "texts": texts}
    )
    error = refused(r, "$.texts[0].values.note", "invalid_batch")
    assert error["message"].endswith("at `$.texts[0].values.note`")


def test_a_blank_project_is_refused_as_its_schema_says(c: httpx.Client) -> None:
    for blank in (" ", "\x1e", "\ufeff\t"):
        refused(c.post("/api/v1/runs", json={"project": blank}), "$.project")
    assert c.post("/api/v1/runs", json={"project": " x "}).status_code == 201


def test_every_status_a_route_answers_is_declared(c: httpx.Client) -> None:
    spec = c.get("/openapi.json").json()
    run_id = new_run(c)
    answers = [
        ("get", "/api/v1/runs/{run_id}", c.get("/api/v1/runs/nope")),
        (
            "post",
            "/api/v1/runs/{run_id}/promote",
            c.post(f"/api/v1/runs/{run_id}/promote", json={"name": "n"}),
        ),
        (
            "get",
            "/api/v1/runs/{run_id}/logs",
            c.get(f"/api/v1/runs/{run_id}/logs", params={"after": -1}),
        ),
    ]
    for method, path, r in answers:
        assert r.status_code in (400, 404, 409), r.text
        declared = spec["paths"][path][method]["responses"][str(r.status_code)]
        schema = declared["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/Error"}
    for status in ("401", "403", "503"):
        assert status in spec["paths"]["/api/v1/runs"]["get"]["responses"]
    stream = spec["paths"]["/api/v1/runs/{run_id}/stream"]["get"]["responses"]["200"]["content"]
    assert list(stream) == ["text/event-stream"]


def test_an_undeclared_method_is_a_405_that_names_every_allowed_one(c: httpx.Client) -> None:
    run_id = new_run(c)
    r = c.request("PUT", f"/api/v1/runs/{run_id}/tensorboard")
    assert r.status_code == 405 and r.headers["allow"] == "DELETE, GET, POST"
    assert r.json()["error"]["code"] == "method_not_allowed"
    r = c.request("TRACE", "/healthz")
    assert r.status_code == 405 and r.headers["allow"] == "GET"


def test_a_nul_in_a_path_or_query_parameter_is_a_400_naming_it(c: httpx.Client) -> None:
    run_id = new_run(c)
    refused(c.get("/api/v1/runs", params={"project": "a\x00b"}), "query.project")
    refused(c.get("/api/v1/runs/ab%00cd"), "path.run_id")
    refused(c.get(f"/api/v1/runs/{run_id}/events", params={"kind": "k\x00"}), "query.kind")
    refused(c.get(f"/api/v1/runs/{run_id}/tables/t%00"), "path.name")
    refused(c.get(f"/api/v1/runs/{run_id}/metrics", params={"keys": "a\x00"}), "query.keys")


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/api/v1/runs/ab%00cd/live", "path.run_id"),
        ("/api/v1/runs/{run}/live?since=0&x=%00", "query.x"),
        ("/api/v1/live?project=a%00b", "query.project"),
        ("/api/v1/projects/a%00b/alerts/live", "path.project"),
    ],
)
def test_a_nul_in_a_socket_parameter_closes_it_with_4400_naming_it(
    bounded: ServerProcess, c: httpx.Client, path: str, field: str
) -> None:
    url = bounded.url.replace("http://", "ws://") + path.format(run=new_run(c))
    with connect(url) as ws, pytest.raises(ConnectionClosed):
        ws.recv(timeout=10)
    assert ws.close_code == 4400 and ws.close_reason == f"{field} may not contain NUL"
    assert c.get("/healthz").json()["status"] == "ok"  # nothing failed on the way


def test_a_socket_refusal_quoting_a_long_id_is_cut_to_fit_its_close_frame(
    bounded: ServerProcess,
) -> None:
    long_id = "é" * 500  # 1,000 bytes: far past the 123 a close reason holds
    url = f"{bounded.url.replace('http://', 'ws://')}/api/v1/runs/{long_id}/live"
    with connect(url) as ws, pytest.raises(ConnectionClosed):
        ws.recv(timeout=10)
    assert ws.close_code == 4404, ws.close_reason
    reason = ws.close_reason or ""
    assert reason.startswith("no run with id 'éé") and reason.endswith("…")
    assert len(reason.encode()) <= 123
