"""Ingest benchmark: runwatch against trackio, MLflow and TensorBoard, and the machine's ceilings.

Run from the repo root (``make bench`` installs the peers from requirements-bench.lock)::

    .venv/bin/python benchmarks/ingest.py [--steps 20000] [--probes 200] [--repeat 3]

Workload: ``--steps`` steps x 3 metrics (loss, acc, lr), logged in a tight loop, the same for
every system. Each system runs in its own fresh subprocess (no shared imports or threads):

* runwatch: ``run.log(d, step=i)`` through a real ``runwatch serve`` on 127.0.0.1; durable when
  ``run.finish()`` returns (every batch acked after the server's SQLite commit); verified by
  ``GET /api/v1/runs/{id}/metrics`` returning every point.
* trackio (local mode, ``TRACKIO_DIR`` in a temp dir): ``trackio.log``; durable at
  ``trackio.finish()``; verified with ``SQLiteStorage.get_logs``.
* MLflow on ``sqlite:///``, ``MlflowClient.log_batch`` (``Metric`` objects built inside the timed
  call), durable when it returns, verified with ``get_metric_history``; two rows: "mlflow" sends
  333 steps (999 metrics) per call over the whole workload, "mlflow/step" one step per call over
  the first 1,000 steps only (one SQL transaction per call makes all 20,000 take minutes).
* TensorBoard: tensorboardX's ``SummaryWriter`` (torch-free), 3 ``add_scalar`` per step (one
  "call"); durable at ``close()``; verified by reading the event file with ``EventFileLoader``.

Columns: per-call cost (``perf_counter_ns`` around each call; the harness's own cost, a no-op
call, is printed as "timer"), "durable ms" from the first call until the system says the data is
durable, "verify ms" the read-back, and points/s for both. Ceilings in the same run:
``SimpleQueue.put`` per call; "deque+copy", the least a non-blocking ``log()`` does (copy the
dict, ``time.time()``, append to a bounded deque); one sqlite3 ``executemany`` of the same points,
one row each, into a (series_id, step, ts, value) table indexed on (series_id, step), in one WAL
transaction (synchronous=NORMAL, as runwatch's store). With ``--repeat N`` each case runs N times
and the run with the median throughput (or median p99) is shown.

Last, log() -> browser latency: headless Chromium on the run page opens its own WebSocket to
``/live?since=<state seq>`` and timestamps (``performance.timeOrigin + now()``) each ``lat_probe``
point that the SDK logs at 20 Hz; the browser/Python clock offset is measured and corrected.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import queue
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import browser_latency
import common
import httpx

KEYS = ("loss", "acc", "lr")
CEILINGS = ("timer", "queue", "deque+copy", "sqlite")
SYSTEMS = ("runwatch", "trackio", "mlflow", "mlflow/step", "tensorboard")
MLFLOW_STEP_LIMIT = 1_000  # one SQL transaction per call: ~10 ms each here
SKIPPED = "skipped: not installed (make bench installs them from requirements-bench.lock)"
Result = dict[str, Any]


def workload(steps: int) -> list[dict[str, float]]:
    return [
        {"loss": 1.0 / (i + 1), "acc": i / steps, "lr": 3e-4 * (1 - i / steps)}
        for i in range(steps)
    ]


# -- the cases (each runs in a fresh subprocess) -------------------------------------------------
def case_timer(data: list[dict[str, float]], tmp: Path, url: str) -> Result:
    return {"call": common.us_summary(common.timed(lambda item: None, data)), "steps": len(data)}


def case_queue(data: list[dict[str, float]], tmp: Path, url: str) -> Result:
    q: queue.SimpleQueue[dict[str, float]] = queue.SimpleQueue()
    return {"call": common.us_summary(common.timed(q.put, data)), "steps": len(data)}


def case_deque(data: list[dict[str, float]], tmp: Path, url: str) -> Result:
    """What ``log()`` must do at least: copy the dict, take the time, append to a bounded deque."""
    q: deque[tuple[int, float, dict[str, float]]] = deque(maxlen=len(data))
    samples = common.timed(
        lambda item: q.append((item[0], time.time(), dict(item[1]))), list(enumerate(data))
    )
    return {"call": common.us_summary(samples), "steps": len(data)}


def case_sqlite(data: list[dict[str, float]], tmp: Path, url: str) -> Result:
    conn = sqlite3.connect(tmp / "ceiling.sqlite3", isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("CREATE TABLE points (series_id INTEGER, step INTEGER, ts REAL, value REAL)")
    conn.execute("CREATE INDEX points_by_step ON points (series_id, step)")
    now = time.time()
    rows = [(s, i, now, d[k]) for s, k in enumerate(KEYS) for i, d in enumerate(data)]
    t0 = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany("INSERT INTO points VALUES (?,?,?,?)", rows)
    conn.execute("COMMIT")
    t1 = time.perf_counter()
    (count,) = conn.execute("SELECT count(*) FROM points").fetchone()
    t2 = time.perf_counter()
    return {"steps": len(data), "durable_s": t1 - t0, "verify_s": t2 - t1, "read": count}


def case_runwatch(data: list[dict[str, float]], tmp: Path, url: str) -> Result:
    import runwatch

    run = runwatch.init(project="bench-ingest", name="ingest", url=url, run_dir=tmp / "rw")
    http = httpx.Client(base_url=url, timeout=30)
    common.wait_for(lambda: http.get(f"/api/v1/runs/{run.id}").status_code == 200, 30, "the run")
    t0 = time.perf_counter()
    samples = common.timed(lambda item: run.log(item[1], step=item[0]), list(enumerate(data)))
    run.finish(timeout=120)
    t1 = time.perf_counter()
    params: dict[str, str | int] = {"keys": ",".join(KEYS), "max_points": min(len(samples), 20_000)}
    reply = http.get(f"/api/v1/runs/{run.id}/metrics", params=params).raise_for_status()
    t2 = time.perf_counter()
    series = reply.json()["series"].values()  # raw points, or bucket counts past the cap
    read = sum(len(s["value"]) if s["mode"] == "raw" else sum(s["count"]) for s in series)
    return _system(samples, t1 - t0, t2 - t1, read)


def case_trackio(data: list[dict[str, float]], tmp: Path, url: str) -> Result:
    os.environ["TRACKIO_DIR"] = str(tmp / "trackio")  # read by trackio at import
    import trackio
    from trackio.sqlite_storage import SQLiteStorage

    trackio.init(
        project="bench", name="ingest", embed=False, auto_log_gpu=False, auto_log_cpu=False
    )
    t0 = time.perf_counter()
    samples = common.timed(lambda item: trackio.log(item[1], step=item[0]), list(enumerate(data)))
    trackio.finish()
    t1 = time.perf_counter()
    logs = SQLiteStorage.get_logs("bench", "ingest")
    t2 = time.perf_counter()
    read = sum(1 for row in logs for k in KEYS if k in row)
    return _system(samples, t1 - t0, t2 - t1, read)


def case_mlflow(data: list[dict[str, float]], tmp: Path, url: str) -> Result:
    """``log_batch`` of up to 999 metrics (333 steps) per call: MLflow's own batching."""
    chunks = [list(enumerate(data))[i : i + 333] for i in range(0, len(data), 333)]
    result = _mlflow(chunks, tmp)
    result["note"] = "log_batch of 333 steps x 3 metrics per call (per-call columns: per batch)"
    return result


