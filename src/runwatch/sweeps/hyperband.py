"""Hyperband early termination, W&B's semantics, as pure functions of a sweep's configuration.

``early_terminate: {type: hyperband, min_iter, eta}`` puts rungs at ``min_iter * eta**k``
steps of the sweep's metric (``max_iter`` with ``s``: ``max_iter / eta**k`` for k = 1..s,
as W&B's bands). A trial reaches a rung with its metric's value at its first logged step at or
past it. There, with the values of the ``n`` trials that reached that rung so far (its own
included) ranked best first, the threshold is the one at rank ``floor(n / eta)``: a trial
strictly worse than it is stopped. So the first trial at a rung always passes, and ties pass.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from runwatch.protocol import INT64_MAX
from runwatch.store.base import RungReached
from runwatch.sweeps.spec import SweepSpec

DEFAULT_ETA = 3  # W&B's
MAX_RUNGS = 32  # rungs past this many are not watched (min_iter 1, eta 2: step 2**31)


@dataclass(frozen=True)
class Plan:
    """What to watch in a sweep's trials: the metric, its goal, the rungs, eta."""

    key: str
    minimize: bool
    rungs: tuple[int, ...]
    eta: int

    def judge(self, reached: RungReached, values: list[float]) -> dict[str, Any] | None:
        """Why the trial that reached a rung with ``reached.value`` stops, or None (it goes on);
        ``values``: every trial's value at that rung, its own included."""
        ranked = sorted(values, reverse=not self.minimize)
        threshold = ranked[len(ranked) // self.eta]
        worse = reached.value > threshold if self.minimize else reached.value < threshold
        if not worse:
            return None
        message = (
            f"stopped early by hyperband: {self.key} = {reached.value:g} at step {reached.step}"
            f" (rung {reached.rung}) is worse than {threshold:g}, the cut for the best 1/{self.eta}"
            f" of the {len(values)} trials that reached that rung"
        )
        return {"message": message, "sweep": reached.sweep_id, "trial": reached.index,
                "metric": self.key, "rung": reached.rung, "step": reached.step,
                "value": reached.value, "threshold": threshold, "reached": len(values)}  # fmt: skip


def rungs(rule: dict[str, Any]) -> tuple[int, ...]:
    """The steps at which a hyperband ``early_terminate`` judges trials, ascending."""
    eta = int(rule.get("eta", DEFAULT_ETA))
    if "min_iter" in rule:
        out: list[int] = []
        rung = int(rule["min_iter"])
        while rung <= INT64_MAX and len(out) < MAX_RUNGS:
            out.append(rung)
            rung *= eta
        return tuple(out)
    # W&B's bands from max_iter: s of them, each eta times below the last (none below 1).
    band, bands = float(rule["max_iter"]), set[int]()
    for _ in range(min(int(rule.get("s", MAX_RUNGS)), MAX_RUNGS)):
        band /= eta
        if band < 1:
            break
        bands.add(math.floor(band))
    return tuple(sorted(bands))


def plan_of(spec: SweepSpec) -> Plan | None:
    """The sweep's hyperband plan; None when it has no early termination to enforce."""
    rule, metric = spec.early_terminate, spec.metric
    if rule is None or metric is None or rule.get("type") != "hyperband":
        return None
    steps = rungs(rule)
    if not steps:
        return None
    eta = int(rule.get("eta", DEFAULT_ETA))
    return Plan(metric.name, metric.goal == "minimize", steps, eta)
