"""``method: bayes``: Optuna's TPE proposes each trial from the ones before it.

The proposal itself (a pure function of the sweep, its seed, the index and the past trials):
every W&B distribution stays inside its space (bounds at the edges of floats too), the same
inputs give the same trial, and on a smooth objective the trials after TPE's startup ones
gather near the optimum, whichever the goal, and away from where trials were stopped
early. Then through real servers (SQLite; two
PostgreSQL replicas): agents claiming at once get each trial once, inside the space.
"""

from __future__ import annotations

import json
import math
import statistics
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from runwatch.store.base import TrialOutcome
from runwatch.sweeps import bayes
from runwatch.sweeps.space import random_point
from runwatch.sweeps.spec import DISTRIBUTIONS, parse_sweep
from tests.pg import fresh_database
from tests.servers import ServerProcess

# One parameter of every distribution W&B knows, with the test its values must pass.
EVERY: dict[str, tuple[dict[str, Any], Any]] = {
    "constant": ({"value": "sgd"}, lambda v: v == "sgd"),
    "categorical": ({"values": [1, "a", [2], {"b": 3}]}, lambda v: v in (1, "a", [2], {"b": 3})),
    "int_uniform": ({"min": -2, "max": 5}, lambda v: isinstance(v, int) and -2 <= v <= 5),
    "uniform": ({"min": 0.5, "max": 0.9}, lambda v: 0.5 <= v <= 0.9),
    "q_uniform": ({"min": 0, "max": 1, "q": 0.25}, lambda v: v in (0, 0.25, 0.5, 0.75, 1)),
    "log_uniform": ({"min": -3, "max": 0}, lambda v: math.exp(-3) <= v <= 1),
    "log_uniform_values": ({"min": 1e-4, "max": 1e-1}, lambda v: 1e-4 <= v <= 1e-1),
    "q_log_uniform": ({"min": 0, "max": 4, "q": 2}, lambda v: v % 2 == 0 and 0 <= v <= 56),
    "q_log_uniform_values": ({"min": 1, "max": 100, "q": 5}, lambda v: v % 5 == 0 and v <= 100),
    "inv_log_uniform": ({"min": 0, "max": 2}, lambda v: math.exp(-2) <= v <= 1),
    "inv_log_uniform_values": ({"min": 2, "max": 8}, lambda v: 0.125 <= v <= 0.5),
    "normal": ({"mu": 10, "sigma": 2}, lambda v: isinstance(v, float) and abs(v - 10) < 14),
    "q_normal": ({"mu": 0, "sigma": 5, "q": 3}, lambda v: isinstance(v, int) and v % 3 == 0),
    "log_normal": ({"mu": 0, "sigma": 1}, lambda v: 0 < v < math.exp(7)),
    "q_log_normal": ({"mu": 3, "sigma": 0.5, "q": 1}, lambda v: isinstance(v, int) and v >= 0),
    "beta": ({"a": 2, "b": 5}, lambda v: 0 <= v <= 1),
    "q_beta": ({"a": 2, "b": 2, "q": 0.1}, lambda v: round(v * 10, 9) == round(v * 10)),
}


def every_distribution() -> dict[str, Any]:
    params = {
        kind: {"distribution": kind, **bounds}
        for kind, (bounds, _) in EVERY.items()
        if kind != "categorical"
    }
    nested = {"categorical": EVERY["categorical"][0]}
    return {
        "method": "bayes",
        "metric": {"name": "loss"},
        "parameters": {**params, "nested": {"parameters": nested}},
    }


def run_bayes(spec_doc: dict[str, Any], seed: int, n: int, score: Any) -> list[dict[str, Any]]:
    """``n`` trials one after another, each finished with ``score(config)`` before the next."""
    spec = parse_sweep(spec_doc)
    past: list[TrialOutcome] = []
    for i in range(n):
        config = bayes.propose(spec, seed, i, lambda _m, limit: past[::-1][:limit])
        past.append(TrialOutcome(i, config, "succeeded", score(config)))
    return [t.config for t in past]


