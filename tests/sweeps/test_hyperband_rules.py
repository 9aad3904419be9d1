"""Hyperband's rungs and verdicts as W&B defines them: rungs at min_iter * eta**k (or W&B's
bands below max_iter), and at a rung the cut at rank floor(n / eta) of the n trials there."""

from __future__ import annotations

from typing import Any

from runwatch.store.base import RungReached
from runwatch.sweeps.hyperband import MAX_RUNGS, Plan, plan_of, rungs
from runwatch.sweeps.spec import parse_sweep


def at(value: float, rung: int = 2) -> RungReached:
    return RungReached("s", 0, "r", rung, rung, value)


def doc(**early: Any) -> dict[str, Any]:
    return {"method": "random", "metric": {"name": "acc", "goal": "maximize"},
            "early_terminate": {"type": "hyperband", **early}, "parameters": {"x": {"value": 1}}}  # fmt: skip


def test_rungs_from_min_iter_or_max_iter() -> None:
    assert rungs({"min_iter": 3, "eta": 3})[:4] == (3, 9, 27, 81)
    assert len(rungs({"min_iter": 1, "eta": 2})) == MAX_RUNGS
    assert rungs({"min_iter": 2})[:3] == (2, 6, 18)  # eta 3 by default, as W&B
    assert rungs({"max_iter": 5, "eta": 2, "s": 2}) == (1, 2)  # W&B's docstring example
    assert rungs({"max_iter": 81, "eta": 3}) == (1, 3, 9, 27)  # every band that fits
    assert rungs({"max_iter": 2, "eta": 3, "s": 2}) == ()


def test_the_cut_is_rank_floor_n_over_eta() -> None:
    plan = Plan("loss", minimize=True, rungs=(2,), eta=3)
    assert plan.judge(at(5.0), [5.0]) is None  # the first trial at a rung goes on
    assert plan.judge(at(5.0), [1.0, 5.0]) is not None  # n=2: only the best passes
    assert plan.judge(at(1.0), [1.0, 1.0, 5.0]) is None  # a tie with the cut passes
    assert plan.judge(at(2.0), [1.0, 2.0, 3.0]) is None  # n=3: the cut is rank 1
    verdict = plan.judge(at(3.0), [1.0, 2.0, 3.0])
    assert verdict is not None
    assert (verdict["threshold"], verdict["reached"], verdict["value"]) == (2.0, 3, 3.0)
    assert verdict["message"] == (
        "stopped early by hyperband: loss = 3 at step 2 (rung 2) is worse than 2, the cut for"
        " the best 1/3 of the 3 trials that reached that rung"
    )


def test_maximize_ranks_the_highest_first() -> None:
    plan = plan_of(parse_sweep(doc(min_iter=1, eta=2)))
    assert plan is not None and (plan.key, plan.minimize, plan.rungs[:3]) == (
        "acc",
        False,
        (1, 2, 4),
    )
    assert plan.judge(at(0.5), [0.9, 0.5]) is None  # n=2, eta 2: the cut is rank 1
    assert plan.judge(at(0.8), [0.9, 0.8, 0.5]) is None
    assert plan.judge(at(0.5), [0.9, 0.8, 0.5]) is not None


def test_no_plan_without_early_terminate() -> None:
    assert plan_of(parse_sweep({"method": "grid", "parameters": {"x": {"value": 1}}})) is None
