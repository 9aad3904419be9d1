"""A streaming signal pipeline: units are born, merge and get deprecated; each unit's footprint
is a snapshot whose history runwatch keeps (log-spaced and on change).

    runwatch serve &            # or: runwatch demo
    python examples/streaming_pipeline.py --steps 2000

Open the run page: the event feed shows births/merges/deprecations live, each entity's history
is one click away, and the Snapshots tab scrubs through a footprint's versions.
"""

from __future__ import annotations

import argparse
import math
import random
import time

import runwatch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--delay", type=float, default=0.01, help="seconds per step (0: flat out)")
    args = parser.parse_args()
    rng = random.Random(7)
    config = {"max_units": 32, "merge_distance": 0.15, "decay": 0.98}
    with runwatch.init(project="streaming", name="pipeline", config=config) as run:
        units: dict[int, list[float]] = {}  # unit id -> footprint (a small vector)
        next_id = 0
        for step in range(args.steps):
            if len(units) < config["max_units"] and rng.random() < 0.05:
                units[next_id] = [rng.random() for _ in range(8)]
                run.event("birth", entity=next_id, size=len(units))
                next_id += 1
            for footprint in units.values():  # drift
                for i in range(len(footprint)):
                    footprint[i] = footprint[i] * config["decay"] + rng.gauss(0, 0.02)
            _merge_close(run, units, config["merge_distance"])
            for uid in [u for u, f in units.items() if max(f) < 0.05]:
                run.event("deprecate", entity=uid, level="warning", reason="faded")
                del units[uid]
            if step % 10 == 0:
                for uid, footprint in list(units.items())[:8]:
                    run.snapshot(f"footprint/{uid}", [round(v, 4) for v in footprint], step=step)
            signal = math.sin(step / 30) + rng.gauss(0, 0.1)
            run.log({"signal": signal, "units": len(units), "throughput": 900 + rng.random() * 200},
                    step=step, vital=step == 0)  # fmt: skip
            if run.should_stop:
                break
            if args.delay:
                time.sleep(args.delay)  # pace the demo so the page is watchable


def _merge_close(run: runwatch.Run, units: dict[int, list[float]], distance: float) -> None:
    ids = sorted(units)
    for a_pos, a in enumerate(ids):
        for b in ids[a_pos + 1 :]:
            if a in units and b in units and math.dist(units[a], units[b]) < distance:
                units[a] = [(x + y) / 2 for x, y in zip(units[a], units[b], strict=True)]
                del units[b]
                run.event("merge", entity=b, into=a)


if __name__ == "__main__":
    main()
