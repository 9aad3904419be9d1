"""`POST /api/v1/runs/{run}/commands` with an `Idempotency-Key`: a retried POST is one command
(201 the first time, 200 with the same command after), on SQLite and on PostgreSQL; a key
reused for another command is refused; only the newest commands of a run keep their keys."""

from __future__ import annotations

import time

import httpx

from runwatch.store.sql.control import MAX_COMMAND_KEYS


def new_run(c: httpx.Client) -> str:
    run_id: str = c.post("/api/v1/runs", json={"project": "keys", "name": "k"}).json()["id"]
    return run_id


def post(c: httpx.Client, run_id: str, key: str | None, **body: object) -> httpx.Response:
    headers = {} if key is None else {"Idempotency-Key": key}
    return c.post(f"/api/v1/runs/{run_id}/commands", json=body, headers=headers)


def test_a_retried_post_with_its_key_is_one_command(store_api: httpx.Client) -> None:
    run_id = new_run(store_api)
    body = {"kind": "deprecate", "payload": {"entity": 47}}
    first = post(store_api, run_id, "a1b2-c3", **body)
    assert first.status_code == 201, first.text
    again = post(store_api, run_id, "a1b2-c3", **body)
    assert again.status_code == 200 and again.json() == first.json()
    other = post(store_api, run_id, "other-key", **body)  # another intent: another command
    assert other.status_code == 201 and other.json()["id"] == first.json()["id"] + 1
    plain = post(store_api, run_id, None, **body)  # no key: every POST is a command
    assert plain.status_code == 201

    # The answer to a retry is the command as it is now: applied, with the producer's word.
    result = {"id": first.json()["id"], "state": "failed", "error": "entity 47 is busy"}
    batch = {"producer": "p", "batch_seq": 1, "commands": [result]}
    assert store_api.post(f"/api/v1/runs/{run_id}/batches", json=batch).status_code == 200
    late = post(store_api, run_id, "a1b2-c3", **body)
    assert late.status_code == 200
    assert (late.json()["state"], late.json()["error"]) == ("failed", "entity 47 is busy")
    listed = store_api.get(f"/api/v1/runs/{run_id}/commands").json()["commands"]
    assert [c["id"] for c in listed] == [3, 2, 1]

    # The run is over: a retry still gets its command; a new intent is refused.
    end = {"state": "succeeded", "ts": time.time()}
    over = {"producer": "p", "batch_seq": 2, "status": end}
    assert store_api.post(f"/api/v1/runs/{run_id}/batches", json=over).status_code == 200
    assert post(store_api, run_id, "other-key", **body).status_code == 200
    refused = post(store_api, run_id, "fresh", **body)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "run_finished"


def test_a_key_is_refused_for_another_command_and_must_be_well_formed(
    store_api: httpx.Client,
) -> None:
    run_id = new_run(store_api)
    assert post(store_api, run_id, "k", kind="deprecate", payload={"entity": 1}).status_code == 201
    reused = post(store_api, run_id, "k", kind="deprecate", payload={"entity": 2})
    assert reused.status_code == 409
    assert reused.json()["error"]["code"] == "idempotency_key_reused"
    assert reused.json()["error"]["field"] == "Idempotency-Key"
    assert post(store_api, run_id, "k", kind="cancel").status_code == 409
    # Keys are per run: another run's same key is its own command.
    assert (
        post(
            store_api, new_run(store_api), "k", kind="deprecate", payload={"entity": 2}
        ).status_code
        == 201
    )
    for bad in ("x" * 129, "has space", "semi;colon"):
        answer = post(store_api, run_id, bad, kind="deprecate")
        assert answer.status_code == 400, bad
        assert answer.json()["error"]["field"] == "header.Idempotency-Key"
    listed = store_api.get(f"/api/v1/runs/{run_id}/commands").json()["commands"]
    assert [(c["kind"], c["payload"]) for c in listed] == [("deprecate", {"entity": 1})]


def test_only_the_newest_commands_keep_their_keys(store_api: httpx.Client) -> None:
    run_id = new_run(store_api)
    for i in range(MAX_COMMAND_KEYS + 1):
        assert post(store_api, run_id, f"k{i}", kind="note").status_code == 201
    # k0's command fell out of the window: its key is forgotten, a retry is a new command;
    # k1's is the oldest kept.
    assert post(store_api, run_id, "k1", kind="note").status_code == 200
    forgotten = post(store_api, run_id, "k0", kind="note")
    assert forgotten.status_code == 201 and forgotten.json()["id"] == MAX_COMMAND_KEYS + 2


def test_the_openapi_document_declares_the_key_and_both_answers(store_api: httpx.Client) -> None:
    op = store_api.get("/openapi.json").json()["paths"]["/api/v1/runs/{run_id}/commands"]["post"]
    (param,) = [p for p in op["parameters"] if p["name"] == "Idempotency-Key"]
    assert param["in"] == "header" and param["required"] is False
    assert {"200", "201", "409", "400"} <= set(op["responses"])
    assert "idempotency_key_reused" in op["responses"]["409"]["description"]
