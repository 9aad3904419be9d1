"""Fan-out benchmark: one run, many WebSocket viewers, runwatch against a bare broadcast loop.

Run from the repo root (about 3 minutes with the defaults)::

    .venv/bin/python benchmarks/fanout.py [--viewers 1000] [--rate 10] [--seconds 20]
                                          [--burst-rate 200] [--burst-seconds 3] [--rounds 2] [--plain]

Servers: a real ``runwatch serve`` on 127.0.0.1, and the baseline, a minimal FastAPI app defined
here (same uvicorn) whose POST handler encodes each message once and queues it for one loop that
does ``for ws in clients: await ws.send_text(msg)`` (yielding once per round: without it, a
non-empty queue never yields and its POSTs starve). For each, a separate viewer process
(``fanout_viewers.py``) opens ``--viewers`` WebSockets to ``/api/v1/runs/{run}/live`` with a lean
asyncio client (raw frames, one ``msgspec`` decode per frame, so that the client is not what is
measured; its CPU is reported). Like a browser, each viewer offers permessage-deflate (both
servers accept it: uvicorn's default); ``--plain`` offers none. This process then posts
batches of 10 points to ``/api/v1/runs/{run}/batches`` (every point's ``ts`` is its send wall
time; up to 32 POSTs in flight, on an absolute schedule) in two phases:

* steady: ``--rate`` batches/s for ``--seconds`` s (the issue's 10 batches/s);
* burst: ``--burst-rate`` batches/s for ``--burst-seconds`` s, more than either server can push
  to 1,000 viewers one frame per record: it measures send capacity (and coalescing). A server
  whose acks are slow also lowers the rate it is offered ("batches/s", "ack p99").

A phase ends when every viewer has its last record, or after a grace period (15 s, 10 s); what
is missing then counts as undelivered. Per phase: records delivered / expected (a record is one
batch's points message, due to every viewer), frames, sends/s (records delivered per second over
all viewers, from the first send to the last arrival), latency (arrival - send time) p50/p99,
% of rounds late (a round is one record to every viewer; late when its slowest viewer got it
> 100 ms after the send, or never), CPU (% of one core) of the server, the client and everything
else on this shared machine ("others": a busy one disturbs the row), and server CPU µs per send.
Every viewer checks that it saw every seq exactly once and in order (a frame may be a JSON array
of records). Rounds alternate runwatch / baseline; ratios and targets use, for each side, its
round with the least "others" CPU in that phase.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from array import array
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common
import httpx
import msgspec
import psutil
from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect

POINTS_PER_BATCH = 10
JSON = {"content-type": "application/json"}
IN_FLIGHT = 32  # concurrent POSTs from the producer
Result = dict[str, Any]


# -- the baseline server ----------------------------------------------------------------------------
def baseline_app() -> Any:
    """The bare loop: one queue of encoded messages, ``await ws.send_text`` per client in turn."""
    clients: set[WebSocket] = set()
    outbox: asyncio.Queue[str] = asyncio.Queue()
    state = {"seq": 0}

    async def broadcast() -> None:
        while True:
            message = await outbox.get()
            for ws in list(clients):
                try:
                    await ws.send_text(message)
                except Exception:
                    clients.discard(ws)
            await asyncio.sleep(0)  # once per round, so that its own ingest is not starved

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        task = asyncio.create_task(broadcast())
        yield
        task.cancel()

    app = FastAPI(lifespan=lifespan)

    @app.websocket("/api/v1/runs/{run_id}/live")
    async def live(ws: WebSocket, run_id: str) -> None:
        await ws.accept()
        clients.add(ws)
        try:
            while True:
                await ws.receive_text()
        except WebSocketDisconnect:
            pass
        finally:
            clients.discard(ws)

    @app.post("/api/v1/runs/{run_id}/batches")
    async def ingest(request: Request, run_id: str) -> dict[str, int]:
        batch = msgspec.json.decode(await request.body())
        columns: dict[str, dict[str, list[Any]]] = {}
        for step, ts, values in batch["points"]:
            for key, value in values.items():
                col = columns.setdefault(key, {"step": [], "ts": [], "value": []})
                col["step"].append(step)
                col["ts"].append(ts)
                col["value"].append(value)
        state["seq"] += 1
        body = {"seq": state["seq"], "type": "points", "points": columns}
        outbox.put_nowait(msgspec.json.encode(body).decode())  # encoded once per message
        return {"seq": state["seq"]}

    return app


def serve_baseline() -> None:
    import uvicorn

    common.raise_nofile()
    sock = socket.create_server(("127.0.0.1", 0), backlog=2048)  # runwatch serve's backlog too
    print(f"listening on http://127.0.0.1:{sock.getsockname()[1]}", flush=True)
    config = uvicorn.Config(baseline_app(), log_level="warning", timeout_graceful_shutdown=3)
    uvicorn.Server(config).run(sockets=[sock])


# -- the driver -------------------------------------------------------------------------------------
def produce(http: httpx.Client, path: str, rate: float, seconds: float, batch0: int) -> Result:
    """Post ``rate`` batches/s for ``seconds`` s on an absolute schedule, up to IN_FLIGHT posts
    at once (so a slow ack does not lower the offered rate). Returns the count, the achieved
    rate and each POST's round trip (its ack)."""
    count, acks = round(rate * seconds), array("d")
    slots = threading.BoundedSemaphore(IN_FLIGHT)

    def post(i: int) -> None:
        try:
            step0 = (batch0 + i) * POINTS_PER_BATCH
            now = time.time()
            points = [[step0 + k, now, {"v": float(step0 + k)}] for k in range(POINTS_PER_BATCH)]
            body = {"producer": "bench", "batch_seq": batch0 + i + 1, "points": points}
            http.post(path, content=msgspec.json.encode(body), headers=JSON).raise_for_status()
            acks.append((time.time() - now) * 1000.0)
        finally:
            slots.release()

    start = time.monotonic()
    with ThreadPoolExecutor(IN_FLIGHT) as pool:
        futures = []
        for i in range(count):
            time.sleep(max(0.0, start + i / rate - time.monotonic()))
            slots.acquire()
            futures.append(pool.submit(post, i))
        for future in futures:
            future.result()
    rate = count / (time.monotonic() - start)
    return {"count": count, "rate": rate, "ack_ms": common.summary(acks)}


