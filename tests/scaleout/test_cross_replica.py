"""Replicas sharing PostgreSQL and Redis, over the plain API (no browser): one run written
through both replicas at once, runs-list changes, and sweepers running on every replica."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import httpx
from websockets.sync.client import ClientConnection, connect

from tests.servers import ServerProcess, wait_until


def ws(server: ServerProcess, path: str) -> ClientConnection:
    return connect(server.url.replace("http://", "ws://") + path)


def messages(frame: str | bytes) -> list[dict[str, Any]]:
    data = json.loads(frame)
    return data if isinstance(data, list) else [data]


def read_until_closed(sock: ClientConnection, out: list[int]) -> None:
    while True:
        for m in messages(sock.recv(timeout=30)):
            if m["type"] == "run.closed":
                return
            out.append(m["seq"])


def test_producers_of_one_run_on_two_replicas_keep_every_viewer_gap_free(
    replicas: tuple[ServerProcess, ServerProcess],
) -> None:
    a, b = replicas
    with a.client() as ca, b.client() as cb:
        run_id = ca.post("/api/v1/runs", json={"project": "x"}).json()["id"]
        seen = {"a": list[int](), "b": list[int]()}
        with (
            ws(a, f"/api/v1/runs/{run_id}/live?since=0") as on_a,
            ws(b, f"/api/v1/runs/{run_id}/live?since=0") as on_b,
        ):
            # Both sockets have replayed the first record: everything after it is live.
            seen["a"] += [m["seq"] for m in messages(on_a.recv(timeout=10))]
            seen["b"] += [m["seq"] for m in messages(on_b.recv(timeout=10))]

            def produce(client: httpx.Client, producer: str) -> None:
                for i in range(1, 101):
                    body = {
                        "producer": producer,
                        "batch_seq": i,
                        "points": [[i, time.time(), {producer: float(i)}]],
                    }
                    assert client.post(f"/api/v1/runs/{run_id}/batches", json=body).is_success

            threads = [
                threading.Thread(target=produce, args=(ca, "pa")),
                threading.Thread(target=produce, args=(cb, "pb")),
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            final = {
                "producer": "pa",
                "batch_seq": 101,
                "status": {"state": "succeeded", "ts": time.time()},
            }
            assert ca.post(f"/api/v1/runs/{run_id}/batches", json=final).is_success
            read_until_closed(on_a, seen["a"])
            read_until_closed(on_b, seen["b"])
        head = cb.get(f"/api/v1/runs/{run_id}").json()["seq"]
    # 1 (running) + 200 batches + the final status, numbered once each across both replicas.
    assert head == 202
    assert seen["a"] == seen["b"] == list(range(1, 203))


def test_the_runs_list_on_b_follows_runs_created_and_finished_on_a(
    replicas: tuple[ServerProcess, ServerProcess],
) -> None:
    a, b = replicas
    with a.client() as ca, ws(b, "/api/v1/live?project=feed") as feed:
        (snapshot,) = messages(feed.recv(timeout=10))
        assert snapshot["type"] == "runs" and snapshot["runs"] == []
        run_id = ca.post("/api/v1/runs", json={"project": "feed"}).json()["id"]
        final = {"producer": "p", "batch_seq": 1, "status": {"state": "failed", "ts": time.time()}}
        assert ca.post(f"/api/v1/runs/{run_id}/batches", json=final).is_success
        status = None
        while status != "failed":
            for m in messages(feed.recv(timeout=10)):
                if m["type"] == "run" and m["run"]["id"] == run_id:
                    status = m["run"]["status"]


def test_sweepers_on_every_replica_mark_a_silent_run_crashed_once(
    replicas: tuple[ServerProcess, ServerProcess],
) -> None:
    a, b = replicas
    with a.client() as ca, b.client() as cb:
        spec = {"project": "x", "heartbeat": 0.1}
        run_id = ca.post("/api/v1/runs", json=spec).json()["id"]
        # Both replicas sweep every second; the run went silent at once.
        wait_until(
            lambda: cb.get(f"/api/v1/runs/{run_id}").json()["status"] == "crashed",
            timeout=20,
            what="the run to be marked crashed",
        )
        seq = cb.get(f"/api/v1/runs/{run_id}").json()["seq"]
        events = ca.get(f"/api/v1/runs/{run_id}/events", params={"limit": 100}).json()
    states = [e["payload"]["state"] for e in events["events"] if e["kind"] == "status"]
    assert states == ["running", "crashed"]
    assert seq == 2  # nothing else was numbered
