"""Rules benchmark: ingest throughput with 0, 10 and 100 active watch rules on the run.

Run from the repo root::

    .venv/bin/python benchmarks/rules.py [--batches 100] [--steps 1000] [--rounds 5]

Each case is the same in-process pipeline a server runs: a fresh SQLite store in a temp dir,
a :class:`RuleEngine` listening to its commits (timer on, as in ``serve``), and ``--batches``
batches of ``--steps`` steps x 4 metrics (loss falling, so plateau rules see improvements; acc,
lr, grad_norm) prepared with ``prepare_batch`` and ingested one after another. The clock runs
from the first ingest until the last batch is acked *and* the engine has evaluated every
commit, so the rules' whole cost is inside the number. The rules (none fires: an alert is a
rare event, not the steady state) cycle through NaN, threshold above/below, plateau by steps
and by minutes, and stalled, over the 4 keys. Cases run interleaved (0, 10, 100, 0, 10, …) for
``--rounds`` rounds; the median is shown, as points per wall second and per CPU second of
the process (the verdict uses CPU time: on a shared machine wall time mostly measures the
neighbours). Goal: 100 rules cost at most 10% of the throughput.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common
import msgspec

from runwatch.bus import MemoryBus
from runwatch.protocol import Batch, PointRow, RunCreate
from runwatch.rules.engine import RuleEngine
from runwatch.rules.spec import RuleIn
from runwatch.store.prepare import prepare_batch
from runwatch.store.sqlite import SqliteStore

KEYS = ("loss", "acc", "lr", "grad_norm")
CASES = (0, 10, 100)
GOAL = 0.10


def rule(i: int) -> RuleIn:
    key = KEYS[i % len(KEYS)]
    conditions: list[dict[str, Any]] = [
        {"type": "nonfinite", "key": key},
        {"type": "threshold", "key": key, "op": "above", "value": 1e12, "points": 3},
        {"type": "threshold", "key": key, "op": "below", "value": -1e12},
        {"type": "plateau", "key": key, "mode": "min", "steps": 10**12},
        {"type": "plateau", "key": key, "mode": "max", "minutes": 600},
        {"type": "stalled", "minutes": 600},
    ]
    spec = {"name": f"rule {i}", "condition": conditions[i % len(conditions)]}
    return msgspec.convert(spec, RuleIn)


def batches(n: int, steps: int) -> list[Batch]:
    now = time.time()
    out = []
    for b in range(n):
        rows = []
        for s in range(b * steps, (b + 1) * steps):
            values = {
                "loss": 1.0 / (s + 1), "acc": 1 - math.exp(-s / 5e4), "lr": 3e-4,
                "grad_norm": 1.0 + (s % 17) / 17,
            }  # fmt: skip
            rows.append(PointRow(s, now + s * 1e-3, values))
        out.append(Batch(producer="bench", batch_seq=b + 1, points=rows))
    return out


async def case(n_rules: int, work: list[Batch]) -> tuple[float, float]:
    """Points per wall second and per CPU second (all threads of this process: the writer
    thread's commits and the event loop's evaluation) from the first ingest until every commit
    is acked and evaluated."""
    prepared = [prepare_batch(b) for b in work]  # the same decode cost for every case: not timed
    points = sum(p.points_count for p in prepared)
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp))
        await store.open()
        engine = RuleEngine(store, MemoryBus())
        store.add_commit_listener(engine.on_commit)
        try:
            run = await store.create_run(RunCreate(project="bench"))
            for i in range(n_rules):
                await store.add_rule("bench", rule(i))
            await engine.start()
            started, cpu = time.perf_counter(), time.process_time()
            for p in prepared:
                await store.ingest(run.id, p)
            await engine.idle()
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
            assert engine.fired == 0 and engine.dropped == 0, engine.health()
            assert engine.health()["rules"] == n_rules
        finally:
            await engine.stop()
            await store.close()
    return points / elapsed, points / cpu


async def main(args: argparse.Namespace) -> int:
    work = batches(args.batches, args.steps)
    wall: dict[int, list[float]] = {n: [] for n in CASES}
    cpu: dict[int, list[float]] = {n: [] for n in CASES}
    for _ in range(args.rounds):
        for n in CASES:
            w, c = await case(n, work)
            wall[n].append(w)
            cpu[n].append(c)
    base, base_cpu = statistics.median(wall[0]), statistics.median(cpu[0])
    rows = []
    for n in CASES:
        rate, per_cpu = statistics.median(wall[n]), statistics.median(cpu[n])
        rows.append([
            f"{n} rules", rate, min(wall[n]), max(wall[n]), common.ratio(rate, base),
            per_cpu, common.ratio(per_cpu, base_cpu),
        ])  # fmt: skip
    points = args.batches * args.steps * len(KEYS)
    title = (
        f"Ingest with active watch rules: {points:,} points per case ({args.batches} batches x"
        f" {args.steps} steps x {len(KEYS)} keys), median of {args.rounds} interleaved rounds"
        f"\n{common.machine_line()}"
    )
    header = ["case", "points/s", "min", "max", "vs 0", "points/CPU-s", "vs 0 (CPU)"]
    common.print_table(title, header, rows)
    # The verdict is on CPU time: on a shared, loaded machine wall time mostly measures the
    # neighbours (both are printed: compare the min/max spread with the difference).
    cost = 1 - statistics.median(cpu[100]) / base_cpu
    wall_cost = 1 - statistics.median(wall[100]) / base
    verdict = "ok" if cost <= GOAL else "OVER"
    print(
        f"\n100 rules cost {cost * 100:.1f}% of ingest CPU (wall: {wall_cost * 100:.1f}%);"
        f" goal <= {GOAL * 100:.0f}%: {verdict}"
    )
    return 0 if cost <= GOAL else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batches", type=int, default=100)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    sys.exit(asyncio.run(main(parser.parse_args())))
