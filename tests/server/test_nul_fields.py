"""A NUL in a field the stores keep as TEXT (names, kinds, entities, error messages) is a 400
naming the field on SQLite and PostgreSQL alike, declared in the OpenAPI document, and the
run takes the next batch as usual. Was: PostgreSQL refused such a batch with a 400 naming no
field (its TEXT holds no NUL) while SQLite stored it. A NUL inside JSON (a payload, a config
value, a table row) is kept by both, as JSON keeps it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.servers import ServerProcess

N = "\x00"
MEDIA = {"step": 1, "ts": 1.0, "sha256": "0" * 64, "mime": "image/png", "width": 1, "height": 1}
# A batch's field holding a NUL, and the field the 400 names.
BATCHES: list[tuple[dict[str, Any], str]] = [
    ({"producer": "p" + N}, "$.producer"),
    ({"points": [[1, 1.0, {"a" + N: 1.0}]]}, "$.points[0].values.a" + N),
    ({"texts": [[1, 1.0, {"a" + N: "x"}]]}, "$.texts[0].values.a" + N),
    ({"events": [{"kind": "k" + N, "ts": 1.0}]}, "$.events[0].kind"),
    ({"events": [{"kind": "k", "ts": 1.0, "entity": "e" + N}]}, "$.events[0].entity"),
    ({"events": [{"kind": "k", "ts": 1.0, "entities": ["a", N]}]}, "$.events[0].entities[1]"),
    ({"status": {"state": "failed", "ts": 2.0, "error": "x" + N}}, "$.status.error"),
    ({"commands": [{"id": 1, "state": "failed", "error": N}]}, "$.commands[0].error"),
    ({"snapshots": [{"key": N, "step": 1, "ts": 1.0, "value": 1}]}, "$.snapshots[0].key"),
    (
        {"snapshots": [{"key": "s", "step": 1, "ts": 1.0, "value": 1, "entity": N}]},
        "$.snapshots[0].entity",
    ),
    ({"tables": [{"name": "t" + N, "rows": [{"a": 1}]}]}, "$.tables[0].name"),
    ({"point_sets": [{"name": N, "points": [{"x": 1, "y": 2}]}]}, "$.point_sets[0].name"),
    ({"vitals": ["v" + N]}, "$.vitals[0]"),
    ({"media": [{**MEDIA, "key": "m" + N}]}, "$.media[0].key"),
    ({"media": [{**MEDIA, "key": "m", "entity": N}]}, "$.media[0].entity"),
    (
        {"histograms": [{"key": N, "step": 1, "ts": 1.0, "edges": [0, 1], "counts": [1]}]},
        "$.histograms[0].key",
    ),
]


@pytest.fixture
def server(store_args: list[str], tmp_path: Path) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path / "data", extra_args=store_args).start()
    yield server
    server.stop()


def _refused(reply: httpx.Response, field: str) -> None:
    assert reply.status_code == 400, reply.text
    assert reply.json()["error"]["field"] == field


def test_a_nul_in_a_batch_field_kept_as_text_is_a_400_naming_it(server: ServerProcess) -> None:
    with server.client() as c:
        for fields, field in BATCHES:
            run_id = c.post("/api/v1/runs", json={"project": "nul"}).json()["id"]
            batch = {"producer": "w", "batch_seq": 0, **fields}
            _refused(c.post(f"/api/v1/runs/{run_id}/batches", json=batch), field)
            event = {"kind": "ok", "ts": 1.0, "payload": {"after": field}}
            ok = {"producer": "w", "batch_seq": 1, "events": [event]}
            assert c.post(f"/api/v1/runs/{run_id}/batches", json=ok).status_code == 200
            params = {"kind": "ok"}
            events = c.get(f"/api/v1/runs/{run_id}/events", params=params).json()["events"]
            assert [e["payload"] for e in events] == [{"after": field}], field
        # Inside JSON (a payload, a config, a table row) a NUL is kept, as JSON keeps it.
        spec = {"project": "nul", "config": {"a" + N: "b" + N}}
        run_id = c.post("/api/v1/runs", json=spec).json()["id"]
        event = {"kind": "k", "ts": 1.0, "payload": {N: "x" + N}}
        table = {"name": "t", "rows": [{"a": N}]}
        batch = {"producer": "w", "batch_seq": 0, "events": [event], "tables": [table]}
        batch["status"] = {"state": "succeeded", "ts": time.time()}
        assert c.post(f"/api/v1/runs/{run_id}/batches", json=batch).status_code == 200
        run = c.get(f"/api/v1/runs/{run_id}").json()
        params = {"kind": "k"}
        events = c.get(f"/api/v1/runs/{run_id}/events", params=params).json()["events"]
    assert run["config"] == {"a" + N: "b" + N} and run["status"] == "succeeded"
    assert events[0]["payload"] == {N: "x" + N}


def test_a_nul_in_a_rule_or_an_archived_command_is_a_400_naming_it(
    server: ServerProcess,
) -> None:
    rule = {"name": "r", "condition": {"type": "nonfinite", "key": "loss"}}
    with server.client() as c:
        for bad, field in [
            ({**rule, "name": "r" + N}, "$.name"),
            ({**rule, "condition": {"type": "nonfinite", "key": N}}, "$.condition.key"),
        ]:
            _refused(c.post("/api/v1/projects/nul/rules", json=bad), field)
        assert c.post("/api/v1/projects/nul/rules", json=rule).status_code == 201
        assert [r["name"] for r in c.get("/api/v1/projects/nul/rules").json()["rules"]] == ["r"]
        run_id = c.post("/api/v1/runs", json={"project": "nul"}).json()["id"]
        command = {"kind": "a", "state": "failed", "created_at": 1.0, "updated_at": 1.0}
        bad = {"commands": [{**command, "error": "e" + N}]}
        _refused(c.put(f"/api/v1/runs/{run_id}/commands", json=bad), "$.commands[0].error")
        good = {"commands": [{**command, "error": "e"}]}
        assert c.put(f"/api/v1/runs/{run_id}/commands", json=good).status_code == 200
        assert [
            x["error"] for x in c.get(f"/api/v1/runs/{run_id}/commands").json()["commands"]
        ] == ["e"]


def test_the_openapi_document_declares_each_refusal(server: ServerProcess) -> None:
    with server.client() as c:
        schemas = c.get("/openapi.json").json()["components"]["schemas"]
    no_nul = "^[^\\x00]*$"
    assert schemas["Batch"]["properties"]["producer"]["pattern"] == no_nul
    assert schemas["EventIn"]["properties"]["kind"]["pattern"] == no_nul
    assert schemas["StatusIn"]["properties"]["error"]["anyOf"][0]["pattern"] == no_nul
    assert schemas["TableIn"]["properties"]["name"]["pattern"] == no_nul
    assert schemas["RuleIn"]["properties"]["name"]["pattern"] == no_nul
    _, _, values = schemas["PointRow"]["prefixItems"]
    assert values["propertyNames"]["pattern"] == no_nul
    _, _, texts = schemas["TextRow"]["prefixItems"]
    assert texts["propertyNames"]["pattern"] == no_nul
