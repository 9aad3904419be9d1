"""Archive benchmark: range queries over a 10M-point series, against a naive scan and trackio.

Run: ``.venv/bin/python benchmarks/archive.py [--points 10000000]`` (a few minutes).

In one run, on the same series (a one-step spike planted in the middle):
- runwatch: 2,000-bucket queries over the full range and a 1% window (the store's own read
  path: pyramid blocks + raw edges), median of repeated runs;
- the naive plan: ``GROUP BY step / width`` over a plain indexed SQLite table of the raw points;
- trackio's ``SQLiteStorage.get_logs(max_points=2000)`` on a 1M-point series (its read path is
  too slow for 10M), cold (its read cache is bypassed by a fresh process-level key);
- the ingest cost of maintaining the pyramid: points/s with and without it.
Prints ratios; timing goals are the issue's: <= 20 ms full range, >= 50x the naive scan, spike
kept, ingest slowed by <= 25%.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import msgspec

from runwatch.protocol import Batch, RunCreate
from runwatch.store.prepare import prepare_batch
from runwatch.store.sql import points
from runwatch.store.sqlite import SqliteStore

BATCH = 50_000
MAX_POINTS = 2_000
REPEAT = 9


def series(n: int, spike_at: int) -> list[float]:
    rng = random.Random(7)
    values = [math.sin(i / 5000) + rng.gauss(0, 0.05) for i in range(n)]
    values[spike_at] = 1e3
    return values


def bodies(values: list[float]) -> list[bytes]:
    """The series as wire batches (built before timing: the producer's work, not the server's)."""
    base = time.time()
    out = []
    for b, start in enumerate(range(0, len(values), BATCH)):
        stop = min(start + BATCH, len(values))
        rows = [[i, base + i * 1e-3, {"v": values[i]}] for i in range(start, stop)]
        out.append(msgspec.json.encode({"producer": "bench", "batch_seq": b + 1, "points": rows}))
    return out


async def ingest(store: SqliteStore, wire: list[bytes]) -> tuple[str, float]:
    """The server's ingest path minus HTTP: decode, prepare, commit. Returns points/s."""
    run = await store.create_run(RunCreate(project="bench"))
    decoder = msgspec.json.Decoder(Batch)
    points = 0
    started = time.perf_counter()
    for body in wire:
        ack = await store.ingest(run.id, prepare_batch(decoder.decode(body)))
        points += ack.points
    return run.id, points / (time.perf_counter() - started)


def median_ms(fn: Any, repeat: int = REPEAT) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


