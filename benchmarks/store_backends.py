"""Store backends side by side: durable ingest and range queries, SQLite vs PostgreSQL.

Run from the repo root, with PostgreSQL on 127.0.0.1:5432 (``make services``)::

    .venv/bin/python benchmarks/store_backends.py [--batches 200] [--steps 500] [--keys 5]

In one run, on each backend, through the Store protocol (what the server calls; no HTTP):

* ingest, 1 producer: ``--batches`` batches of ``--steps`` steps x ``--keys`` keys, one after
  another, each acknowledged after commit (points/s, and ms per batch p50/p99);
* ingest, 8 producers: the same number of batches from 8 concurrent producers, each its own run
  (what several training jobs do to one server), then 8 producers into one run;
* range query: a 2,000-bucket query over the whole 1-producer series (ms, median of 9).

PostgreSQL gets a fresh database (created and dropped here). Prints one table, with PostgreSQL's
numbers as ratios of SQLite's.
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

from runwatch.protocol import Batch, PointRow, RunCreate
from runwatch.store.base import Store
from runwatch.store.postgres import PostgresStore
from runwatch.store.prepare import prepare_batch
from runwatch.store.sqlite import SqliteStore


def batches(n: int, steps: int, keys: int, producer: str) -> list[Any]:
    names = [f"metric_{k}" for k in range(keys)]
    out = []
    for b in range(n):
        rows = [
            PointRow(s, 1.7e9 + s / 100, {k: s * 0.001 + i for i, k in enumerate(names)})
            for s in range(b * steps, (b + 1) * steps)
        ]
        out.append(prepare_batch(Batch(producer, b + 1, points=rows)))
    return out


async def one_producer(store: Store, work: list[Any]) -> tuple[str, float, list[float]]:
    run = await store.create_run(RunCreate(project="bench"))
    lat = []
    start = time.perf_counter()
    for b in work:
        t = time.perf_counter()
        await store.ingest(run.id, b)
        lat.append((time.perf_counter() - t) * 1000)
    return run.id, time.perf_counter() - start, lat


async def many_producers(store: Store, work: list[Any], producers: int, shared: bool) -> float:
    runs = [await store.create_run(RunCreate(project="bench")) for _ in range(producers)]

    async def produce(p: int) -> None:
        run_id = runs[0 if shared else p].id
        for b in work[p::producers]:
            # One run shared by all: each producer's batches need their own producer id.
            b = b if not shared else prepare_batch(_renamed(b, p))
            await store.ingest(run_id, b)

    start = time.perf_counter()
    await asyncio.gather(*(produce(p) for p in range(producers)))
    return time.perf_counter() - start


def _renamed(prepared: Any, p: int) -> Batch:
    rows = []
    for key, col in prepared.columns.items():
        for s, ts, v in zip(col.step, col.ts, col.value, strict=True):
            rows.append(PointRow(s, ts, {f"{key}_p{p}": v}))
    return Batch(f"producer-{p}", prepared.batch_seq, points=rows)


async def measure(store: Store, args: argparse.Namespace) -> dict[str, float]:
    await store.open()
    try:
        points = args.batches * args.steps * args.keys
        work = batches(args.batches, args.steps, args.keys, "p")
        run_id, took, lat = await one_producer(store, work)
        lat.sort()
        many = await many_producers(store, work, 8, shared=False)
        shared = await many_producers(store, work, 8, shared=True)
        queries = []
        for _ in range(9):
            t = time.perf_counter()
            await store.metrics(run_id, ["metric_0"], None, None, 2000, "step")
            queries.append((time.perf_counter() - t) * 1000)
        return {
            "1 producer points/s": points / took,
            "batch p50 ms": lat[len(lat) // 2],
            "batch p99 ms": lat[int(len(lat) * 0.99)],
            "8 runs points/s": points / many,
            "8 producers, 1 run points/s": points / shared,
            "2,000-bucket query ms": statistics.median(queries),
        }
    finally:
        await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--keys", type=int, default=5)
    args = parser.parse_args()
    with scratch_database() as pg_url:
        with tempfile.TemporaryDirectory() as tmp:
            lite = asyncio.run(measure(SqliteStore(Path(tmp)), args))
        pg = asyncio.run(measure(PostgresStore(pg_url), args))
    print(
        f"{args.batches} batches x {args.steps} steps x {args.keys} keys "
        f"({args.batches * args.steps * args.keys:,} points)\n"
    )
    print(f"{'':<30}{'SQLite':>12}{'PostgreSQL':>12}{'PG/SQLite':>11}")
    for key, value in lite.items():
        print(f"{key:<30}{value:>12,.1f}{pg[key]:>12,.1f}{pg[key] / value:>10.2f}x")


if __name__ == "__main__":
    main()