def case_mlflow_step(data: list[dict[str, float]], tmp: Path, url: str) -> Result:
    """``log_batch`` of one step's 3 metrics per call, on the first MLFLOW_STEP_LIMIT steps."""
    result = _mlflow([[(i, d)] for i, d in enumerate(data[:MLFLOW_STEP_LIMIT])], tmp)
    result["note"] = f"log_batch of 1 step x 3 metrics per call, first {MLFLOW_STEP_LIMIT:,} steps"
    return result


def _mlflow(chunks: list[list[tuple[int, dict[str, float]]]], tmp: Path) -> Result:
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp / 'mlflow.db'}")
    run_id = client.create_run(client.create_experiment("bench")).info.run_id

    def log(chunk: list[tuple[int, dict[str, float]]]) -> None:
        ms = int(time.time() * 1000)
        metrics = [Metric(k, v, ms, i) for i, d in chunk for k, v in d.items()]
        client.log_batch(run_id, metrics=metrics)

    t0 = time.perf_counter()
    samples = common.timed(log, chunks)
    t1 = time.perf_counter()
    read = sum(len(client.get_metric_history(run_id, k)) for k in KEYS)
    t2 = time.perf_counter()
    steps = sum(len(c) for c in chunks[: len(samples)])
    result = _system(samples, t1 - t0, t2 - t1, read, steps=steps)
    result["per_step"] = all(len(c) == 1 for c in chunks)
    return result