async def runwatch_queries(store: SqliteStore, run_id: str, n: int) -> dict[str, Any]:
    window = (n // 2 - n // 200, n // 2 + n // 200)

    def query(start: float | None, end: float | None) -> Any:
        return asyncio.run_coroutine_threadsafe(
            store.metrics(run_id, ["v"], start, end, MAX_POINTS, "step"), loop
        ).result()

    loop = asyncio.get_running_loop()
    full = await asyncio.to_thread(lambda: median_ms(lambda: query(None, None)))
    narrow = await asyncio.to_thread(lambda: median_ms(lambda: query(*window)))
    result = (await store.metrics(run_id, ["v"], None, None, MAX_POINTS, "step")).series["v"]
    return {"full_ms": full, "window_ms": narrow, "buckets": len(result.x), "max": max(result.max)}


def naive(values: list[float], n: int, tmp: Path) -> dict[str, Any]:
    conn = sqlite3.connect(tmp / "naive.sqlite3")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("CREATE TABLE raw (step INTEGER, value REAL)")
    conn.execute("CREATE INDEX raw_step ON raw (step)")
    with conn:
        conn.executemany("INSERT INTO raw VALUES (?, ?)", enumerate(values))

    def scan(lo: int, hi: int) -> list[Any]:
        width = max(1, (hi - lo) // MAX_POINTS + 1)
        return conn.execute(
            "SELECT (step - ?) / ?, min(value), max(value), avg(value), count(*) FROM raw"
            " WHERE step BETWEEN ? AND ? GROUP BY 1",
            (lo, width, lo, hi),
        ).fetchall()

    window = (n // 2 - n // 200, n // 2 + n // 200)
    out = {
        "full_ms": median_ms(lambda: scan(0, n - 1), 3),
        "window_ms": median_ms(lambda: scan(*window), REPEAT),
        "max": max(r[2] for r in scan(0, n - 1)),
    }
    conn.close()
    return out


def trackio_read(values: list[float], tmp: Path) -> dict[str, Any] | str:
    os.environ["TRACKIO_DIR"] = str(tmp / "trackio")
    try:
        from trackio.sqlite_storage import SQLiteStorage
    except ImportError:
        return "skipped: trackio not installed (make bench installs it)"
    n = min(len(values), 1_000_000)
    for start in range(0, n, 100_000):
        chunk = range(start, min(start + 100_000, n))
        SQLiteStorage.bulk_log("bench", "run", [{"v": values[i]} for i in chunk], steps=list(chunk))
    started = time.perf_counter()
    logs = SQLiteStorage.get_logs("bench", "run", max_points=MAX_POINTS)
    cold = (time.perf_counter() - started) * 1000
    top = max((row.get("v", -math.inf) for row in logs), default=-math.inf)
    return {"points": n, "ms": cold, "rows": len(logs), "max": top}


async def pyramid_cost(values: list[float], tmp: Path) -> tuple[float, float]:
    """Ingest points/s with the pyramid, and with its upserts switched off (benchmark only)."""
    sample = bodies(values[:2_000_000])
    with_store = SqliteStore(tmp / "with")
    await with_store.open()
    _, with_rate = await ingest(with_store, sample)
    await with_store.close()
    original = points.pyramid_rows
    points.pyramid_rows = lambda sid, col: []
    try:
        without = SqliteStore(tmp / "without")
        await without.open()
        _, without_rate = await ingest(without, sample)
        await without.close()
    finally:
        points.pyramid_rows = original
    return with_rate, without_rate


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=10_000_000)
    n = parser.parse_args().points
    spike_at = n // 2 + 12_345
    values = series(n, spike_at)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        store = SqliteStore(tmp / "runwatch")
        await store.open()
        run_id, rate = await ingest(store, bodies(values))
        ours = await runwatch_queries(store, run_id, n)
        await store.close()
        scan = naive(values, n, tmp)
        peer = trackio_read(values, tmp)
        with_rate, without_rate = await pyramid_cost(values, tmp)
    report(n, spike_at, ours, scan, peer, rate, with_rate, without_rate)


def row(label: str, full: float | str, window: float | str, spike: bool | str) -> None:
    cells = [f"{v:>15.1f}" if isinstance(v, float) else f"{v:>15}" for v in (full, window)]
    print(f"{label:<36}{''.join(cells)}{spike!s:>12}")


def report(n: int, spike_at: int, ours: dict[str, Any], scan: dict[str, Any], peer: Any,
           rate: float, with_rate: float, without_rate: float) -> None:  # fmt: skip
    print(f"\narchive benchmark: {n:,} points, {MAX_POINTS} buckets, spike at step {spike_at:,}\n")
    row("query", "full range ms", "1% window ms", "spike kept")
    row("runwatch (pyramid + raw edges)", ours["full_ms"], ours["window_ms"], ours["max"] == 1e3)
    row("naive GROUP BY over raw rows", scan["full_ms"], scan["window_ms"], scan["max"] == 1e3)
    if isinstance(peer, dict):
        row(f"trackio get_logs ({peer['points']:,} pts)", peer["ms"], "-", peer["max"] == 1e3)
    else:
        print(f"trackio get_logs: {peer}")
    full, window = scan["full_ms"] / ours["full_ms"], scan["window_ms"] / ours["window_ms"]
    print(f"\nrunwatch vs naive scan: full range {full:.0f}x faster, 1% window {window:.1f}x")
    if isinstance(peer, dict):
        print(
            f"runwatch ({n:,}) vs trackio ({peer['points']:,}): {peer['ms'] / ours['full_ms']:.0f}x faster"
        )
    print(f"buckets returned: {ours['buckets']} (<= {MAX_POINTS})")
    slower = 100 * (1 - with_rate / without_rate)
    print(
        f"\ningest (decode + prepare + commit, {BATCH:,}-point batches, 2M points): "
        f"with pyramid {with_rate:,.0f} pts/s, without {without_rate:,.0f} pts/s: {slower:.0f}% slower"
    )
    print(f"({n:,}-point ingest into the store ran at {rate:,.0f} pts/s)")


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
