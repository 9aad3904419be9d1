"""Range-query cost against the buckets it returns: ``Store.metrics`` over one long series.

Run from the repo root, with PostgreSQL on 127.0.0.1:5432 (``make services``)::

    .venv/bin/python benchmarks/metrics_query.py [--points 2000000] [--repeat 7]

On each backend (SQLite, then PostgreSQL in a fresh database, dropped afterwards) one series of
``--points`` points (one per step) is loaded once, in batches of 10,000 steps, through the Store
protocol; then the whole series is queried on the step axis at several ``max_points``. Prints
one table: the median query time (ms) and that time per 1,000 buckets (or raw points) returned.
A query whose cost follows what it returns keeps the last column flat.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from common import scratch_database

from runwatch.protocol import Batch, PointRow, RunCreate
from runwatch.store.base import Store
from runwatch.store.postgres import PostgresStore
from runwatch.store.prepare import prepare_batch
from runwatch.store.sqlite import SqliteStore

MAX_POINTS = (100, 1_000, 5_000, 20_000)
BATCH = 10_000


async def load(store: Store, points: int) -> str:
    """One run with a ``loss`` series of ``points`` steps; returns the run id."""
    run = await store.create_run(RunCreate(project="bench"))
    for seq, first in enumerate(range(0, points, BATCH), 1):
        rows = [
            PointRow(s, 1.7e9 + s / 100, {"loss": 1.0 / (1 + s) + (s % 7) * 1e-3})
            for s in range(first, min(first + BATCH, points))
        ]
        await store.ingest(run.id, prepare_batch(Batch("bench", seq, points=rows)))
    return run.id


async def measure(store: Store, points: int, repeat: int) -> dict[int, tuple[float, int]]:
    """Per max_points: (median ms, buckets or raw points returned)."""
    await store.open()
    try:
        run_id = await load(store, points)
        out = {}
        for max_points in MAX_POINTS:
            took = []
            for _ in range(repeat):
                t = time.perf_counter()
                result = await store.metrics(run_id, ["loss"], None, None, max_points, "step")
                took.append((time.perf_counter() - t) * 1000)
            out[max_points] = (statistics.median(took), len(result.series["loss"].x))
        return out
    finally:
        await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--points", type=int, default=2_000_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    with scratch_database() as pg_url:
        with tempfile.TemporaryDirectory() as tmp:
            lite = asyncio.run(measure(SqliteStore(Path(tmp)), args.points, args.repeat))
        pg = asyncio.run(measure(PostgresStore(pg_url), args.points, args.repeat))
    print(f"Store.metrics over one series of {args.points:,} points, whole range, step axis\n")
    print(f"{'backend':<12}{'max_points':>11}{'returned':>10}{'ms':>10}{'ms/1k returned':>16}")
    for backend, rows in (("SQLite", lite), ("PostgreSQL", pg)):
        for max_points, (ms, returned) in rows.items():
            per = ms / max(returned, 1) * 1000
            print(f"{backend:<12}{max_points:>11,}{returned:>10,}{ms:>10.1f}{per:>16.2f}")


if __name__ == "__main__":
    main()
