"""A training-loop stand-in for ``run_page.py`` and ``soak.py``: one SDK run, logging steadily.

Started by them (not meant to be run by hand)::

    python benchmarks/telemetry_producer.py URL PROJECT NAME [--rate 10] [--seconds 900] ...

Prints ``RUN <id>`` once the run handle exists, then ticks ``--rate`` times a second on an
absolute schedule until ``STOP`` is read on stdin or ``--seconds`` have passed. Each tick:
``--steps-per-tick`` steps of ``run.log`` of ``--keys`` metrics (the first ``--vitals`` with
``vital=True``); ``--events`` events on average (births, merges, evaluations); a FIFO append of
``--stream-points`` points to the point set "stream" (cap ``--points``). Every ``--table-every``
s the "leaderboard" table is replaced (20 rows); every ``--embed-every`` s the point set
"embedding" is replaced (``--points`` points in drifting clusters); every 5 s a 64-bin snapshot
"weights/hist". The SDK adds its own system vitals (``sys/...``, 4 keys) every 5 s. Then
``run.finish()`` and ``DONE <json>``: ticks, late ticks (> 1 tick behind), and the time each
tick's work took (data generation included).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import threading
import time
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common

import runwatch

LEADERBOARD_ROWS = 20
CLUSTERS = 8


def embedding(n: int, t: float, rng: random.Random) -> list[dict[str, object]]:
    """``n`` points in CLUSTERS clusters whose centres turn slowly with time ``t``."""
    pts: list[dict[str, object]] = []
    for i in range(n):
        c = i % CLUSTERS
        angle = c * 2 * math.pi / CLUSTERS + t / 60
        x = 4 * math.cos(angle) + rng.gauss(0, 0.6)
        y = 4 * math.sin(angle) + rng.gauss(0, 0.6)
        pts.append({"x": round(x, 4), "y": round(y, 4), "cluster": f"c{c}", "id": i})
    return pts


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("project")
    parser.add_argument("name")
    parser.add_argument("--rate", type=float, default=10.0, help="ticks (log calls) per second")
    parser.add_argument("--seconds", type=float, default=900.0, help="hard bound on the loop")
    parser.add_argument("--keys", type=int, default=16)
    parser.add_argument("--vitals", type=int, default=4)
    parser.add_argument("--steps-per-tick", type=int, default=1, help="steps logged per tick")
    parser.add_argument("--events", type=float, default=0.3, help="events per tick, on average")
    parser.add_argument("--points", type=int, default=4000)
    parser.add_argument("--stream-points", type=int, default=20)
    parser.add_argument("--table-every", type=float, default=1.0)
    parser.add_argument("--embed-every", type=float, default=5.0)
    parser.add_argument("--run-dir", default=None)
    args = parser.parse_args()

    run = runwatch.init(project=args.project, name=args.name, url=args.url,
                        config={"rate": args.rate, "keys": args.keys}, run_dir=args.run_dir)  # fmt: skip
    print(f"RUN {run.id}", flush=True)
    stop = threading.Event()

    def read_stdin() -> None:
        for line in sys.stdin:
            if line.strip() == "STOP":
                break
        stop.set()

    threading.Thread(target=read_stdin, daemon=True).start()
    rng = random.Random(zlib.crc32(args.name.encode()))
    vital_keys = ["loss", "acc", "lr", "throughput"][: args.vitals]
    vital_keys += [f"vital/{i}" for i in range(args.vitals - len(vital_keys))]
    other_keys = [f"train/m{i:02d}" for i in range(args.keys - len(vital_keys))]
    period, start = 1.0 / args.rate, time.monotonic()
    next_table = next_embed = next_snap = 0.0
    tick, late, entity, cost_ms = 0, 0, 0, []
    while not stop.is_set() and time.monotonic() - start < args.seconds:
        due = start + tick * period
        wait = due - time.monotonic()
        if wait > 0:
            stop.wait(wait)
        elif wait < -period:
            late += 1
        now = time.monotonic() - start
        t0 = time.perf_counter()
        loss = 1.0 / (1 + tick / 100) + rng.gauss(0, 0.01)
        vitals = {
            "loss": loss,
            "acc": 1 - loss / 2,
            "lr": 3e-4,
            "throughput": 1000 + rng.gauss(0, 50),
        }
        for step in range(tick * args.steps_per_tick, (tick + 1) * args.steps_per_tick):
            run.log({k: vitals.get(k, rng.random()) for k in vital_keys}, step=step, vital=True)
            run.log({k: math.sin(step / (200 + j)) + rng.gauss(0, 0.05)
                     for j, k in enumerate(other_keys)}, step=step)  # fmt: skip
        while rng.random() < args.events / (1 + args.events):  # geometric, mean args.events
            entity += 1
            kind = rng.choice(("birth", "birth", "merge", "eval"))
            level = "warning" if rng.random() < 0.05 else "info"
            run.event(kind, entity=entity, level=level, size=rng.randint(1, 99), score=rng.random())
        if args.stream_points:
            pts = [{"x": rng.gauss(0, 3), "y": rng.gauss(0, 3), "cluster": f"s{tick % 4}",
                    "t": tick} for _ in range(args.stream_points)]  # fmt: skip
            run.points("stream", pts, replace=False, cap=args.points)
        if now >= next_table:
            next_table = now + args.table_every
            rows = [{"rank": r + 1, "entity": rng.randint(1, max(entity, 1)),
                     "score": round(rng.random(), 4), "loss": round(loss * (1 + r / 10), 4),
                     "age": tick - rng.randint(0, max(tick, 1))}
                    for r in range(LEADERBOARD_ROWS)]  # fmt: skip
            run.table("leaderboard", rows)
        if args.points and now >= next_embed:
            next_embed = now + args.embed_every
            run.points("embedding", embedding(args.points, now, rng), replace=True)
        if now >= next_snap:
            next_snap = now + 5.0
            run.snapshot("weights/hist", [rng.gauss(0, 1) for _ in range(64)])
        cost_ms.append((time.perf_counter() - t0) * 1000)
        tick += 1
    run.finish(timeout=60)
    print("DONE " + json.dumps({"ticks": tick, "late": late, "seconds": time.monotonic() - start,
                                "tick_ms": common.summary(cost_ms)}), flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
