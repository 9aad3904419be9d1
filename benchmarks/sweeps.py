"""Sweeps benchmark: the controller's overhead, and how well grid, random and bayes search.

Run from the repo root (about two minutes; ``--quick``: a smoke run of about 30 s), with
PostgreSQL on 127.0.0.1 (``make services``)::

    .venv/bin/python benchmarks/sweeps.py [--quick] [--agents 8] [--seeds 5] [--trials 100]

Real ``runwatch serve`` processes on loopback: one on SQLite, one on a fresh PostgreSQL
database (created and dropped here). Every trial goes through the HTTP API as an agent's does:
``POST /api/v1/sweeps/{id}/next`` claims it, ``POST /api/v1/runs`` creates its run with the
trial's run id, and one batch logs the objective and the final status ``succeeded``.

1. Controller overhead: ``--agents`` agents (threads, each its own HTTP client) share one
   sweep (random, then bayes: a model rebuilt from the trials for each claim) until its
   ``run_cap``. Printed: trials handed out per second (claim, run, finish: the whole loop,
   objective free), and the time from a trial's finish (its final batch acknowledged) to the
   agent's next trial (its claim answered), p50 and p99.
2. Search quality on Branin (x1 in [-5, 10], x2 in [0, 15]; minimum 0.397887) over
   ``--trials`` trials, one agent on SQLite: the best value each method finds, the median of
   ``--seeds`` sweeps (the server seeds each sweep; a 10 x 10 grid is the same every time),
   and regret (best - minimum). Beside them, Optuna's TPE run in-process (``study.optimize``,
   seeds 0..n-1): the reference bayes should match (ratio of regrets, lower is better).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common
import httpx
from scale import fresh_database

BRANIN_MIN = 0.397887
X1, X2 = (-5.0, 10.0), (0.0, 15.0)


def branin(x1: float, x2: float) -> float:
    """The Branin-Hoo function: three global minima of 0.397887."""
    b, c = 5.1 / (4 * math.pi**2), 5 / math.pi
    t = 1 / (8 * math.pi)
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


def sweep_body(method: str, trials: int) -> dict[str, Any]:
    """A sweep over Branin's domain; grid: 10 evenly spaced values per axis."""
    if method == "grid":
        side = max(2, round(math.sqrt(trials)))

        def axis(lo: float, hi: float) -> dict[str, Any]:
            return {"values": [lo + (hi - lo) * i / (side - 1) for i in range(side)]}

        params = {"x1": axis(*X1), "x2": axis(*X2)}
    else:
        params = {"x1": {"min": X1[0], "max": X1[1]}, "x2": {"min": X2[0], "max": X2[1]}}
    return {
        "method": method, "project": "bench-sweeps", "run_cap": trials,
        "metric": {"name": "branin", "goal": "minimize"}, "parameters": params,
    }  # fmt: skip


@contextlib.contextmanager
def server(data: Path, store: str | None) -> Iterator[str]:
    srv = common.Server(data, extra_args=["--store", store] if store else []).start()
    try:
        yield srv.url
    finally:
        srv.stop()


def create(url: str, body: dict[str, Any]) -> str:
    made = httpx.post(f"{url}/api/v1/sweeps", json=body, timeout=60)
    made.raise_for_status()
    return str(made.json()["id"])


def agent(
    url: str, sweep_id: str, name: str, objective: Callable[[dict[str, Any]], float]
) -> tuple[list[float], list[float]]:
    """Claim, run and finish trials until the sweep has none left: the objective values, and
    each gap from a finish to the next claim's answer (seconds)."""
    values: list[float] = []
    gaps: list[float] = []
    finished_at: float | None = None
    with httpx.Client(base_url=url, timeout=60) as c:
        while True:
            claimed = c.post(f"/api/v1/sweeps/{sweep_id}/next", json={"agent": name})
            claimed.raise_for_status()
            if finished_at is not None:
                gaps.append(time.perf_counter() - finished_at)
            trial = claimed.json()["trial"]
            if trial is None:
                return values, gaps[:-1]  # the last gap led to no trial
            value = objective(trial["config"])
            run = {"project": "bench-sweeps", "id": trial["run_id"], "config": trial["config"]}
            c.post("/api/v1/runs", json=run).raise_for_status()
            now = time.time()
            batch = {
                "producer": name, "batch_seq": 1, "points": [[0, now, {"branin": value}]],
                "status": {"state": "succeeded", "ts": now, "exit_code": 0},
            }  # fmt: skip
            c.post(f"/api/v1/runs/{trial['run_id']}/batches", json=batch).raise_for_status()
            finished_at = time.perf_counter()
            values.append(value)


