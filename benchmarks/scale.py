"""Scale-out benchmark: PostgreSQL + Redis replicas against the embedded SQLite server.

Run from the repo root (about 1-2 minutes with the defaults; PostgreSQL and Redis on 127.0.0.1,
as ``make services`` starts them)::

    .venv/bin/python benchmarks/scale.py [--producers 4] [--ingest-seconds 8] [--batch 1000]
                                         [--viewers 50] [--rate 20] [--live-seconds 8]
                                         [--held 1000]

Servers, all real ``runwatch serve`` processes on loopback: S (SQLite in a temp dir, in-process
bus), and replicas A and B sharing a fresh PostgreSQL database and one Redis channel prefix.

1. Durable ingest: ``--producers`` producers, each with its own run, post batches of ``--batch``
   points back to back for ``--ingest-seconds`` s; a point counts once acknowledged (after
   commit). Setups: S; A alone; A and B (producers split between them). Ratios against S.
2. Live delivery: one producer posts 10-point batches at ``--rate``/s (each point's ``ts`` is its
   send time) for ``--live-seconds`` s; ``--viewers`` WebSocket viewers on the producer's own
   replica and as many on the other replica measure arrival - send time per record. The same on
   S (one server, in-process bus) for reference. Every viewer checks it saw each seq once, in
   order. Ratio: other replica / same replica.
3. Viewers held per replica: ``--held`` viewers on B (lean raw-socket clients, 100 handshakes at a
   time); B's resident memory before and after; then one batch posted to A and the time until
   every viewer on B has it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import secrets
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common
import httpx
import msgspec
import psutil
import psycopg

ADMIN_URLS = (
    "postgresql://postgres@127.0.0.1:5432/postgres",
    "postgresql://root@127.0.0.1:5432/postgres",
)
REDIS = "redis://127.0.0.1:6379/0"
JSON = {"content-type": "application/json"}


_encode = msgspec.json.encode


@contextlib.contextmanager
def fresh_database() -> Iterator[str]:
    """A new PostgreSQL database for this run, dropped afterwards."""
    for admin in ADMIN_URLS:
        with contextlib.suppress(psycopg.OperationalError):
            psycopg.connect(admin, connect_timeout=3).close()
            break
    else:
        raise SystemExit("PostgreSQL on 127.0.0.1:5432 does not answer (run `make services`)")
    name = f"runwatch_bench_{secrets.token_hex(4)}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        yield admin.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def new_run(url: str, project: str) -> tuple[str, int]:
    r = httpx.post(f"{url}/api/v1/runs", json={"project": project}, timeout=30)
    r.raise_for_status()
    return r.json()["id"], r.json()["seq"]


# -- 1. durable ingest -------------------------------------------------------------------------
def ingest(urls: list[str], producers: int, seconds: float, batch: int) -> dict[str, float]:
    """Points/s acknowledged by ``urls`` (producers assigned round-robin), and ack latency."""
    runs = [
        (urls[i % len(urls)], new_run(urls[i % len(urls)], "ingest")[0]) for i in range(producers)
    ]
    acked = [0] * producers
    latencies: list[float] = []
    deadline = time.monotonic() + seconds

    def produce(i: int) -> None:
        url, run_id = runs[i]
        with httpx.Client(base_url=url, timeout=60, headers=JSON) as client:
            seq = 0
            while time.monotonic() < deadline:
                seq += 1
                now = time.time()
                rows = [[seq * batch + k, now, {"loss": k * 0.001}] for k in range(batch)]
                body = _encode({"producer": f"p{i}", "batch_seq": seq, "points": rows})
                t0 = time.perf_counter()
                r = client.post(f"/api/v1/runs/{run_id}/batches", content=body)
                latencies.append(time.perf_counter() - t0)
                if r.status_code == 200:
                    acked[i] += batch

    started = time.monotonic()
    threads = [threading.Thread(target=produce, args=(i,)) for i in range(producers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - started
    ordered = sorted(latencies)
    return {
        "points/s": sum(acked) / wall,
        "batches": len(latencies),
        "ack p50 ms": common.percentile(ordered, 0.5) * 1000,
        "ack p99 ms": common.percentile(ordered, 0.99) * 1000,
    }


# -- 2 and 3. live viewers ---------------------------------------------------------------------
class Viewer(common.RawWebSocket):
    """One viewer: latency per points record, and whether seqs came once and in order."""

    def __init__(self, request: bytes, since: int) -> None:
        super().__init__(request)
        self.last = since
        self.in_order = True
        self.latency: list[float] = []

    def on_message(self, payload: bytes, now: float) -> None:
        data = common.decode_live(payload)
        for m in data if isinstance(data, list) else [data]:
            if m.type in ("reset", "run.closed"):
                continue
            self.in_order = self.in_order and m.seq == self.last + 1
            self.last = m.seq
            if m.points:
                first = next(iter(m.points.values()))
                self.latency.append(now - first.ts[0])


async def open_viewers(url: str, run_id: str, since: int, count: int) -> list[Viewer]:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    request = Viewer.handshake(host, int(port), f"/api/v1/runs/{run_id}/live?since={since}")
    loop = asyncio.get_running_loop()
    viewers: list[Viewer] = []
    for start in range(0, count, 100):  # 100 handshakes at a time
        batch = [Viewer(request, since) for _ in range(min(100, count - start))]
        await asyncio.gather(*(loop.create_connection(v.itself, host, int(port)) for v in batch))
        await asyncio.gather(*(v.ready for v in batch))
        viewers += batch
    return viewers


def post_paced(url: str, run_id: str, rate: float, seconds: float) -> int:
    """10-point batches at ``rate``/s on an absolute schedule; returns how many were acked."""
    count = int(rate * seconds)
    acked = 0
    start = time.monotonic()
    with httpx.Client(base_url=url, timeout=30, headers=JSON) as client:
        for i in range(1, count + 1):
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)  # the schedule of the offered load
            now = time.time()
            rows = [[i * 10 + k, now, {"v": float(k)}] for k in range(10)]
            body = _encode({"producer": "live", "batch_seq": i, "points": rows})
            acked += client.post(f"/api/v1/runs/{run_id}/batches", content=body).status_code == 200
    return acked


async def until_delivered(viewers: list[Viewer], records: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while any(len(v.latency) < records for v in viewers):
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)  # poll interval
    return True


def latency_row(name: str, viewers: list[Viewer], records: int) -> list[Any]:
    ordered = sorted(x * 1000 for v in viewers for x in v.latency)
    delivered = sum(len(v.latency) for v in viewers)
    ok = all(v.in_order for v in viewers)
    return [
        name,
        len(viewers),
        f"{delivered}/{records * len(viewers)}",
        common.percentile(ordered, 0.5),
        common.percentile(ordered, 0.99),
        "yes" if ok else "NO",
    ]


async def live(
    producer_url: str, groups: list[tuple[str, str]], viewers: int, rate: float, seconds: float
) -> list[list[Any]]:
    """One producer on ``producer_url``; ``viewers`` viewers per (name, url) group."""
    run_id, seq = new_run(producer_url, "live")
    opened = [(name, await open_viewers(url, run_id, seq, viewers)) for name, url in groups]
    acked = await asyncio.to_thread(post_paced, producer_url, run_id, rate, seconds)
    await until_delivered([v for _, vs in opened for v in vs], acked, 15)
    rows = [latency_row(name, vs, acked) for name, vs in opened]
    for _, vs in opened:
        for v in vs:
            v.close()
    return rows


async def held(producer_url: str, replica: common.Server, count: int) -> list[Any]:
    run_id, seq = new_run(producer_url, "held")
    process = psutil.Process(replica.pid)
    before = process.memory_info().rss
    t0 = time.monotonic()
    viewers = await open_viewers(replica.url, run_id, seq, count)
    opened_s = time.monotonic() - t0
    await asyncio.sleep(1.0)  # let the replica settle its per-connection state before measuring
    after = process.memory_info().rss
    await asyncio.to_thread(post_paced, producer_url, run_id, 1, 1)
    ok = await until_delivered(viewers, 1, 30)
    ordered = sorted(x * 1000 for v in viewers for x in v.latency)
    for v in viewers:
        v.close()
    return [
        count,
        opened_s,
        (after - before) / 1024 / count,
        after / 2**20,
        common.percentile(ordered, 0.5),
        common.percentile(ordered, 0.99),
        "yes" if ok else "NO",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--producers", type=int, default=4)
    parser.add_argument("--ingest-seconds", type=float, default=8.0)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--viewers", type=int, default=50)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--live-seconds", type=float, default=8.0)
    parser.add_argument("--held", type=int, default=1000)
    args = parser.parse_args()
    common.raise_nofile(4 * args.held + 1000)
    print(f"scale-out benchmark · {common.machine_line()}")
    tmp = Path(tempfile.mkdtemp(prefix="runwatch-scale-"))
    with fresh_database() as pg_url:
        shared = ["--store", pg_url, "--bus", f"{REDIS}?prefix=bench-{secrets.token_hex(4)}:"]
        s = common.Server(tmp / "s").start()
        a = common.Server(tmp / "a", extra_args=shared).start()
        b = common.Server(tmp / "b", extra_args=shared).start()
        try:
            setups = [("SQLite, 1 server", [s.url]), ("PostgreSQL, 1 replica", [a.url])]
            setups.append(("PostgreSQL, 2 replicas", [a.url, b.url]))
            results = [
                (name, ingest(urls, args.producers, args.ingest_seconds, args.batch))
                for name, urls in setups
            ]
            base = results[0][1]["points/s"]
            common.print_table(
                f"1. durable ingest: {args.producers} producers, {args.batch} points per batch, "
                f"{args.ingest_seconds:g} s",
                ["setup", "points/s", "vs SQLite", "batches", "ack p50 ms", "ack p99 ms"],
                [
                    [name, r["points/s"], common.ratio(r["points/s"], base), r["batches"],
                     r["ack p50 ms"], r["ack p99 ms"]]
                    for name, r in results
                ],
            )  # fmt: skip

            rows = asyncio.run(
                live(a.url, [("PG+Redis: same replica (A)", a.url), ("PG+Redis: other replica (B)", b.url)],
                     args.viewers, args.rate, args.live_seconds)
            )  # fmt: skip
            rows += asyncio.run(
                live(s.url, [("SQLite+memory: 1 server", s.url)], args.viewers, args.rate, args.live_seconds)
            )  # fmt: skip
            common.print_table(
                f"2. live delivery: {args.rate:g} batches/s for {args.live_seconds:g} s, "
                "producer on A (or S)",
                [
                    "viewers on",
                    "viewers",
                    "delivered",
                    "p50 ms",
                    "p99 ms",
                    "each seq once, in order",
                ],
                rows,
            )
            print(
                f"  other replica / same replica: p50 {common.ratio(rows[1][3], rows[0][3])}, "
                f"p99 {common.ratio(rows[1][4], rows[0][4])}"
            )

            row = asyncio.run(held(a.url, b, args.held))
            common.print_table(
                "3. viewers held by replica B (producer on A)",
                [
                    "viewers",
                    "open s",
                    "KiB/viewer",
                    "B RSS MiB",
                    "1 batch p50 ms",
                    "p99 ms",
                    "all got it",
                ],
                [row],
            )
        finally:
            for server in (s, a, b):
                server.stop()


if __name__ == "__main__":
    main()
