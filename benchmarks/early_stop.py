"""Early termination benchmark: ingest throughput into a sweep trial with hyperband enforced.

Run from the repo root::

    .venv/bin/python benchmarks/early_stop.py [--batches 100] [--steps 1000] [--rounds 5]

Each case is the pipeline a server runs: a fresh SQLite store in a temp dir, and ``--batches``
batches of ``--steps`` steps x 4 metrics ingested one after another into one run. ``none``: no
early termination listening; ``other run``: the :class:`EarlyStopper` listening, the run no
sweep trial; ``hyperband trial``: the run is a trial of a sweep with ``early_terminate
{type: hyperband, min_iter: 1, eta: 2}`` on ``loss``, so every power of two up to the last step
is a rung the store records and judges (the trial passes each: the first at a rung always
does). The clock runs from the first ingest until the last batch is acked *and* the stopper has
evaluated every commit. Cases run interleaved for ``--rounds`` rounds; medians are shown, as
points per wall second and per CPU second of the process (the verdict uses CPU time: on a
shared machine wall time mostly measures the neighbours). Goal: listening costs a run that is
no trial (every run on a server) at most 5% of the ingest CPU; the trial's extra cost is shown
per rung judged (one store write each).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common
from rules import KEYS, batches

from runwatch.protocol import Batch, RunCreate
from runwatch.server.sweeps import propose
from runwatch.store.base import SweepCreate
from runwatch.store.prepare import prepare_batch
from runwatch.store.sqlite import SqliteStore
from runwatch.sweeps.hyperband import plan_of
from runwatch.sweeps.spec import parse_sweep
from runwatch.sweeps.stopper import EarlyStopper

CASES = ("none", "other run", "hyperband trial")
GOAL = 0.05
SPEC = {
    "method": "random",
    "metric": {"name": "loss", "goal": "minimize"},
    "early_terminate": {"type": "hyperband", "min_iter": 1, "eta": 2},
    "parameters": {"x": {"min": 0.0, "max": 1.0}},
}


async def case(name: str, work: list[Batch]) -> tuple[float, float]:
    """Points per wall second and per CPU second."""
    prepared = [prepare_batch(b) for b in work]  # the same decode cost for every case: not timed
    points = sum(p.points_count for p in prepared)
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp))
        await store.open()
        stopper = EarlyStopper(store)
        if name != "none":
            store.add_commit_listener(stopper.on_commit)
        try:
            run_id = None
            if name == "hyperband trial":
                sweep = SweepCreate("s", "bench", None, "random", SPEC, 1, 10, "run_cap")
                await store.create_sweep(sweep)
                trial = (await store.claim_trial("s", "bench", propose)).trial
                assert trial is not None
                run_id = trial.run_id
            run = await store.create_run(RunCreate(project="bench", id=run_id))
            await stopper.start()
            started, cpu = time.perf_counter(), time.process_time()
            for p in prepared:
                await store.ingest(run.id, p)
            await stopper.idle()
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
            assert stopper.stopped == 0 and stopper.dropped == 0, stopper.health()
        finally:
            await stopper.stop()
            await store.close()
    return points / elapsed, points / cpu


async def main(args: argparse.Namespace) -> int:
    work = batches(args.batches, args.steps)
    wall: dict[str, list[float]] = {n: [] for n in CASES}
    cpu: dict[str, list[float]] = {n: [] for n in CASES}
    plan = plan_of(parse_sweep(SPEC))
    assert plan is not None
    rungs = sum(r < args.batches * args.steps for r in plan.rungs)  # the steps are 0..n-1
    for _ in range(args.rounds):
        for n in CASES:
            w, c = await case(n, work)
            wall[n].append(w)
            cpu[n].append(c)
    base, base_cpu = statistics.median(wall["none"]), statistics.median(cpu["none"])
    rows = []
    for n in CASES:
        rate, per_cpu = statistics.median(wall[n]), statistics.median(cpu[n])
        rows.append([
            n, rate, min(wall[n]), max(wall[n]), common.ratio(rate, base), per_cpu,
            common.ratio(per_cpu, base_cpu),
        ])  # fmt: skip
    points = args.batches * args.steps * len(KEYS)
    title = (
        f"Ingest with hyperband early termination: {points:,} points per case ({args.batches}"
        f" batches x {args.steps} steps x {len(KEYS)} keys; {rungs} rungs judged on the trial),"
        f" median of {args.rounds} interleaved rounds\n{common.machine_line()}"
    )
    header = ["case", "points/s", "min", "max", "vs none", "points/CPU-s", "vs none (CPU)"]
    common.print_table(title, header, rows)
    cost = 1 - statistics.median(cpu["other run"]) / base_cpu
    wall_cost = 1 - statistics.median(wall["other run"]) / base
    per_rung = (points / statistics.median(cpu["hyperband trial"]) - points / base_cpu) / rungs
    verdict = "ok" if cost <= GOAL else "OVER"
    print(
        f"\nlistening costs a run that is no trial {cost * 100:.1f}% of ingest CPU (wall:"
        f" {wall_cost * 100:.1f}%); goal <= {GOAL * 100:.0f}%: {verdict}. On the trial: about"
        f" {per_rung * 1000:.1f} ms of CPU per rung judged"
    )
    return 0 if cost <= GOAL else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batches", type=int, default=100)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    sys.exit(asyncio.run(main(parser.parse_args())))
