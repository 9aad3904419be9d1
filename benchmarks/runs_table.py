"""The runs table at scale: 100,000 runs, SQLite and PostgreSQL in one run, MLflow as the peer.

Run from the repo root, with PostgreSQL on 127.0.0.1:5432 (``bash scripts/ensure-services.sh``)::

    .venv/bin/python benchmarks/runs_table.py [--runs 100000] [--reps 30]

Each run has 10 config keys and 5 summary keys; the runs are written into each store in one
transaction (creating 100,000 runs over HTTP would take longer than the measurements). Measured:

* server time of the first page (250 runs) of a two-condition query sorted by a config key
  (``Store.query_runs``, what ``GET /api/v1/runs`` awaits), p50/p99, on each backend (goal
  ≤ 50 ms), against a naive full scan of the same rows in Python (runs_query.evaluate, sort);
  PostgreSQL after a ``VACUUM ANALYZE``, the state autovacuum leaves a bulk-loaded table in;
* MLflow's ``search_runs`` with the equivalent filter and order over the same runs
  (mlflow-skinny, SQLite; its params are strings, so its order by ``lr`` is text order);
* in Chromium, on a real server over the SQLite store: the page's first rows after navigation
  (goal ≤ 500 ms), and the JS heap and DOM rows after scrolling all over the 100,000 runs.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import msgspec
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.* helpers

from common import scratch_database

from runwatch.runs_query import parse, parse_sort
from runwatch.runs_query.evaluate import matches
from runwatch.store.base import RunsQuery
from runwatch.store.factory import open_store
from tests.e2e.many_runs import SeedRun, seed_runs
from tests.servers import ServerProcess

CHROMIUM = "/usr/bin/chromium"
QUERY = 'config.opt == "adam" and summary.acc > 0.9'
SORT = "-config.lr"
PAGE = 250
MLFLOW_FILTER = "params.opt = 'adam' and metrics.acc > 0.9"
OPTS = ["adam", "sgd", "rmsprop", "adamw"]


def make_runs(n: int) -> list[SeedRun]:
    rng = random.Random(21)
    out = []
    for i in range(n):
        config = {
            "lr": 10 ** -rng.uniform(1, 5), "layers": rng.randint(1, 24), "opt": rng.choice(OPTS),
            "batch": rng.choice([32, 64, 128, 256]), "dropout": round(rng.random() / 2, 3),
            "wd": 10 ** -rng.uniform(2, 6), "warmup": rng.randint(0, 1000), "seed": i,
            "arch": rng.choice(["resnet", "vit", "mlp"]), "sched": rng.choice(["cos", "step"]),
        }  # fmt: skip
        summary = {
            "acc": rng.random(), "loss": rng.random() * 3, "f1": rng.random(),
            "epoch": rng.randint(1, 100), "time": rng.random() * 3600,
        }  # fmt: skip
        out.append(SeedRun(f"r{i:06}", f"trial-{i:06}", 1.7e9 + i, config=config, summary=summary))
    return out


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def store_times(
    location: str | Path, reps: int
) -> tuple[list[float], int, list[dict[str, Any]]]:
    """Server times (ms) of the first page; the total; every run as a dict (for the scan)."""
    store = open_store(location)
    await store.open()
    try:
        field, descending = parse_sort(SORT)
        query = RunsQuery(where=parse(QUERY), sort=field, descending=descending, limit=PAGE)
        times, total = [], 0
        for i in range(reps + 2):
            start = time.perf_counter()
            page = await store.query_runs(query)
            if i >= 2:  # two warm-up queries
                times.append((time.perf_counter() - start) * 1000)
            total = page.total
        runs: list[dict[str, Any]] = []
        after = None
        while True:  # every run, for the naive scan (not timed)
            got = await store.query_runs(RunsQuery(limit=1000, after=after))
            runs += msgspec.to_builtins(got.runs)
            after = got.after
            if after is None:
                break
        return times, total, runs
    finally:
        await store.close()


def naive_times(runs: list[dict[str, Any]], reps: int) -> list[float]:
    """The same page by a full scan in Python: filter every run, sort, take the first page."""
    where = parse(QUERY)
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        hits = [r for r in runs if matches(where, r)]
        hits.sort(key=lambda r: (-r["config"]["lr"], r["id"]))
        assert hits[:PAGE]
        times.append((time.perf_counter() - start) * 1000)
    return times


def mlflow_times(runs: list[SeedRun], workdir: Path, reps: int) -> tuple[list[float], int]:
    """MLflow's search_runs over the same runs, bulk-written into its SQLite schema."""
    logging.disable(logging.WARNING)  # MLflow's schema migrations log every step
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{workdir / 'mlflow.db'}"
    SqlAlchemyStore(uri, str(workdir / "mlartifacts"))  # creates the schema
    db = sqlite3.connect(workdir / "mlflow.db")
    ids = [uuid.uuid4().hex for _ in runs]
    with db:
        db.executemany(
            "INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, user_id,"
            " status, start_time, end_time, source_version, lifecycle_stage, artifact_uri,"
            " experiment_id) VALUES (?,?,'LOCAL','','','bench','FINISHED',?,?,'','active',?,0)",
            [(rid, r.name, int(r.created * 1000), int(r.created * 1000) + 60_000, f"/tmp/{rid}")
             for rid, r in zip(ids, runs, strict=True)],
        )  # fmt: skip
        db.executemany(
            "INSERT INTO params (key, value, run_uuid) VALUES (?,?,?)",
            [
                (k, str(v), rid)
                for rid, r in zip(ids, runs, strict=True)
                for k, v in r.config.items()
            ],
        )
        db.executemany(
            "INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid)"
            " VALUES (?,?,?,0,0,?)",
            [(k, float(v), int(r.created * 1000), rid)
             for rid, r in zip(ids, runs, strict=True) for k, v in r.summary.items()],
        )  # fmt: skip
        db.executemany(
            "INSERT INTO metrics (key, value, timestamp, step, is_nan, run_uuid)"
            " VALUES (?,?,?,0,0,?)",
            [(k, float(v), int(r.created * 1000), rid)
             for rid, r in zip(ids, runs, strict=True) for k, v in r.summary.items()],
        )  # fmt: skip
    db.close()
    client = MlflowClient(tracking_uri=uri)
    times, found = [], 0
    for i in range(reps + 1):
        start = time.perf_counter()
        page = client.search_runs(
            ["0"], filter_string=MLFLOW_FILTER, order_by=["params.lr DESC"], max_results=PAGE
        )
        if i:
            times.append((time.perf_counter() - start) * 1000)
        found = len(page)
    return times, found


