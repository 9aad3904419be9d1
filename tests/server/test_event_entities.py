"""Events naming several entities (a merge of neurons 5 and 6): each entity's history lists the
event, the feed returns all its entities, and bad lists are refused naming the field; on
SQLite and on PostgreSQL."""

from __future__ import annotations

import time

import httpx
import pytest


def _run(c: httpx.Client, name: str) -> str:
    run_id: str = c.post("/api/v1/runs", json={"project": "multi", "name": name}).json()["id"]
    return run_id


def _post(
    c: httpx.Client, run_id: str, seq: int, events: list[dict[str, object]]
) -> httpx.Response:
    return c.post(
        f"/api/v1/runs/{run_id}/batches",
        json={"producer": "p", "batch_seq": seq, "events": events},
    )


def _history(c: httpx.Client, run_id: str, entity: str) -> list[tuple[str, object]]:
    events = c.get(f"/api/v1/runs/{run_id}/entities/{entity}/events").json()["events"]
    return [(e["kind"], e.get("entities", e["entity"])) for e in events]


def test_each_entity_of_an_event_lists_it(store_api: httpx.Client) -> None:
    c = store_api
    run_id = _run(c, "merge")
    now = time.time()
    events = [
        {"kind": "birth", "ts": now, "entity": 5},
        {"kind": "birth", "ts": now, "entity": "6"},
        {"kind": "merge", "ts": now, "entity": 5, "entities": [5, 6], "payload": {"a": 1}},
        {"kind": "split", "ts": now, "entities": ["x/1", 6, 5, "6"]},  # "6" is 6 again: once
        {"kind": "alone", "ts": now, "entities": [7]},  # one entity: stored as ``entity``
        {"kind": "tick", "ts": now},
    ]
    answer = _post(c, run_id, 1, events)
    assert answer.status_code == 200, answer.text

    assert _history(c, run_id, "5") == [("birth", 5), ("merge", [5, 6]), ("split", ["x/1", 6, 5])]
    # "6" matches both the string "6" and the integer 6.
    assert _history(c, run_id, "6") == [("birth", "6"), ("merge", [5, 6]), ("split", ["x/1", 6, 5])]
    assert _history(c, run_id, "x/1") == [("split", ["x/1", 6, 5])]
    assert _history(c, run_id, "7") == [("alone", 7)]
    assert _history(c, run_id, "8") == []
    limited = c.get(f"/api/v1/runs/{run_id}/entities/6/events", params={"limit": 2}).json()
    assert [e["kind"] for e in limited["events"]] == ["birth", "merge"]

    feed = c.get(f"/api/v1/runs/{run_id}/events", params={"limit": 100}).json()["events"]
    by_kind = {e["kind"]: e for e in feed}
    assert by_kind["merge"]["entity"] == 5 and by_kind["merge"]["entities"] == [5, 6]
    assert by_kind["merge"]["payload"] == {"a": 1}
    assert by_kind["split"]["entity"] == "x/1"
    assert (
        by_kind["alone"] == {**by_kind["alone"], "entity": 7} and "entities" not in by_kind["alone"]
    )
    assert by_kind["tick"]["entity"] is None and "entities" not in by_kind["tick"]
    newest = c.get(f"/api/v1/runs/{run_id}/events", params={"limit": 3, "newest_first": True})
    assert [e.get("entities") for e in newest.json()["events"]] == [None, None, ["x/1", 6, 5]]


def test_an_entity_born_among_several_counts_its_keys_ages_from_there(
    store_api: httpx.Client,
) -> None:
    c = store_api
    run_id = _run(c, "born")
    now = time.time()
    split = {"kind": "split", "ts": now, "entities": [5, 9], "step": 100}
    assert _post(c, run_id, 1, [split]).status_code == 200
    snapshots = [
        {"key": f"shape/{e}", "step": s, "ts": now, "value": [1.0], "entity": e}
        for e in (9, 10)
        for s in range(103, 141)
    ]
    batch = {"producer": "p", "batch_seq": 2, "snapshots": snapshots}
    assert c.post(f"/api/v1/runs/{run_id}/batches", json=batch).status_code == 200

    def kept(key: str) -> list[int]:
        versions = c.get(f"/api/v1/runs/{run_id}/snapshots/{key}").json()["versions"]
        return [v["step"] for v in versions]

    # 9 was born at step 100, the second entity of the split: ages 4, 8, 16, 32 after it.
    assert kept("shape/9") == [103, 104, 108, 116, 132]
    assert kept("shape/10") == [103, 104, 105, 107, 111, 119, 135]  # no birth: its own first step


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ({"entities": [5, [6, 7]]}, "$.events[0].entities[1]"),
        ({"entities": [5, 1.5]}, "$.events[0].entities[1]"),
        ({"entities": [5, None]}, "$.events[0].entities[1]"),
        ({"entities": 5}, "$.events[0].entities"),
        ({"entities": list(range(65))}, "$.events[0].entities"),
        ({"entity": [5, 6]}, "$.events[0].entity"),
        ({"entity": 6, "entities": [5, 6]}, "$.events[0].entity"),
        ({"entities": [5, "x" * 257]}, "$.events[0].entities[1]"),
    ],
)
def test_bad_entity_lists_are_refused_naming_the_field(
    store_api: httpx.Client, event: dict[str, object], field: str
) -> None:
    c = store_api
    run_id = _run(c, "bad")
    answer = _post(c, run_id, 1, [{"kind": "merge", "ts": time.time(), **event}])
    assert answer.status_code in (400, 422), answer.text
    assert answer.json()["error"]["field"] == field
    kept = c.get(f"/api/v1/runs/{run_id}/events").json()["events"]
    assert [e["kind"] for e in kept] == ["status"]  # the run's own start: the batch is not kept