def case_tensorboard(data: list[dict[str, float]], tmp: Path, url: str) -> Result:
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
    from tensorboardX import SummaryWriter

    logdir = tmp / "tb"
    writer = SummaryWriter(str(logdir))

    def log(item: tuple[int, dict[str, float]]) -> None:
        for k, v in item[1].items():
            writer.add_scalar(k, v, item[0])

    t0 = time.perf_counter()
    samples = common.timed(log, list(enumerate(data)))
    writer.close()
    t1 = time.perf_counter()
    read = 0
    for path in sorted(logdir.glob("events.out.tfevents.*")):
        read += sum(len(ev.summary.value) for ev in EventFileLoader(str(path)).Load())
    t2 = time.perf_counter()
    return _system(
        samples, t1 - t0, t2 - t1, read, "tensorboardX SummaryWriter: 3 add_scalar per call"
    )


def _system(
    samples: list[int], durable: float, verify: float, read: int, note: str = "", steps: int = 0
) -> Result:
    return {
        "call": common.us_summary(samples),
        "steps": steps or len(samples),
        "durable_s": durable,
        "verify_s": verify,
        "read": read,
        "note": note,
    }


CASES: dict[str, Callable[[list[dict[str, float]], Path, str], Result]] = {
    "timer": case_timer,
    "queue": case_queue,
    "deque+copy": case_deque,
    "sqlite": case_sqlite,
    "runwatch": case_runwatch,
    "trackio": case_trackio,
    "mlflow": case_mlflow,
    "mlflow/step": case_mlflow_step,
    "tensorboard": case_tensorboard,
}
MLFLOW = ["mlflow", "sqlalchemy", "alembic"]  # mlflow-skinny needs the last two for sqlite://
NEEDS = {"trackio": ["trackio"], "mlflow": MLFLOW, "mlflow/step": MLFLOW,
         "tensorboard": ["tensorboard", "tensorboardX"]}  # fmt: skip


def installed(case: str) -> bool:
    return all(importlib.util.find_spec(m) is not None for m in NEEDS.get(case, []))


def child_main(case: str, steps: int, url: str, out: Path) -> None:
    """The subprocess side: run one case, write its result as JSON to ``out``."""
    with tempfile.TemporaryDirectory(prefix="bench-case-") as tmp:
        result = CASES[case](workload(steps), Path(tmp), url)
    out.write_text(json.dumps(result))


def run_case(case: str, steps: int, url: str, tmp: Path) -> Result:
    """Run one case in a fresh interpreter; its output is only shown when it fails."""
    if not installed(case):
        return {"skipped": SKIPPED}
    out = tmp / f"{case.replace('/', '-')}.json"
    args = [sys.executable, __file__, "--case", case, "--steps", str(steps), "--url", url]
    proc = subprocess.run([*args, "--out", str(out)], capture_output=True, text=True, timeout=600)
    if proc.returncode != 0 or not out.exists():
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-6:]
        return {"skipped": "failed: " + " | ".join(tail)}
    result: Result = json.loads(out.read_text())
    return result