def test_every_distribution_stays_inside_its_space() -> None:
    assert set(EVERY) == set(DISTRIBUTIONS)  # a new distribution is tested here too
    doc = every_distribution()

    def score(config: dict[str, Any]) -> float:
        return float(config["uniform"] + config["int_uniform"])

    configs = run_bayes(doc, 7, 25, score)
    for config in configs:
        nested = config.pop("nested")
        flat = {**config, **nested}
        assert set(flat) == set(EVERY)
        for kind, (_, inside) in EVERY.items():
            assert inside(flat[kind]), (kind, flat[kind])
    assert len({c["uniform"] for c in configs}) == 25


def test_the_same_sweep_index_and_past_propose_the_same_trial() -> None:
    spec = parse_sweep(every_distribution())
    past = [
        TrialOutcome(2, {}, "running", None),  # a claim whose run never started
        TrialOutcome(1, {"uniform": 7.0, "categorical": "gone", "normal": "x"}, "succeeded", 1.0),
        TrialOutcome(0, {"int_uniform": 3, "beta": 0.5}, "failed", None),
    ]

    def propose(seed: int, index: int) -> str:
        config = bayes.propose(spec, seed, index, lambda _m, limit: past[:limit])
        return json.dumps(config, sort_keys=True)

    assert propose(5, 3) == propose(5, 3)
    assert len({propose(5, 3), propose(5, 4), propose(6, 3)}) == 3


@pytest.mark.parametrize(
    ("param", "inside"),
    [
        ({"min": -1e308, "max": 1e308}, lambda v: -1e308 <= v <= 1e308),  # max - min is inf
        ({"distribution": "inv_log_uniform_values", "min": 5e-324, "max": 1e308},
         lambda v: 0 < v < math.inf),  # 1 / min is inf
        ({"distribution": "q_normal", "mu": 0, "sigma": 1, "q": 1e-320},
         lambda v: abs(v) < 10),  # x / q is inf
    ],
)  # fmt: skip
def test_bounds_at_the_edges_of_floats_still_propose(param: dict[str, Any], inside: Any) -> None:
    doc = {"method": "bayes", "metric": {"name": "y"}, "parameters": {"p": param}}
    configs = run_bayes(doc, 4, 14, lambda c: float(c["p"]) / 1e300)
    assert all(inside(c["p"]) for c in configs), configs


def test_a_step_too_fine_for_floats_leaves_a_random_draw_as_it_is() -> None:
    param = {"distribution": "q_normal", "mu": 0, "sigma": 1, "q": 1e-320}
    spec = parse_sweep({"method": "random", "parameters": {"p": param}})
    assert abs(random_point(spec, 4, 0)["p"]) < 10  # x / q overflowed: an OverflowError before


