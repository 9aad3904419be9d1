"""``DELETE /api/v1/runs/{run_id}`` on a real server, on SQLite and PostgreSQL: who may, what it
refuses, the run gone from the API and its data dir (never the user's own directory), live
viewers told, a producer speaking for it told ``run_deleted``, and its sweep trial kept."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from runwatch.protocol import RUN_DIR_MARKER
from runwatch.store.factory import open_store
from runwatch.tokens import create
from tests.servers import ServerProcess, wait_until
from tests.servers import frame_messages as messages
from tests.servers import token_client as client
from tests.store.aio import run


def test_delete_a_run_over_http(tmp_path: Path, store_args: list[str]) -> None:
    data = tmp_path / "data"
    location = store_args[1] if store_args else str(data)
    tokens = {scope: create(location, scope, None, None, scope)[0] for scope in ("read", "write")}
    tokens["other"] = create(location, "write", "q", None, "other project")[0]
    tokens["other_read"] = create(location, "read", "q", None, "other project")[0]
    server = ServerProcess(data, extra_args=store_args).start()
    own = data / "runs"
    user_dir = tmp_path / "training"  # the user's own run dir, registered with a marker
    try:
        with (
            client(server, tokens["write"]) as w,
            client(server, tokens["read"]) as r,
            client(server, None) as anonymous,
            client(server, tokens["other"]) as other,
            client(server, tokens["other_read"]) as other_read,
        ):
            # A run whose producer went silent (crashed: finished, may go), with a dir the
            # server launched it in and one its producer registered; and a run still running.
            snapshot = {"run_dir": str(user_dir)}
            body = {"project": "p", "name": "to go", "heartbeat": 0.1, "snapshot": snapshot}
            gone = w.post("/api/v1/runs", json=body).json()["id"]
            user_dir.mkdir()
            (user_dir / RUN_DIR_MARKER).write_text(gone)
            (user_dir / "model.pt").write_bytes(b"weights")
            (own / gone).mkdir(parents=True)
            (own / gone / "launcher.log").write_text("log")
            batch = {"producer": "t", "batch_seq": 1, "points": [[1, time.time(), {"x": 1.0}]]}
            assert w.post(f"/api/v1/runs/{gone}/batches", json=batch).status_code == 200
            wait_until(
                lambda: r.get(f"/api/v1/runs/{gone}").json()["status"] == "crashed", 20,
                what="the run to crash",
            )  # fmt: skip
            running = w.post("/api/v1/runs", json={"project": "p", "heartbeat": 600}).json()["id"]

            refusals = {
                "none": anonymous.delete(f"/api/v1/runs/{gone}"),
                "read": r.delete(f"/api/v1/runs/{gone}"),
                "other": other.delete(f"/api/v1/runs/{gone}"),
                "unknown": w.delete("/api/v1/runs/nosuchrun"),
                "running": w.delete(f"/api/v1/runs/{running}"),
            }
            got = {k: (r.status_code, r.json()["error"]["code"]) for k, r in refusals.items()}
            assert got == {
                "none": (401, "unauthorized"),
                "read": (403, "forbidden"),
                "other": (403, "forbidden"),
                "unknown": (404, "run_not_found"),
                "running": (409, "run_not_finished"),
            }
            assert refusals["running"].json()["error"]["field"] == "status"
            assert "cancel it first" in refusals["running"].json()["error"]["message"]
            assert r.get(f"/api/v1/runs/{gone}").status_code == 200  # nothing was deleted

            base = server.url.replace("http://", "ws://") + "/api/v1"
            with (
                connect(f"{base}/live?project=p&token={tokens['read']}") as runs_feed,
                connect(f"{base}/runs/{gone}/live?token={tokens['read']}") as run_stream,
            ):
                (snapshot_msg,) = messages(runs_feed.recv(timeout=10))
                assert {r["id"] for r in snapshot_msg["runs"]} == {gone, running}
                answer = w.delete(f"/api/v1/runs/{gone}")
                assert answer.status_code == 200, answer.text
                assert answer.json() == {"deleted": gone, "project": "p", "name": "to go"}
                heard: list[dict[str, Any]] = []
                while not any(m["type"] == "run.deleted" for m in heard):
                    heard += messages(runs_feed.recv(timeout=10))
                assert {"type": "run.deleted", "id": gone} in [
                    {k: m[k] for k in ("type", "id")} for m in heard if m["type"] == "run.deleted"
                ]
                streamed: list[dict[str, Any]] = []
                with pytest.raises(ConnectionClosed):
                    while True:
                        streamed += messages(run_stream.recv(timeout=10))
                assert [m["type"] for m in streamed][-2:] == ["run.deleted", "run.closed"]

            after = {
                "get": r.get(f"/api/v1/runs/{gone}"),
                "again": w.delete(f"/api/v1/runs/{gone}"),
                "batch": w.post(f"/api/v1/runs/{gone}/batches", json={**batch, "batch_seq": 2}),
                "other": other_read.get(f"/api/v1/runs/{gone}"),
            }
            codes = {k: (r.status_code, r.json()["error"]["code"]) for k, r in after.items()}
            assert codes == {
                "get": (404, "run_deleted"),
                "again": (404, "run_deleted"),
                "batch": (404, "run_deleted"),
                "other": (403, "forbidden"),
            }
            listed = r.get("/api/v1/runs", params={"project": "p"}).json()["runs"]
            assert [r["id"] for r in listed] == [running]
        assert not (own / gone).exists()
        # The user's own directory is theirs: untouched.
        assert (user_dir / "model.pt").read_bytes() == b"weights"
        assert (user_dir / RUN_DIR_MARKER).read_text() == gone
    finally:
        server.stop()


def test_the_openapi_document_declares_the_route(store_api: httpx.Client) -> None:
    op = store_api.get("/openapi.json").json()["paths"]["/api/v1/runs/{run_id}"]["delete"]
    assert {"200", "401", "403", "404", "409"} <= set(op["responses"])
    assert "run_not_finished" in op["responses"]["409"]["description"]
    assert "run_deleted" in op["responses"]["404"]["description"]


def test_a_sweeps_trial_outlives_its_deleted_run(store_api: httpx.Client) -> None:
    spec = {"method": "random", "parameters": {"x": {"min": 0, "max": 1}}, "project": "p"}
    sweep = store_api.post("/api/v1/sweeps", json=spec).json()
    trial = store_api.post(f"/api/v1/sweeps/{sweep['id']}/next", json={}).json()["trial"]
    run_id = trial["run_id"]
    assert store_api.post("/api/v1/runs", json={"project": "p", "id": run_id}).status_code == 201
    final = {"producer": "t", "batch_seq": 1, "status": {"state": "failed", "ts": time.time()}}
    assert store_api.post(f"/api/v1/runs/{run_id}/batches", json=final).status_code == 200
    assert store_api.delete(f"/api/v1/runs/{run_id}").status_code == 200
    info = store_api.get(f"/api/v1/sweeps/{sweep['id']}")
    trials = store_api.get(f"/api/v1/sweeps/{sweep['id']}/trials")
    page = store_api.get(sweep["page"])
    assert (info.status_code, trials.status_code, page.status_code) == (200, 200, 200)
    assert info.json()["trials"] == {"deleted": 1}
    (kept,) = trials.json()["trials"]
    assert (kept["run_id"], kept["status"]) == (run_id, "deleted")


def test_a_deletion_cut_short_is_finished_by_the_next_server(
    tmp_path: Path, store_args: list[str]
) -> None:
    """A server that died after deleting runs in the store, before removing the directories it
    launched them in (one run's rows purged, one's not even started), removes both directories
    when it starts again and finishes the purge: the ids can be used again, on clean dirs."""
    data = tmp_path / "data"
    server = ServerProcess(data, extra_args=store_args).start()
    try:
        with server.client() as c:
            finished = {"producer": "t", "batch_seq": 2, "status": {"state": "failed", "ts": 1.0}}
            runs = {}
            for name in ("purged", "pending"):
                run_id = c.post("/api/v1/runs", json={"project": "p", "name": name}).json()["id"]
                points = {"producer": "t", "batch_seq": 1, "points": [[1, 1.0, {"x": 1.0}]]}
                assert c.post(f"/api/v1/runs/{run_id}/batches", json=points).status_code == 200
                assert c.post(f"/api/v1/runs/{run_id}/batches", json=finished).status_code == 200
                (data / "runs" / run_id).mkdir(parents=True)
                (data / "runs" / run_id / "launcher.log").write_text("stale")
                runs[name] = run_id
    finally:
        server.stop()

    async def delete_halfway() -> None:
        # What the handler had done when the server died: the store's part only.
        store = open_store(store_args[1] if store_args else data)
        await store.open()
        try:
            await store.delete_run(runs["purged"])
            await store.purged(runs["purged"])
            await store.delete_run(runs["pending"])  # closed at once: its purge not begun
        finally:
            await store.close()

    run(delete_halfway())
    assert all((data / "runs" / run_id).is_dir() for run_id in runs.values())

    server.start()
    try:
        with server.client() as c:

            def created_again(run_id: str) -> bool:
                # Refused (run_deleting) while the deleted run's rows are being purged.
                body = {"project": "p", "id": run_id}
                return c.post("/api/v1/runs", json=body).status_code == 201

            for run_id in runs.values():
                wait_until(lambda r=run_id: created_again(r), 20, what=f"{run_id} purged")
                assert not c.get(f"/api/v1/runs/{run_id}/metrics").json()["series"]
                assert not (data / "runs" / run_id).exists()
    finally:
        server.stop()