def measure(name: str, url: str, run_id: str, first_seq: int, pid: int, args: Any) -> Result:
    """Viewers connect; the two phases run; returns the viewer's results plus server CPU."""
    phases = [(args.rate, args.seconds, 15.0), (args.burst_rate, args.burst_seconds, 10.0)]
    sizes = [round(r * s) for r, s, _ in phases]
    live = f"/api/v1/runs/{run_id}/live?since={first_seq - 1}"
    viewers = Path(__file__).with_name("fanout_viewers.py")
    cmd = [sys.executable, str(viewers), *([] if args.plain else ["--deflate"]), url, live,
           str(args.viewers), str(first_seq), str(POINTS_PER_BATCH)]  # fmt: skip
    proc = subprocess.Popen([*cmd, *map(str, sizes)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)  # fmt: skip
    assert proc.stdin is not None
    posted, lines = 0, common.Lines(proc)
    pids = {"server": pid, "client": proc.pid, "producer": os.getpid()}
    procs = {name: psutil.Process(p) for name, p in pids.items()}
    try:
        ready = lines.wait("READY", 120)
        if not ready:
            raise RuntimeError(f"{name}: viewers did not connect")
        print(f"  {name}: {args.viewers} viewers connected in {ready.split()[1]} s", flush=True)
        cpu_use, produced = [], []
        limits = httpx.Limits(max_connections=IN_FLIGHT)
        with httpx.Client(base_url=url, timeout=30, limits=limits) as http:
            for i, (rate, seconds, grace) in enumerate(phases):
                cpu0, t0 = common.cpu_snapshot(procs), time.perf_counter()
                produced.append(
                    produce(http, f"/api/v1/runs/{run_id}/batches", rate, seconds, posted)
                )
                posted += produced[-1]["count"]
                if not lines.wait(f"DONE {i}", grace):
                    proc.stdin.write(f"CUT {i}\n")
                    proc.stdin.flush()
                    lines.wait(f"DONE {i}", 30)
                cpu_use.append(
                    common.cpu_percent(cpu0, common.cpu_snapshot(procs), time.perf_counter() - t0)
                )
                time.sleep(1.0)
        result: Result = json.loads(lines.wait("RESULT", 60)[len("RESULT ") :])
    finally:
        proc.kill()
        proc.wait(10)
    for phase, cpu, prod in zip(result["phases"], cpu_use, produced, strict=True):
        phase["cpu_pct"], phase["producer"] = cpu, prod
    return result


def run_runwatch(args: Any, tmp: Path) -> Result:
    server = common.Server(tmp / "data").start()
    try:
        created = httpx.post(f"{server.url}/api/v1/runs", json={"project": "bench-fanout"}).json()
        seq = httpx.get(f"{server.url}/api/v1/runs/{created['id']}").json()["seq"]
        return measure("runwatch", server.url, created["id"], seq + 1, server.pid, args)
    finally:
        server.stop()


def run_baseline(args: Any) -> Result:
    cmd = [sys.executable, __file__, "--serve-baseline"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        line = common.Lines(proc).wait("listening on ", 30)
        if not line:
            raise RuntimeError("the baseline server did not start")
        url = line.split()[-1]
        return measure("bare loop", url, "bare", 1, proc.pid, args)
    finally:
        common.stop(proc)


def us_per_send(phase: Result) -> float:
    """Server CPU µs per record delivered to one viewer."""
    return float(phase["cpu_pct"]["server"] * 1e4 / max(phase["sends_per_s"], 1e-9))


def least_disturbed(rounds: list[Result]) -> list[Result]:
    """Per phase, the system's round in which other processes took the least CPU."""
    phases = range(len(rounds[0]["phases"]))
    return [
        min((r["phases"][i] for r in rounds), key=lambda p: p["cpu_pct"]["others"]) for i in phases
    ]


def report(results: dict[str, list[Result]], args: Any) -> None:
    kind = "plain" if args.plain else "permessage-deflate offered"
    print(f"\n{args.viewers:,} viewers ({kind}), {POINTS_PER_BATCH} points/batch · "
          f"{common.machine_line()}")  # fmt: skip
    header = ["phase / server", "batches/s", "ack p99", "delivered/expected", "frames", "rec/frame",
              "sends/s", "p50 ms", "p99 ms", "max ms", "late", "CPU server", "client", "others",
              "µs/send"]  # fmt: skip
    labels = [f"steady {args.rate:g}/s x {args.seconds:g}s",
              f"burst {args.burst_rate:g}/s x {args.burst_seconds:g}s"]  # fmt: skip
    rows = []
    for i, label in enumerate(labels):
        for name, rounds in results.items():
            for n, res in enumerate(rounds):
                p = res["phases"][i]
                lat, cpu, prod = p["latency_ms"], p["cpu_pct"], p["producer"]
                rows.append([f"{label}: {name} #{n + 1}", prod["rate"], prod["ack_ms"]["p99"],
                             f"{p['delivered']:,}/{p['expected']:,}", p["frames"],
                             p["delivered"] / max(p["frames"], 1), p["sends_per_s"], lat["p50"],
                             lat["p99"], lat["max"], f"{p['rounds_late_pct']:.1f}%",
                             *(f"{cpu[k]:.0f}%" for k in ("server", "client", "others")),
                             us_per_send(p)])  # fmt: skip
    title = ("delivery per phase and round (latency = arrival - send wall time; late = % of rounds "
             "> 100 ms; CPU = % of one core; others = the rest of this shared machine)")  # fmt: skip
    common.print_table(title, header, rows)
    for name, rounds in results.items():
        for n, res in enumerate(rounds):
            c = res["checks"]
            print(f"  {name} #{n + 1}: {c['viewers_exact']}/{args.viewers} viewers saw every seq "
                  f"exactly once, in order (dups {c['dups']}, gaps {c['gaps']}, "
                  f"resets {c['resets']}, not received by the cut {c['missing']:,})")  # fmt: skip
    rw, bare = least_disturbed(results["runwatch"]), least_disturbed(results["bare loop"])
    print("\nrunwatch / bare loop (per phase, each side's least disturbed round):")
    for i, label in enumerate(labels):
        print(f"  {label}: sends/s {common.ratio(rw[i]['sends_per_s'], bare[i]['sends_per_s'])}, "
              f"p99 {common.ratio(rw[i]['latency_ms']['p99'], bare[i]['latency_ms']['p99'])}, "
              f"server CPU per send {common.ratio(us_per_send(rw[i]), us_per_send(bare[i]))}")  # fmt: skip
    print("targets (runwatch, least disturbed round):")
    steady, burst = rw
    common.check(
        "every viewer gets every record (steady)", steady["delivered"] == steady["expected"]
    )
    common.check(f"p99 <= 250 ms (steady): {steady['latency_ms']['p99']:.0f} ms",
          steady["latency_ms"]["p99"] <= 250)  # fmt: skip
    gain = burst["sends_per_s"] / max(bare[1]["sends_per_s"], 1e-9)
    common.check(f">= 4x the bare loop's send rate (burst): {gain:.2f}x", gain >= 4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--viewers", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=10.0, help="steady batches/s")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--burst-rate", type=float, default=200.0)
    parser.add_argument("--burst-seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds per server")
    parser.add_argument("--plain", action="store_true",
                        help="viewers offer no permessage-deflate (browsers do offer it)")  # fmt: skip
    parser.add_argument("--serve-baseline", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_baseline:
        serve_baseline()
        return
    common.raise_nofile()
    os.environ.pop("RUNWATCH_URL", None)
    results: dict[str, list[Result]] = {"runwatch": [], "bare loop": []}
    for n in range(args.rounds):
        with tempfile.TemporaryDirectory(prefix="bench-fanout-") as tmp:
            print(f"round {n + 1}: runwatch ...", flush=True)
            results["runwatch"].append(run_runwatch(args, Path(tmp)))
        print(f"round {n + 1}: bare loop ...", flush=True)
        results["bare loop"].append(run_baseline(args))
    report(results, args)


if __name__ == "__main__":
    main()
