"""Viewers that never read or read slowly, while a producer logs 50,000 points/s."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from pathlib import Path

import httpx
import psutil
from websockets.sync.client import ClientConnection, connect

from tests.servers import ServerProcess, wait_until

SECONDS = 8
BATCH_POINTS = 5_000  # x 10 batches/s = 50,000 points/s
SLOW_VIEWERS = 40


def messages(frame: str | bytes) -> list[dict]:
    data = json.loads(frame)
    return data if isinstance(data, list) else [data]


def produce(url: str, run_id: str, stop: threading.Event) -> int:
    sent = 0
    with httpx.Client(base_url=url, timeout=30) as c:
        while not stop.is_set():
            now = time.time()
            rows = [[sent * BATCH_POINTS + i, now, {"x": float(i)}] for i in range(BATCH_POINTS)]
            sent += 1
            assert (
                c.post(
                    f"/api/v1/runs/{run_id}/batches",
                    json={"producer": "p", "batch_seq": sent, "points": rows},
                ).status_code
                == 200
            )
            stop.wait(0.1)  # the producer's pace: 10 batches/s
    return sent


def slow_reader(ws: ClientConnection, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            ws.recv(timeout=5)
        except Exception:
            return
        stop.wait(0.3)  # a slow client: reads a frame, then dawdles


def test_stuck_and_slow_viewers_cost_bounded_memory_and_do_not_delay_fast_ones(
    tmp_path: Path,
) -> None:
    server = ServerProcess(tmp_path / "data").start()
    try:
        run_id = httpx.post(f"{server.url}/api/v1/runs", json={"project": "slow"}).json()["id"]
        ws_url = server.url.replace("http://", "ws://") + f"/api/v1/runs/{run_id}/live?since=1"
        sockets = contextlib.ExitStack()
        stuck = sockets.enter_context(connect(ws_url, max_queue=1, max_size=None))  # never reads
        slow = [
            sockets.enter_context(connect(ws_url, max_queue=1, max_size=None))
            for _ in range(SLOW_VIEWERS)
        ]
        fast = sockets.enter_context(connect(ws_url, max_size=None))
        stop = threading.Event()
        readers = [
            threading.Thread(target=slow_reader, args=(ws, stop), daemon=True) for ws in slow
        ]
        for t in readers:
            t.start()
        server_proc = psutil.Process(server.proc.pid)  # type: ignore[union-attr]
        result: list[int] = []
        producer = threading.Thread(target=lambda: result.append(produce(server.url, run_id, stop)))
        producer.start()
        lags: list[float] = []
        seqs: list[int] = []
        rss: list[int] = []
        started = time.monotonic()
        while time.monotonic() - started < SECONDS:
            for m in messages(fast.recv(timeout=10)):
                seqs.append(m["seq"])
                if m["type"] == "points":
                    lags.append(time.time() - m["points"]["x"]["ts"][0])
            rss.append(server_proc.memory_info().rss)
        stop.set()
        producer.join(30)
        sent = result[0]
        # The fast viewer saw every record, in order, promptly.
        while seqs[-1] < sent + 1:
            seqs += [m["seq"] for m in messages(fast.recv(timeout=10))]
        assert seqs == list(range(2, sent + 2))
        lags.sort()
        assert lags[int(len(lags) * 0.99)] < 2.0, lags[-5:]
        # Memory: what 40 slow and one stuck viewer hold is bounded, not growing with the stream.
        early, late = rss[len(rss) // 4], max(rss[len(rss) // 4 :])
        streamed = sent * BATCH_POINTS * 60  # bytes of JSON the stream carried, roughly
        assert late - early < 200 * 2**20 and late - early < streamed, (early, late, streamed)
        # The stuck viewer catches up when it reads again: every record, or a reset to re-hydrate.
        got: list[dict] = []
        wait_until(
            lambda: (
                got.extend(messages(stuck.recv(timeout=10)))
                or got[-1]["seq"] >= sent + 1
                or got[-1]["type"] == "reset"
            ),
            60,
        )
        kinds = [m["type"] for m in got]
        assert "reset" in kinds or [m["seq"] for m in got] == list(range(2, sent + 2))
        assert httpx.get(f"{server.url}/healthz").status_code == 200
        sockets.close()
    finally:
        server.stop()