def on_branin(config: dict[str, Any]) -> float:
    return branin(config["x1"], config["x2"])


def overhead(url: str, method: str, trials: int, agents: int) -> list[Any]:
    """One sweep shared by ``agents`` agents: trials/s and finish-to-next-start p50 / p99."""
    sweep_id = create(url, sweep_body(method, trials))
    start = time.perf_counter()
    with ThreadPoolExecutor(agents) as pool:
        done = list(pool.map(lambda i: agent(url, sweep_id, f"a{i}", on_branin), range(agents)))
    wall = time.perf_counter() - start
    handed = sum(len(values) for values, _ in done)
    assert handed == trials, (handed, trials)
    gaps = sorted(g * 1000 for _, got in done for g in got)
    return [handed / wall, common.percentile(gaps, 0.5), common.percentile(gaps, 0.99)]


def best_through_runwatch(url: str, method: str, trials: int) -> float:
    values, _ = agent(url, create(url, sweep_body(method, trials)), "q", on_branin)
    assert len(values) == trials, (len(values), trials)
    return min(values)


def best_optuna(seed: int, trials: int) -> float:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed))

    def objective(trial: Any) -> float:
        return branin(trial.suggest_float("x1", *X1), trial.suggest_float("x2", *X2))

    study.optimize(objective, n_trials=trials)
    return float(study.best_value)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run: few trials")
    parser.add_argument("--agents", type=int, default=8)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--trials", type=int, default=100, help="per quality sweep")
    args = parser.parse_args()
    # Trials of the overhead sweeps: random, bayes (whose claims cost more as trials pile up).
    sizes = {"random": 400, "bayes": 200}
    if args.quick:
        sizes, args.seeds, args.trials = {"random": 40, "bayes": 24}, 2, 25
    rows: list[list[Any]] = []
    quality: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        with server(Path(tmp) / "lite", None) as url:
            for method, n in sizes.items():
                rows.append([f"SQLite, {method}", n, *overhead(url, method, n, args.agents)])
            for method in ("grid", "random", "bayes"):
                quality[method] = [
                    best_through_runwatch(url, method, args.trials) for _ in range(args.seeds)
                ]
        with fresh_database() as store, server(Path(tmp) / "pg", store) as url:
            for method, n in sizes.items():
                rows.append([f"PostgreSQL, {method}", n, *overhead(url, method, n, args.agents)])
    started = time.perf_counter()
    reference = [best_optuna(seed, args.trials) for seed in range(args.seeds)]
    optuna_s = (time.perf_counter() - started) / args.seeds
    print(f"\n{common.machine_line()}")
    common.print_table(
        f"Controller overhead: {args.agents} agents claim, run and finish trials over HTTP",
        ["store, method", "trials", "trials/s", "finish→next p50 ms", "p99 ms"],
        rows,
    )
    optuna_best = statistics.median(reference)
    table = []
    for method, bests in [*quality.items(), ("Optuna TPE in-process", reference)]:
        best = statistics.median(bests)
        regret = best - BRANIN_MIN
        table.append([method, best, regret, common.ratio(regret, optuna_best - BRANIN_MIN)])
    common.print_table(
        f"Search quality: Branin, {args.trials} trials, best value (median of {args.seeds}; "
        f"minimum {BRANIN_MIN})",
        ["method", "best", "regret", "regret vs Optuna"],
        [[m, f"{b:.4f}", f"{r:.4f}", x] for m, b, r, x in table],
    )
    print(f"  (Optuna in-process: {optuna_s:.1f} s per {args.trials}-trial study)")


if __name__ == "__main__":
    main()