def chromium(data_dir: Path, n: int, reps: int) -> dict[str, float]:
    """First rows in Chromium, and the heap after scrolling, on a real server."""
    from playwright.sync_api import sync_playwright

    server = ServerProcess(data_dir).start()
    args = [
        "--no-sandbox",
        "--disable-gpu",
        "--enable-precise-memory-info",
        "--js-flags=--expose-gc",
    ]
    firsts: list[float] = []
    out: dict[str, float] = {}
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=args, headless=True)
            context = browser.new_context(viewport={"width": 1400, "height": 900})
            context.add_init_script(
                "new MutationObserver((_, o) => { if (document.querySelector("
                "'#runs-body tr.run-row[data-run-id]')) { window.__firstRows = performance.now();"
                " o.disconnect(); } }).observe(document, {subtree: true, childList: true,"
                " attributes: true});"
            )
            page = context.new_page()
            view = "/?" + urlencode(
                [("q", QUERY), ("sort", SORT), ("col", "config.lr"), ("col", "summary.acc")]
            )
            for _ in range(reps):
                page.goto(server.url + view)
                page.wait_for_function("() => window.__firstRows")
                firsts.append(page.evaluate("() => window.__firstRows"))
            page.goto(server.url + "/")
            page.wait_for_function("() => window.__firstRows")
            page.evaluate("() => window.gc()")
            out["heap_loaded"] = page.evaluate("() => performance.memory.usedJSHeapSize") / 2**20
            rng = random.Random(1)
            spots = [rng.randrange(n) for _ in range(20)] + [n - 1]
            for index in spots:
                page.locator("#runs-scroll").evaluate(f"el => {{ el.scrollTop = {index} * 40; }}")
                page.wait_for_function(
                    f'() => document.querySelector(\'#runs-body tr.run-row[data-index="{index}"]'
                    "[data-run-id]')",
                    timeout=120_000,
                )
            page.evaluate("() => window.gc()")
            out["heap_scrolled"] = page.evaluate("() => performance.memory.usedJSHeapSize") / 2**20
            out["dom_rows"] = page.locator("#runs-body tr.run-row").count()
            browser.close()
    finally:
        server.stop()
    out["first_p50"] = statistics.median(firsts)
    out["first_max"] = max(firsts)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--reps", type=int, default=30)
    args = parser.parse_args()
    runs = make_runs(args.runs)
    lines: list[tuple[str, str, str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        t = time.perf_counter()
        seed_runs(work / "data", runs)
        print(f"SQLite: {args.runs:,} runs written in {time.perf_counter() - t:.1f} s", flush=True)
        sq_times, total, scanned = asyncio.run(store_times(work / "data", args.reps))
        naive = naive_times(scanned, 5)
        lines.append(("runwatch, SQLite", *stats(sq_times), f"{total:,} match"))

        with scratch_database() as url:
            t = time.perf_counter()
            seed_runs(url, runs)
            # The steady state: autovacuum visits a table after a large insert (PostgreSQL
            # 13+), and until it has, the value index's lookups read the table's rows too.
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("VACUUM ANALYZE")
            print(
                f"PostgreSQL: written and vacuumed in {time.perf_counter() - t:.1f} s", flush=True
            )
            pg_times, pg_total, _ = asyncio.run(store_times(url, args.reps))
            lines.append(("runwatch, PostgreSQL", *stats(pg_times), f"{pg_total:,} match"))
        lines.append(("naive full scan (Python)", *stats(naive), f"{len(scanned):,} runs scanned"))
        ml_times, found = mlflow_times(runs, work, min(args.reps, 10))
        lines.append(("MLflow search_runs, SQLite", *stats(ml_times), f"{found} on its page"))
        browser = chromium(work / "data", args.runs, 5)

    print(f"\nfirst page ({PAGE} runs) of `{QUERY}` sorted by `{SORT}`, {args.runs:,} runs")
    print(f"{'':30} {'p50 ms':>9} {'p99 ms':>9}   note")
    for label, p50, p99, note in lines:
        print(f"{label:30} {p50:>9} {p99:>9}   {note}")
    print(f"\nChromium, SQLite server: first rows p50 {browser['first_p50']:.0f} ms"
          f" (max {browser['first_max']:.0f}; goal ≤ 500)")  # fmt: skip
    print(f"JS heap: {browser['heap_loaded']:.1f} MiB loaded, {browser['heap_scrolled']:.1f} MiB"
          f" after scrolling to 21 places over {args.runs:,} runs;"
          f" {browser['dom_rows']:.0f} DOM rows")  # fmt: skip


def stats(times: list[float]) -> tuple[str, str]:
    return f"{statistics.median(times):.1f}", f"{pct(times, 99):.1f}"


if __name__ == "__main__":
    main()
