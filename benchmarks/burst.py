"""Burst benchmark: nothing logged is lost, at any rate, against trackio and W&B offline.

Run from the repo root (``make bench`` installs the peers from requirements-bench.lock)::

    .venv/bin/python benchmarks/burst.py [--points 10000000] [--paced 50000] [--budget 300]

Each system runs in its own fresh subprocess, in three loops:

* **tight**: ``--points`` calls of ``log({"loss": sin(i / 5000)}, step=i)`` as fast as one Python
  thread can (a system slower than ``--budget`` s stops there: "logged" says how far it got);
* **paced/cpu**: ``--paced`` calls at 5,000 per second, busy Python work between calls (the GIL
  is held, as a training step's Python is);
* **paced/sleep**: the same with a sleep between calls.

Systems: "deque+copy", the floor in the same run (what a non-blocking ``log()`` must do at
least: copy the dict, ``time.time()``, append to a deque; no thread); runwatch through a real
``runwatch serve`` on 127.0.0.1 (durable when ``finish()`` returns: every batch acknowledged
after the server's commit; read back from ``/api/v1/runs/{id}/metrics``); trackio in local mode
(durable at ``trackio.finish()``; read back with ``SQLiteStorage.get_logs``); W&B with
``WANDB_MODE=offline`` (durable when ``wandb.finish()`` returns; read back from its ``.wandb``
file with runwatch's own reader).

Columns: ``log()`` cost per call (``perf_counter_ns`` around each call), points stored / logged,
seconds from the first call until all are durable and until they are read back, and the peak RSS
the SDK added to this process (``ru_maxrss`` after minus before ``init``; W&B's separate
``wandb-core`` process is not counted).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common
import httpx
import numpy as np

SYSTEMS = ("deque+copy", "runwatch", "trackio", "wandb")
MODES = ("tight", "paced/cpu", "paced/sleep")
RATE = 5_000  # log() calls per second in the paced loops
NEEDS = {"trackio": ["trackio"], "wandb": ["wandb"]}
Result = dict[str, Any]
Logger = Callable[[int, dict[str, float]], None]


def loop(log: Logger, mode: str, n: int, budget_s: float) -> np.ndarray:
    """Call ``log`` ``n`` times in ``mode``; nanoseconds per call (fewer past the budget)."""
    out = np.zeros(n, dtype=np.int64)
    ns = time.perf_counter_ns
    deadline = ns() + int(budget_s * 1e9)
    tick = int(1e9 / RATE)
    next_at = ns()
    for i in range(n):
        if mode != "tight":
            next_at += tick
            if mode == "paced/cpu":
                while ns() < next_at:  # Python work holding the GIL
                    pass
            else:
                time.sleep(max(0.0, (next_at - ns()) / 1e9))
        values = {"loss": math.sin(i / 5000)}
        t0 = ns()
        log(i, values)
        t1 = ns()
        out[i] = t1 - t0
        if t1 > deadline:
            return out[: i + 1]
    return out


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def case_runwatch(mode: str, n: int, budget: float, tmp: Path, url: str) -> Result:
    import runwatch

    before = rss_mb()
    run = runwatch.init(project="bench-burst", name=mode, url=url, run_dir=tmp / "rw")
    t0 = time.perf_counter()
    samples = loop(lambda i, d: run.log(d, step=i), mode, n, budget)
    delivered = run.finish(timeout=600)
    durable = time.perf_counter() - t0
    with httpx.Client(base_url=url, timeout=60) as http:
        params: dict[str, Any] = {"keys": "loss", "max_points": 1}
        series = http.get(f"/api/v1/runs/{run.id}/metrics", params=params).json()["series"]
    loss = series.get("loss", {})
    stored = sum(loss["count"]) if "count" in loss else len(loss.get("x", []))
    note = "" if delivered else "finish() did not see everything acknowledged"
    return result(samples, stored, durable, time.perf_counter() - t0, rss_mb() - before, note)


def case_deque(mode: str, n: int, budget: float, tmp: Path, url: str) -> Result:
    """The least a non-blocking log() does (copy the dict, time.time(), append), no thread."""
    queue: deque[tuple[int, float, dict[str, float]]] = deque()
    samples = loop(lambda i, d: queue.append((i, time.time(), dict(d))), mode, n, budget)
    return result(samples, len(queue), math.nan, math.nan, math.nan)


def case_trackio(mode: str, n: int, budget: float, tmp: Path, url: str) -> Result:
    os.environ["TRACKIO_DIR"] = str(tmp / "trackio")  # read by trackio at import
    import trackio
    from trackio.sqlite_storage import SQLiteStorage

    before = rss_mb()
    trackio.init(project="bench", name="burst", embed=False, auto_log_gpu=False, auto_log_cpu=False)
    t0 = time.perf_counter()
    samples = loop(lambda i, d: trackio.log(d, step=i), mode, n, budget)
    trackio.finish()
    durable = time.perf_counter() - t0
    stored = sum(1 for row in SQLiteStorage.get_logs("bench", "burst") if "loss" in row)
    return result(samples, stored, durable, time.perf_counter() - t0, rss_mb() - before)


def case_wandb(mode: str, n: int, budget: float, tmp: Path, url: str) -> Result:
    os.environ["WANDB_MODE"] = "offline"
    os.environ["WANDB_SILENT"] = "true"
    import wandb

    from runwatch.launcher.wandb_offline import WandbRunTail

    before = rss_mb()
    run = wandb.init(project="bench", dir=str(tmp), settings=wandb.Settings(x_disable_stats=True))
    t0 = time.perf_counter()
    samples = loop(lambda i, d: run.log(d, step=i), mode, n, budget)
    run.finish()
    durable = time.perf_counter() - t0
    (path,) = tmp.glob("wandb/offline-run-*/run-*.wandb")
    stored = sum(1 for _, _, values in WandbRunTail(path).read_new() if "loss" in values)
    return result(samples, stored, durable, time.perf_counter() - t0, rss_mb() - before)


def result(
    samples: np.ndarray, stored: int, durable: float, readable: float, rss: float, note: str = ""
) -> Result:
    q = np.percentile(samples, [50, 99, 99.9]) / 1000 if len(samples) else [math.nan] * 3
    return {
        "p50": float(q[0]), "p99": float(q[1]), "p999": float(q[2]),
        "max": float(samples.max()) / 1000 if len(samples) else math.nan,
        "logged": len(samples), "stored": stored, "durable_s": durable,
        "readable_s": readable, "rss_mb": rss, "note": note,
    }  # fmt: skip


CASES = {
    "deque+copy": case_deque,
    "runwatch": case_runwatch,
    "trackio": case_trackio,
    "wandb": case_wandb,
}


def run_case(system: str, mode: str, n: int, budget: float, url: str, tmp: Path) -> Result:
    """One system and loop in a fresh interpreter; its output is only shown when it fails."""
    if not all(importlib.util.find_spec(m) is not None for m in NEEDS.get(system, [])):
        return {"skipped": "not installed (make bench installs it)"}
    out = tmp / f"{system}-{mode.replace('/', '-')}.json"
    args = [sys.executable, __file__, "--case", system, "--mode", mode, "--points", str(n)]
    args += ["--budget", str(budget), "--url", url, "--out", str(out)]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=budget * 4 + 900)
    if proc.returncode != 0 or not out.exists():
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-4:]
        return {"skipped": "failed: " + " | ".join(tail)}
    found: Result = json.loads(out.read_text())
    return found


def report(res: dict[tuple[str, str], Result], points: int, paced: int) -> None:
    print(f"\ntight: {points:,} calls · paced: {paced:,} calls at {RATE:,}/s · "
          f"{common.machine_line()}")  # fmt: skip
    header = ["system", "loop", "p50 µs", "p99 µs", "p99.9 µs", "max µs", "stored/logged",
              "durable s", "readable s", "SDK RSS MB"]  # fmt: skip
    rows = []
    for (system, mode), r in res.items():
        if "skipped" in r:
            rows.append([system, mode, r["skipped"][:60], *[None] * 7])
            continue
        rows.append([system, mode, r["p50"], r["p99"], r["p999"], r["max"],
                     f"{r['stored']:,}/{r['logged']:,}", r["durable_s"], r["readable_s"],
                     r["rss_mb"]])  # fmt: skip
    common.print_table("log() cost, points stored, time until durable and readable", header, rows)
    for (system, mode), r in res.items():
        if r.get("note"):
            print(f"  {system} {mode}: {r['note']}")
    rw = res.get(("runwatch", "tight"), {})
    if "skipped" in rw or not rw:
        return
    peer = res.get(("trackio", "tight"), {})
    print("\ntargets:")
    for mode in MODES:
        r = res[("runwatch", mode)]
        if "skipped" not in r:
            common.check(f"{mode}: 100% stored ({r['stored']:,}/{r['logged']:,})",
                         r["stored"] == r["logged"])  # fmt: skip
            common.check(f"{mode}: log() p99 <= 5 µs ({r['p99']:.2f} µs)", r["p99"] <= 5.0)
    if "skipped" not in peer and peer:
        rate = rw["logged"] / rw["readable_s"]
        peer_rate = peer["logged"] / peer["readable_s"]
        common.check(
            f"time-to-durable >= 2x trackio's rate: {rate:,.0f} vs {peer_rate:,.0f} points/s "
            f"({common.ratio(rate, peer_rate)})",
            rate >= 2 * peer_rate,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--points", type=int, default=10_000_000, help="tight-loop calls")
    parser.add_argument("--paced", type=int, default=50_000, help="paced-loop calls")
    parser.add_argument("--budget", type=float, default=300.0, help="seconds of logging per case")
    parser.add_argument("--systems", default=",".join(SYSTEMS))
    parser.add_argument("--case", choices=sorted(CASES), help=argparse.SUPPRESS)
    parser.add_argument("--mode", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--url", default="", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        with tempfile.TemporaryDirectory(prefix="bench-burst-case-") as tmp:
            found = CASES[args.case](args.mode, args.points, args.budget, Path(tmp), args.url)
        args.out.write_text(json.dumps(found))
        return
    res: dict[tuple[str, str], Result] = {}
    with tempfile.TemporaryDirectory(prefix="bench-burst-") as name:
        tmp = Path(name)
        server = common.Server(tmp / "data").start()
        try:
            for system in args.systems.split(","):
                for mode in MODES:
                    n = args.points if mode == "tight" else args.paced
                    print(f"running {system} {mode} ...", flush=True)
                    res[(system, mode)] = run_case(system, mode, n, args.budget, server.url, tmp)
        finally:
            server.stop()
    report(res, args.points, args.paced)


if __name__ == "__main__":
    main()
