"""``PATCH /api/v1/runs/{run_id}`` on a real server, on SQLite and PostgreSQL: renaming and
retagging a run (a finished one too), the bounds of run creation, who may, live viewers and
runs lists told, and runs queries seeing the new name and tags at once."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import httpx
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from runwatch.tokens import create
from tests.asgi import InProcessServer
from tests.servers import ServerProcess
from tests.servers import frame_messages as messages
from tests.servers import token_client as client


def heard(socket: ClientConnection, kind: str, run_id: str | None = None) -> dict[str, Any]:
    """The first message of type ``kind`` (about ``run_id`` on a runs list) the socket sends."""
    while True:
        for m in messages(socket.recv(timeout=10)):
            if m["type"] == kind and (run_id is None or m["run"]["id"] == run_id):
                return m


def names(c: httpx.Client, **params: str) -> list[str]:
    runs = c.get("/api/v1/runs", params={"project": "p", **params}).json()["runs"]
    return sorted(r["name"] for r in runs)


def refused(r: httpx.Response) -> tuple[int, str, str | None]:
    error = r.json()["error"]
    return r.status_code, error["code"], error["field"]


def test_rename_and_retag_a_run_over_http(tmp_path: Path, store_args: list[str]) -> None:
    data = tmp_path / "data"
    location = store_args[1] if store_args else str(data)
    tokens = {scope: create(location, scope, None, None, scope)[0] for scope in ("read", "write")}
    tokens["other"] = create(location, "write", "q", None, "other project")[0]
    tokens["other_read"] = create(location, "read", "q", None, "other project")[0]
    server = ServerProcess(data, extra_args=store_args).start()
    try:
        with (
            client(server, tokens["write"]) as w,
            client(server, tokens["read"]) as r,
            client(server, None) as anonymous,
            client(server, tokens["other"]) as other,
        ):
            spec = {"project": "p", "heartbeat": 600, "config": {"lr": 0.1}}
            live = w.post("/api/v1/runs", json={**spec, "name": "live", "tags": ["a"]}).json()
            done = w.post("/api/v1/runs", json={**spec, "name": "done", "tags": ["a"]}).json()
            final = {"producer": "t", "batch_seq": 1, "status": {"state": "succeeded", "ts": 2.0}}
            assert w.post(f"/api/v1/runs/{done['id']}/batches", json=final).status_code == 200
            url = f"/api/v1/runs/{live['id']}"

            refusals = {
                "none": anonymous.patch(url, json={"name": "x"}),
                "read": r.patch(url, json={"name": "x"}),
                "other": other.patch(url, json={"name": "x"}),
                "unknown": w.patch("/api/v1/runs/nosuchrun", json={"name": "x"}),
                "long name": w.patch(url, json={"name": "n" * 501}),
                "nul name": w.patch(url, json={"name": "a\x00b"}),
                "long tag": w.patch(url, json={"tags": ["a", "b", "c", "t" * 201]}),
                "nul tag": w.patch(url, json={"tags": ["a", "b", "c", "\x00"]}),
                "tag type": w.patch(url, json={"tags": ["a", 3]}),
                "not a list": w.patch(url, json={"tags": "a"}),
                "unknown field": w.patch(url, json={"name": "x", "group": "g"}),
                "not json": w.patch(url, content=b"name=x", headers={"Content-Type": "text/plain"}),
            }
            got = {k: (v.status_code, v.json()["error"]["code"]) for k, v in refusals.items()}
            assert got == {
                "none": (401, "unauthorized"),
                "read": (403, "forbidden"),
                "other": (403, "forbidden"),
                "unknown": (404, "run_not_found"),
                "long name": (400, "invalid_run"),
                "nul name": (400, "invalid_run"),
                "long tag": (400, "invalid_run"),
                "nul tag": (400, "invalid_run"),
                "tag type": (400, "invalid_run"),
                "not a list": (400, "invalid_run"),
                "unknown field": (400, "invalid_run"),
                "not json": (415, "unsupported_media_type"),
            }
            fields = {k: refusals[k].json()["error"]["field"] for k in got if k in (
                "long name", "nul name", "long tag", "nul tag", "tag type", "not a list",
                "unknown field")}  # fmt: skip
            assert fields == {
                "long name": "$.name",
                "nul name": "$.name",
                "long tag": "$.tags[3]",
                "nul tag": "$.tags[3]",
                "tag type": "$.tags[1]",
                "not a list": "$.tags",
                "unknown field": "$.group",
            }
            assert r.get(url).json()["name"] == "live"  # nothing was changed
            # Naming neither field changes nothing (no seq taken), and answers the run.
            for nothing in ({}, {"name": None, "tags": None}):
                answer = w.patch(url, json=nothing)
                assert answer.status_code == 200 and answer.json() == r.get(url).json()
                assert answer.json()["seq"] == live["seq"]

            # A viewer of the run and of the runs list hear the edit at once.
            base = server.url.replace("http://", "ws://") + "/api/v1"
            read = tokens["read"]
            seq = r.get(url).json()["seq"]
            with (
                connect(f"{base}/live?project=p&token={read}") as runs_feed,
                connect(f"{base}/runs/{live['id']}/live?since={seq}&token={read}") as stream,
            ):
                heard(runs_feed, "runs")
                answer = w.patch(url, json={"name": "<b>renamed</b>", "tags": ["b", "c"]})
                assert answer.status_code == 200, answer.text
                edited = answer.json()
                assert edited == r.get(url).json()
                assert (edited["name"], edited["tags"], edited["seq"]) == (
                    "<b>renamed</b>", ["b", "c"], seq + 1)  # fmt: skip
                assert edited["last_update"] == live["last_update"]  # no report of the run's
                meta = heard(stream, "meta")
                assert meta == {"seq": seq + 1, "type": "meta", "name": "<b>renamed</b>",
                                "tags": ["b", "c"]}  # fmt: skip
                row = heard(runs_feed, "run", live["id"])["run"]
                assert (row["name"], row["tags"]) == ("<b>renamed</b>", ["b", "c"])

            # One field alone leaves the other; an empty name is the default name again.
            assert w.patch(url, json={"tags": []}).json()["name"] == "<b>renamed</b>"
            reset = w.patch(url, json={"name": ""}).json()
            assert (reset["name"], reset["tags"]) == (f"run-{live['id'][:6]}", [])
            # A stream opened later replays the edits (they are journaled).
            with connect(f"{base}/runs/{live['id']}/live?since={seq}&token={read}") as stream:
                replayed: list[dict[str, Any]] = []
                while len(replayed) < 3:
                    replayed += [
                        m for m in messages(stream.recv(timeout=10)) if m["type"] == "meta"
                    ]
            assert [(m["name"], m["tags"]) for m in replayed] == [
                ("<b>renamed</b>", ["b", "c"]),
                ("<b>renamed</b>", []),
                (f"run-{live['id'][:6]}", []),
            ]

            # A finished run is renamed too (its stream has ended: its page follows it on the
            # runs feed of that one run), and every query sees the new name and tags at once
            # (the finished run is in the value index: its config lookup narrows first).
            with connect(f"{base}/live?run={done['id']}&token={read}") as one:
                (first,) = messages(one.recv(timeout=10))
                assert [(m["id"], m["name"]) for m in first["runs"]] == [(done["id"], "done")]
                assert w.patch(url, json={"tags": ["z"]}).status_code == 200  # not this one
                edited = w.patch(
                    f"/api/v1/runs/{done['id']}", json={"name": "kept", "tags": ["best"]}
                )
                assert edited.status_code == 200, edited.text
                assert (edited.json()["status"], edited.json()["name"]) == ("succeeded", "kept")
                row = heard(one, "run")["run"]
                assert (row["id"], row["name"], row["tags"]) == (done["id"], "kept", ["best"])
            for who, run_id, code in (
                ("read", "nosuchrun", 4404),
                ("other_read", done["id"], 4403),
            ):
                with connect(f"{base}/live?run={run_id}&token={tokens[who]}") as refused_socket:
                    with contextlib.suppress(ConnectionClosed):
                        refused_socket.recv(timeout=10)
                    assert refused_socket.close_code == code, who
            assert w.patch(url, json={"tags": []}).status_code == 200
            assert names(r, tag="best") == ["kept"]
            assert names(r, tag="a") == []
            assert names(r, q='"best" in tags') == ["kept"]
            assert names(r, q='config.lr == 0.1 and "best" in tags') == ["kept"]
            assert names(r, q='config.lr == 0.1 and "a" in tags') == []
            assert names(r, q='name ~ "^ke"') == ["kept"]
            assert names(r, q='name == "done"') == []
            assert names(r, q='"best" not in tags and config.lr == 0.1') == [
                f"run-{live['id'][:6]}"
            ]
    finally:
        server.stop()


def test_a_deleted_run_is_not_renamed(tmp_path: Path, store_args: list[str]) -> None:
    server = ServerProcess(tmp_path / "data", extra_args=store_args).start()
    try:
        with server.client() as c:
            run_id = c.post("/api/v1/runs", json={"project": "p"}).json()["id"]
            final = {"producer": "t", "batch_seq": 1, "status": {"state": "failed", "ts": 2.0}}
            assert c.post(f"/api/v1/runs/{run_id}/batches", json=final).status_code == 200
            base = server.url.replace("http://", "ws://") + "/api/v1"
            with connect(f"{base}/live?run={run_id}") as one:
                assert [m["id"] for m in messages(one.recv(timeout=10))[0]["runs"]] == [run_id]
                assert c.delete(f"/api/v1/runs/{run_id}").status_code == 200
                deleted: list[dict[str, Any]] = []
                while not deleted:
                    deleted = [m for m in messages(one.recv(timeout=10)) if m["type"] != "bus"]
                assert [(m["type"], m["id"]) for m in deleted] == [("run.deleted", run_id)]
            r = c.patch(f"/api/v1/runs/{run_id}", json={"name": "x"})
            assert refused(r) == (404, "run_deleted", "run")
    finally:
        server.stop()


def test_the_openapi_document_declares_the_route(app_server: InProcessServer) -> None:
    with app_server.client() as c:
        spec = c.get("/openapi.json").json()
    op = spec["paths"]["/api/v1/runs/{run_id}"]["patch"]
    body = op["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/RunPatch"}
    assert {"400", "401", "403", "404", "413"} <= set(op["responses"])
    assert "$.tags[3]" in op["responses"]["400"]["description"]
    assert "run_deleted" in op["responses"]["404"]["description"]
    patch = spec["components"]["schemas"]["RunPatch"]["properties"]
    create = spec["components"]["schemas"]["RunCreate"]["properties"]
    # The bounds of creation: a name's length and a tag's, neither with a NUL.
    assert patch["name"] == create["name"]
    assert patch["tags"]["anyOf"][0]["items"] == create["tags"]["items"]