def median_run(runs: list[Result]) -> Result:
    """The run with the median throughput (or the median p99 when there is no throughput)."""
    ok = [r for r in runs if "skipped" not in r]
    if not ok:
        return runs[0]
    ok.sort(key=lambda r: points_per_s(r) or -r["call"]["p99"])
    return ok[len(ok) // 2]


# -- the report ------------------------------------------------------------------------------------
def points_per_s(r: Result, with_verify: bool = False) -> float | None:
    if "durable_s" not in r:
        return None
    seconds = r["durable_s"] + (r["verify_s"] if with_verify else 0.0)
    return float(r["steps"] * len(KEYS) / seconds)


def p99(r: Result) -> float | None:
    """p99 per call, only where a call logs one step (comparable to ``log()``)."""
    return r["call"]["p99"] if "call" in r and r.get("per_step", True) else None


def main_row(name: str, r: Result) -> list[Any]:
    if "skipped" in r:
        return [name, r["skipped"][:40], *[None] * 8]
    c = r.get("call", {})
    read = f"{r['read']:,}/{r['steps'] * len(KEYS):,}" if "read" in r else None
    stats = [c.get(k) for k in ("mean", "p50", "p99", "max")]
    seconds = [r[k] * 1000 if k in r else None for k in ("durable_s", "verify_s")]
    return [name, *stats, *seconds, points_per_s(r), points_per_s(r, True), read]


def report(res: dict[str, Result], lat: Result, steps: int) -> None:
    print(f"\nworkload: {steps:,} steps x {len(KEYS)} metrics · {common.machine_line()}")
    t = res["timer"]["call"]
    print(f"timer (a no-op call in the same harness, included in every µs below): mean "
          f"{t['mean']:.3f} µs, p50 {t['p50']:.3f} µs, p99 {t['p99']:.3f} µs")  # fmt: skip
    header = ["system", "mean µs", "p50 µs", "p99 µs", "max µs", "durable ms", "verify ms",
              "pts/s durable", "pts/s +verify", "read/expected"]  # fmt: skip
    rows = [main_row(name, res[name]) for name in (*CEILINGS[1:], *SYSTEMS)]
    common.print_table(
        "per-call cost, and time until every point is durable / read back", header, rows
    )
    for name in SYSTEMS:
        if res[name].get("note") or len(res[name].get("skipped", "")) > 40:
            print(f"  {name}: {res[name].get('note') or res[name]['skipped']}")
    ok = [n for n in SYSTEMS if "skipped" not in res[n]]
    peers = [n for n in ok if n != "runwatch"]
    best = max(peers, key=lambda n: points_per_s(res[n]) or 0.0) if peers else None
    best_p99 = min(
        (n for n in peers if p99(res[n])), key=lambda n: p99(res[n]) or 0.0, default=None
    )
    ceiling, q99 = points_per_s(res["sqlite"]), p99(res["queue"])
    peer_p99 = p99(res[best_p99]) if best_p99 else None
    peer_pts = points_per_s(res[best]) if best else None
    rows = []
    for n in ok:
        r, ratio = res[n], common.ratio
        rows.append([n, ratio(p99(r), q99), ratio(p99(r), peer_p99), ratio(points_per_s(r), ceiling),
                     ratio(points_per_s(r, True), ceiling), ratio(points_per_s(r), peer_pts)])  # fmt: skip
    header = ["system", "p99 / queue.put", f"p99 / {best_p99}", "durable / executemany",
              "+verify / executemany", f"durable / {best}"]  # fmt: skip
    common.print_table("ratios (same run): ceilings and the best peer", header, rows)
    latency = lat.get("latency_ms")
    if latency:
        print(f"\nlog() -> browser (Chromium on the run page, {lat['received']}/{lat['probes']} "
              f"probes at 20 Hz, clock offset {lat['offset_ms']:+.2f} ms corrected): mean "
              f"{latency['mean']:.1f} ms, p50 {latency['p50']:.1f} ms, p99 {latency['p99']:.1f} ms, "
              f"max {latency['max']:.1f} ms (machine busy {lat['machine_busy_pct']:.0f}% of all "
              "cores meanwhile, this benchmark included)")  # fmt: skip
    else:
        print(f"\nlog() -> browser: {lat.get('skipped')}")
    rw = res["runwatch"]
    if "skipped" in rw:
        return
    print("targets:")
    p99_us, share = rw["call"]["p99"], 100 * (points_per_s(rw) or 0.0) / (ceiling or 1.0)
    common.check(f"runwatch log() p99 <= 5 µs: {p99_us:.1f} µs", p99_us <= 5.0)
    common.check(f"durable ingest >= 50% of executemany: {share:.1f}%", share >= 50.0)
    if latency:
        common.check(
            f"log -> browser p99 <= 100 ms: {latency['p99']:.1f} ms", latency["p99"] <= 100
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--probes", type=int, default=200, help="browser latency probes (20 Hz)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per case (median shown)")
    parser.add_argument("--case", choices=sorted(CASES), help=argparse.SUPPRESS)
    parser.add_argument("--url", default="", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        child_main(args.case, args.steps, args.url, args.out)
        return
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as name:
        tmp = Path(name)
        server = common.Server(tmp / "data").start()
        try:
            res: dict[str, Result] = {}
            for case in (*CEILINGS, *SYSTEMS):
                print(f"running {case} ...", flush=True)
                runs = [run_case(case, args.steps, server.url, tmp) for _ in range(args.repeat)]
                res[case] = median_run(runs)
            print("running log() -> browser latency ...", flush=True)
            try:
                lat = browser_latency.measure(server.url, args.probes, tmp)
            except Exception as exc:  # a broken browser setup must not lose the tables above
                lat = {"skipped": f"failed: {exc!r}"[:300]}
        finally:
            server.stop()
    report(res, lat, args.steps)


if __name__ == "__main__":
    main()
