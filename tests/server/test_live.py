"""Live push from a real server: replay then live, resume with since / Last-Event-ID, gap-free."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.servers import ServerProcess


def ws_url(server: ServerProcess, path: str) -> str:
    return server.url.replace("http://", "ws://") + path


def messages(frame: str | bytes) -> list[dict[str, Any]]:
    """A frame is one message or a JSON array of them (coalesced)."""
    data = json.loads(frame)
    return data if isinstance(data, list) else [data]


def start_run(c: httpx.Client) -> str:
    return c.post("/api/v1/runs", json={"project": "live"}).json()["id"]


def post_points(c: httpx.Client, run_id: str, batch_seq: int, step: int) -> None:
    body = {
        "producer": "t",
        "batch_seq": batch_seq,
        "points": [[step, time.time(), {"x": float(step)}]],
    }
    assert c.post(f"/api/v1/runs/{run_id}/batches", json=body).status_code == 200


def finish(c: httpx.Client, run_id: str, batch_seq: int) -> None:
    body = {
        "producer": "t",
        "batch_seq": batch_seq,
        "status": {"state": "succeeded", "ts": time.time()},
    }
    assert c.post(f"/api/v1/runs/{run_id}/batches", json=body).status_code == 200


def test_websocket_resumes_with_since_without_gaps_or_duplicates(server: ServerProcess) -> None:
    with server.client() as c:
        run_id = start_run(c)
        producer_done = threading.Event()

        def produce() -> None:
            with server.client() as pc:
                for i in range(1, 301):
                    post_points(pc, run_id, i, i)
                finish(pc, run_id, 301)
            producer_done.set()

        threading.Thread(target=produce, daemon=True).start()
        seen: list[int] = []
        # First connection: read some records mid-stream, then drop the socket.
        with connect(ws_url(server, f"/api/v1/runs/{run_id}/live?since=0")) as ws:
            while len(seen) < 50:
                seen += [m["seq"] for m in messages(ws.recv(timeout=10))]
        # Reconnect from the last seq seen, and read to the end of the run.
        types: list[str] = []
        with connect(ws_url(server, f"/api/v1/runs/{run_id}/live?since={seen[-1]}")) as ws:
            while "run.closed" not in types:
                batch = messages(ws.recv(timeout=10))
                types += [m["type"] for m in batch]
                seen += [m["seq"] for m in batch if m["type"] != "run.closed"]
        assert producer_done.wait(10)
        # 1 (running) + 300 points batches + 1 final status
        assert seen == list(range(1, 303))
        assert types[-2:] == ["status", "run.closed"]


def test_sse_resumes_from_last_event_id(server: ServerProcess) -> None:
    with server.client() as c:
        run_id = start_run(c)
        for i in range(1, 21):
            post_points(c, run_id, i, i)
        finish(c, run_id, 21)

        def read(headers: dict[str, str]) -> list[tuple[int, dict[str, Any]]]:
            out: list[tuple[int, dict[str, Any]]] = []
            event_id = None
            with c.stream("GET", f"/api/v1/runs/{run_id}/stream", headers=headers) as r:
                assert r.headers["content-type"].startswith("text/event-stream")
                for line in r.iter_lines():
                    if line.startswith("id: "):
                        event_id = int(line[4:])
                    elif line.startswith("data: "):
                        out.append((event_id, json.loads(line[6:])))
            return out

        first = read({})
        assert [i for i, m in first if m["type"] != "run.closed"] == list(range(1, 23))
        resumed = read({"Last-Event-ID": "15"})
        assert [m["seq"] for _, m in resumed if m["type"] != "run.closed"] == list(range(16, 23))
        assert resumed[-1][1]["type"] == "run.closed"


def test_live_points_carry_values_and_nan(server: ServerProcess) -> None:
    with server.client() as c:
        run_id = start_run(c)
        with connect(ws_url(server, f"/api/v1/runs/{run_id}/live?since=1")) as ws:
            body = {
                "producer": "t",
                "batch_seq": 1,
                "points": [[0, 1.0, {"a": 0.5, "b": "nan"}], [1, 2.0, {"a": "-inf"}]],
            }
            c.post(f"/api/v1/runs/{run_id}/batches", json=body)
            (msg,) = messages(ws.recv(timeout=10))
        assert msg["type"] == "points" and msg["seq"] == 2
        assert msg["points"]["a"] == {"step": [0, 1], "ts": [1.0, 2.0], "value": [0.5, "-inf"]}
        assert msg["points"]["b"]["value"] == ["nan"]


def test_unknown_run_socket_is_closed_with_4404(server: ServerProcess) -> None:
    with connect(ws_url(server, "/api/v1/runs/nope/live")) as ws:
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=10)
        assert ws.close_code == 4404


def test_runs_list_socket_sends_snapshot_then_changes(server: ServerProcess) -> None:
    with server.client() as c:
        existing = start_run(c)
        with connect(ws_url(server, "/api/v1/live?project=live")) as ws:
            (snapshot,) = messages(ws.recv(timeout=10))
            assert snapshot["type"] == "runs" and [r["id"] for r in snapshot["runs"]] == [existing]
            latest: dict[str, str] = {}

            def read_until(done: Callable[[], bool]) -> None:
                while not done():
                    for m in messages(ws.recv(timeout=10)):
                        assert m["type"] == "run"
                        latest[m["run"]["id"]] = m["run"]["status"]

            # The other project's run changes first: an unfiltered feed sends it no later than
            # the end of ours, and a run of ours made after that end is sent after it.
            assert c.post("/api/v1/runs", json={"project": "elsewhere"}).status_code == 201
            finish(c, existing, 1)
            read_until(lambda: latest.get(existing) == "succeeded")
            later = start_run(c)
            read_until(lambda: later in latest)
            assert set(latest) == {existing, later} and latest[existing] == "succeeded"


def test_a_finished_run_bigger_than_a_replay_page_streams_whole_then_closes(
    server: ServerProcess,
) -> None:
    big = "x" * 50_000  # about five of these events fill one byte-capped replay page
    with server.client() as c:
        run_id = start_run(c)
        for i in range(1, 5):
            events = [{"kind": "note", "ts": time.time(), "payload": {"text": big}}] * 6
            body = {"producer": "t", "batch_seq": i, "events": events}
            assert c.post(f"/api/v1/runs/{run_id}/batches", json=body).status_code == 200
        finish(c, run_id, 5)
        last = c.get(f"/api/v1/runs/{run_id}").json()["seq"]
        with c.stream("GET", f"/api/v1/runs/{run_id}/stream", timeout=30) as stream:
            lines = list(stream.iter_lines())
    seqs = [int(line[4:]) for line in lines if line.startswith("id: ")]
    assert last >= 25  # 24 notes and the status, and the run's own records
    assert seqs[:-1] == list(range(1, last + 1))  # in order, once each
    assert '"type":"run.closed"' in [line for line in lines if line.startswith("data:")][-1]


def test_streams_stay_open_through_a_crash_and_follow_the_run_back_to_running(
    server: ServerProcess,
) -> None:
    """``crashed`` is the heartbeat sweep's guess: no stream ends on it (one open before the
    crash, one opened on the crashed run, and SSE), and each carries the run back to running,
    its new points, and then a real end, after which it closes."""
    with server.client() as c:
        created = c.post("/api/v1/runs", json={"project": "live", "heartbeat": 1.0})
        run_id = created.json()["id"]
        post_points(c, run_id, 1, 1)
        sse: list[dict[str, Any]] = []

        def read_sse() -> None:
            url = f"/api/v1/runs/{run_id}/stream"
            with server.client() as sc, sc.stream("GET", url, timeout=60) as r:
                for line in r.iter_lines():
                    if line.startswith("data: "):
                        sse.append(json.loads(line[6:]))

        reader = threading.Thread(target=read_sse)
        reader.start()
        try:
            with connect(ws_url(server, f"/api/v1/runs/{run_id}/live")) as early:
                before: list[dict[str, Any]] = []
                while not any(m.get("state") == "crashed" for m in before):
                    before += messages(early.recv(timeout=20))  # 3 silent heartbeats, 1 s sweep
                crashed_seq = before[-1]["seq"]
                assert [m["type"] for m in before] == ["status", "points", "status"]
                # A viewer that opens the crashed run, current to it, is not told it closed.
                late_url = f"/api/v1/runs/{run_id}/live?since={crashed_seq}"
                with connect(ws_url(server, late_url)) as late:
                    post_points(c, run_id, 2, 2)  # the producer speaks again
                    finish(c, run_id, 3)
                    streams = {"early": read_until_closed(early), "late": read_until_closed(late)}
        finally:
            finish(c, run_id, 3)  # idempotent: the SSE reader always gets its end
            reader.join(30)
        assert not reader.is_alive()
        streams["sse"] = [m for m in sse if m["seq"] > crashed_seq]
        for name, after in streams.items():
            kinds = [(m["type"], m.get("state") or m.get("event", {}).get("kind")) for m in after]
            assert kinds == [
                ("event", "heartbeat.resumed"),
                ("status", "running"),
                ("points", None),
                ("status", "succeeded"),
                ("run.closed", None),
            ], name
            assert after[2]["points"]["x"]["step"] == [2], name
        assert early.close_code == late.close_code == 1000


def read_until_closed(ws: Any) -> list[dict[str, Any]]:
    """Every message until the server closes the socket."""
    out: list[dict[str, Any]] = []
    with pytest.raises(ConnectionClosed):
        while True:
            out += messages(ws.recv(timeout=20))
    return out