@pytest.mark.parametrize("goal", ["minimize", "maximize"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_trials_after_the_startup_ones_gather_near_the_optimum(goal: str, seed: int) -> None:
    doc = {
        "method": "bayes",
        "metric": {"name": "y", "goal": goal},
        "parameters": {"x": {"min": -10.0, "max": 10.0}},
    }
    sign = 1 if goal == "minimize" else -1
    configs = run_bayes(doc, seed, 40, lambda c: sign * (c["x"] - 3.0) ** 2)
    distance = [abs(c["x"] - 3.0) for c in configs]
    first, last = statistics.median(distance[:10]), statistics.median(distance[-10:])
    # The first 10 are TPE's random startup trials (about 5 away); TPE keeps exploring, so
    # the last 10 are only closer on the whole, but the best one found is close.
    assert last < 0.75 * first, (first, last)
    assert min(distance[10:]) < 0.2


@pytest.mark.parametrize("goal", ["minimize", "maximize"])
def test_trials_stopped_early_steer_proposals_away_from_their_region(goal: str) -> None:
    """Hyperband stopped every trial it let start in x < 3; the complete ones are in x >= 3.
    Without the stopped ones TPE sees x < 3 as unexplored and keeps proposing it; with them
    (pruned at their last rung, as Optuna's pruners leave trials) it proposes elsewhere."""
    doc = {
        "method": "bayes",
        "metric": {"name": "y", "goal": goal},
        "parameters": {"x": {"min": 0.0, "max": 10.0}},
    }
    spec = parse_sweep(doc)
    sign = 1 if goal == "minimize" else -1
    done = [
        TrialOutcome(i, {"x": 3.5 + 0.5 * i}, "succeeded", sign * (0.5 * i - 2.5) ** 2)
        for i in range(12)
    ]
    # Worse at their rungs than any complete trial's final value; some went on to a second.
    stopped = [
        TrialOutcome(
            12 + i, {"x": 0.25 + 0.25 * i}, "stopped_early", None,
            {3: sign * (9.0 + i % 3), 9: sign * 8.0} if i % 2 else {3: sign * 9.0},
        )
        for i in range(12)
    ]  # fmt: skip

    def in_region(past: list[TrialOutcome]) -> int:
        """How many of 10 proposals, for each of 4 seeds, land where the stopped trials sat."""
        newest_first = past[::-1]
        return sum(
            bayes.propose(spec, seed, 24 + k, lambda _m, limit: newest_first[:limit])["x"] < 3
            for seed in range(1, 5)
            for k in range(10)
        )

    without, with_stopped = in_region(done), in_region(done + stopped)
    assert without >= 30 and with_stopped <= 2, (without, with_stopped)


@pytest.fixture(params=["sqlite", "postgresql"])
def replicas(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[list[ServerProcess]]:
    """One server on SQLite, or two replicas of one PostgreSQL database."""
    if request.param == "sqlite":
        server = ServerProcess(tmp_path / "data").start()
        try:
            yield [server]
        finally:
            server.stop()
        return
    with fresh_database() as url:
        args = ["--store", url, "--store-pool", "3"]
        servers = [ServerProcess(tmp_path / f"data{i}", extra_args=args).start() for i in range(2)]
        try:
            yield servers
        finally:
            for server in servers:
                server.stop()


SPACE = {
    "method": "bayes",
    "project": "bayesp",
    "metric": {"name": "val/loss", "goal": "minimize"},
    "run_cap": 24,
    "parameters": {
        "lr": {"distribution": "log_uniform_values", "min": 1e-4, "max": 1e-1},
        "layers": {"distribution": "int_uniform", "min": 1, "max": 4},
        "opt": {"parameters": {"name": {"values": ["adam", "sgd"]}}},
    },
}


def agent(url: str, sweep_id: str, name: str) -> list[dict[str, Any]]:
    """Claim trials until the sweep is finished, each run reporting its loss and finishing."""
    got = []
    with httpx.Client(base_url=url, timeout=30) as c:
        while True:
            claimed = c.post(f"/api/v1/sweeps/{sweep_id}/next", json={"agent": name})
            assert claimed.status_code == 200, claimed.text
            trial = claimed.json()["trial"]
            if trial is None:
                assert claimed.json()["reason"] == "finished"
                return got
            got.append(trial)
            config = trial["config"]
            run = {"project": "bayesp", "id": trial["run_id"], "config": config}
            c.post("/api/v1/runs", json=run).raise_for_status()
            loss = (math.log10(config["lr"]) + 2.5) ** 2 + config["layers"]
            now = time.time()
            batch = {
                "producer": name, "batch_seq": 1, "points": [[0, now, {"val/loss": loss}]],
                "status": {"state": "succeeded", "ts": now},
            }  # fmt: skip
            c.post(f"/api/v1/runs/{trial['run_id']}/batches", json=batch).raise_for_status()


def test_agents_at_once_get_each_bayes_trial_once_inside_the_space(
    replicas: list[ServerProcess],
) -> None:
    with replicas[0].client() as c:
        made = c.post("/api/v1/sweeps", json=SPACE)
        assert made.status_code == 201, made.text
        sweep_id = made.json()["id"]
        assert (made.json()["trial_limit"], made.json()["limit_reason"]) == (24, "run_cap")
    urls = [replicas[i % len(replicas)].url for i in range(4)]
    with ThreadPoolExecutor(4) as pool:
        claimed = list(pool.map(agent, urls, [sweep_id] * 4, [f"a{i}" for i in range(4)]))
    indices = sorted(t["index"] for got in claimed for t in got)
    assert indices == list(range(24))
    with replicas[-1].client() as c:
        sweep = c.get(f"/api/v1/sweeps/{sweep_id}").json()
        listed = c.get(f"/api/v1/sweeps/{sweep_id}/trials").json()["trials"]
    assert (sweep["state"], sweep["trials"]) == ("finished", {"succeeded": 24})
    for trial in listed:
        config = trial["config"]
        assert 1e-4 <= config["lr"] <= 1e-1 and config["layers"] in (1, 2, 3, 4)
        assert config["opt"]["name"] in ("adam", "sgd")
    assert len({t["config"]["lr"] for t in listed}) == 24
