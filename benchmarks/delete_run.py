"""Deleting a big run while another run logs: how long it takes, and what it costs the other run.

Run from the repo root, with PostgreSQL on 127.0.0.1:5432 (``make services``)::

    .venv/bin/python benchmarks/delete_run.py [--points 1500000] [--purge-rows 500]

On each backend, through the Store protocol (what the server calls; no HTTP): a finished run
of ``--points`` points (5 keys, an event per 1,000 points) is deleted while a live run logs a
batch of 500 points every 10 ms. Measured: the first job (after it the run is gone from every
read), the whole deletion (every row purged, ``--purge-rows`` rows per write job), and the
live run's batch latency (acknowledged after commit), p50 and p99, during the purge and over
as many batches without one. PostgreSQL gets a fresh database (created and dropped here).
Prints one table.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from common import scratch_database

from runwatch.protocol import Batch, EventIn, PointRow, RunCreate, StatusIn
from runwatch.store.base import Store
from runwatch.store.postgres import PostgresStore
from runwatch.store.prepare import PreparedBatch, prepare_batch
from runwatch.store.sql.purge import PURGE_ROWS
from runwatch.store.sqlite import SqliteStore

KEYS = 5
STEPS_PER_BATCH = 2_000  # of the big run: 10,000 points a batch
LIVE_STEPS = 100  # of the live run: 500 points a batch
LIVE_PERIOD = 0.01  # seconds between the live run's batches


def big_batches(points: int) -> list[PreparedBatch]:
    names = [f"metric_{k}" for k in range(KEYS)]
    steps = points // KEYS
    out = []
    for b, start in enumerate(range(0, steps, STEPS_PER_BATCH)):
        rows = [
            PointRow(s, 1.7e9 + s / 100, {k: s * 0.001 + i for i, k in enumerate(names)})
            for s in range(start, min(start + STEPS_PER_BATCH, steps))
        ]
        events = [EventIn(kind="tick", ts=1.7e9, payload={"b": b}) for _ in range(10)]
        out.append(prepare_batch(Batch("big", b + 1, points=rows, events=events)))
    return out


def live_batch(seq: int) -> PreparedBatch:
    rows = [
        PointRow(s, time.time(), {f"m{k}": float(s) for k in range(KEYS)})
        for s in range(seq * LIVE_STEPS, (seq + 1) * LIVE_STEPS)
    ]
    return prepare_batch(Batch("live", seq + 1, points=rows))


async def live_while(
    store: Store, run_id: str, first: int, done: asyncio.Event | int
) -> list[float]:
    """Post the live run's batches every LIVE_PERIOD until ``done`` is set (or that many have
    gone); their latencies in ms."""
    latencies: list[float] = []
    seq = first
    while not (done.is_set() if isinstance(done, asyncio.Event) else len(latencies) >= done):
        batch = live_batch(seq)
        started = time.perf_counter()
        await store.ingest(run_id, batch)
        latencies.append((time.perf_counter() - started) * 1000)
        seq += 1
        await asyncio.sleep(LIVE_PERIOD)
    return latencies


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98] if len(values) > 1 else values[0]


async def measure(store: Store, points: int) -> dict[str, float]:
    await store.open()
    try:
        big = await store.create_run(RunCreate(project="bench", name="big"))
        for batch in big_batches(points):
            await store.ingest(big.id, batch)
        end = Batch("big", 10**6, status=StatusIn(state="succeeded", ts=time.time()))
        await store.ingest(big.id, prepare_batch(end))
        live = await store.create_run(RunCreate(project="bench", name="live"))
        done = asyncio.Event()
        during = asyncio.create_task(live_while(store, live.id, 0, done))
        started = time.perf_counter()
        await store.delete_run(big.id)
        first = time.perf_counter() - started
        await store.purged(big.id)
        total = time.perf_counter() - started
        done.set()
        with_purge = await during
        without = await live_while(store, live.id, len(with_purge), len(with_purge))
        return {
            "first job (ms)": first * 1000,
            "whole deletion (s)": total,
            "live batches during it": len(with_purge),
            "live p50, no purge (ms)": statistics.median(without),
            "live p50, purging (ms)": statistics.median(with_purge),
            "live p99, no purge (ms)": p99(without),
            "live p99, purging (ms)": p99(with_purge),
            "p99 purging / no purge": p99(with_purge) / p99(without),
        }
    finally:
        await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--points", type=int, default=1_500_000)
    parser.add_argument("--purge-rows", type=int, default=PURGE_ROWS)
    args = parser.parse_args()
    results: dict[str, dict[str, Any]] = {}
    with scratch_database() as pg_url:
        with tempfile.TemporaryDirectory() as tmp:
            lite = SqliteStore(Path(tmp), purge_rows=args.purge_rows)
            results["SQLite"] = asyncio.run(measure(lite, args.points))
        pg = PostgresStore(pg_url, purge_rows=args.purge_rows)
        results["PostgreSQL"] = asyncio.run(measure(pg, args.points))
    print(
        f"deleting a run of {args.points:,} points ({args.purge_rows} rows a purge job) while"
        f" another logs {LIVE_STEPS * KEYS} points every {LIVE_PERIOD * 1000:.0f} ms\n"
    )
    print(f"{'':<28}{'SQLite':>12}{'PostgreSQL':>12}")
    for key in results["SQLite"]:
        print(f"{key:<28}{results['SQLite'][key]:>12,.2f}{results['PostgreSQL'][key]:>12,.2f}")


if __name__ == "__main__":
    main()
