"""Bayesian search (``method: bayes``): Optuna's TPE sampler, asked afresh for every trial.

The server keeps no optimiser between requests. When a bayes trial is claimed (drafted in a
read transaction, without the sweep's lock; see ``store/sql/sweeps.py``) :func:`propose`
builds an in-memory Optuna study from the sweep's space, adds the trials before it, and asks
it once with a sampler seeded from the sweep's seed and the trial's index. A succeeded run
with the metric in its summary is a complete trial with that value. One that hyperband early
termination stopped is pruned, with its values at the rungs it reached as intermediate
values, as an Optuna pruner leaves it: TPE ranks it after the complete ones, by its last rung
and its value there, so the regions hyperband cut are proposed less. A claimed or running
one is running, which TPE's constant liar counts so concurrent agents spread out. The rest
carry nothing and are left out (a failed or crashed trial would be a failed one, which TPE
ignores).
Every replica therefore proposes from the same store state, and a restart loses nothing.

Each W&B distribution maps to an Optuna one over an internal value, and back:

- ``int_uniform`` → an integer range; ``uniform`` → the fraction of the way from min to max;
- the log-uniform kinds → a log-scaled float range over the values they yield;
- ``normal`` and ``log_normal`` → the normal's quantile (a float in (0, 1)), so TPE's prior
  is the normal itself; ``beta`` → [0, 1] (its shape is not kept as a prior);
- the ``q_`` kinds → their continuous kind, quantised as W&B's random search does;
- ``categorical`` → the index of the value (any JSON value; ``probabilities`` are not a
  prior); ``constant`` → not searched.

``optuna`` is imported here only, when a bayes trial is made.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import TYPE_CHECKING, Any, Literal

from runwatch.store.base import Past, TrialOutcome
from runwatch.sweeps.space import _nest, _quantize
from runwatch.sweeps.spec import Param, SweepError, SweepSpec

if TYPE_CHECKING:
    from optuna.distributions import BaseDistribution
    from optuna.trial import FrozenTrial, TrialState

# Trials a proposal reads, the latest first: its cost grows with them (Optuna copies each
# trial into the study; about 0.1 s at 1,000), and a draft that loses its index runs again.
MAX_HISTORY = 500
_EDGE = 1e-9  # a normal's quantile stays inside (0, 1)
_UNIT = NormalDist()


@dataclass(frozen=True)
class _Axis:
    """One searched parameter: its Optuna distribution over an internal value, the value a
    trial gets from an internal one, and the internal value of a value seen in a trial."""

    param: Param
    distribution: BaseDistribution
    value: Callable[[Any], Any]
    internal: Callable[[Any], Any]

    @property
    def key(self) -> str:
        """The parameter's name in the study: its path, unambiguous (``a.b`` is two paths)."""
        return json.dumps(self.param.path)


def _number(value: Any) -> float | None:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    return float(value) if math.isfinite(value) else None


def _exp(x: float) -> float:
    """``e**x`` kept inside the positive floats (a log range's bounds must be > 0)."""
    return math.exp(min(max(x, -700.0), 700.0))


def _clamp(low: float, high: float) -> Callable[[Any], Any]:
    """A seen value as an internal one: inside the range (a quantised value may lie past it)."""

    def inside(value: Any) -> Any:
        number = _number(value)
        return None if number is None else min(max(number, low), high)

    return inside


def _float_axis(param: Param) -> _Axis:
    from optuna.distributions import FloatDistribution

    kind, low, high = param.kind.removeprefix("q_"), param.min, param.max
    quantised = param.kind.startswith("q_")

    def out(x: float) -> Any:
        return _quantize(x, param.q) if quantised else x

    if kind == "beta":
        return _Axis(param, FloatDistribution(0.0, 1.0), out, _clamp(0.0, 1.0))
    if kind == "uniform":
        # Searched as the fraction of the way from min to max: TPE's sums never overflow,
        # however wide the range (``max - min`` may not fit in a float).
        half = high / 2 - low / 2
        unit = _clamp(0.0, 1.0)

        def fraction(value: Any) -> Any:
            number = _number(value)
            return None if number is None else unit((number / 2 - low / 2) / half if half else 0)

        return _Axis(
            param, FloatDistribution(0.0, 1.0), lambda u: out(low * (1 - u) + high * u), fraction
        )
    if kind in ("normal", "log_normal"):
        to_value: Callable[[float], float] = (lambda z: z) if kind == "normal" else _exp
        clamp = _clamp(_EDGE, 1 - _EDGE)

        def quantile(value: Any) -> Any:
            number = _number(value)
            if number is None or (kind == "log_normal" and number <= 0):
                return None
            z = number if kind == "normal" else math.log(number)
            return clamp(_UNIT.cdf((z - param.mu) / param.sigma))

        def draw(u: float) -> Any:
            return out(to_value(param.mu + param.sigma * _UNIT.inv_cdf(u)))

        return _Axis(param, FloatDistribution(_EDGE, 1 - _EDGE), draw, quantile)
    # The log-uniform kinds: a log scale over the values they yield.
    if kind == "log_uniform":
        span = (_exp(low), _exp(high))  # min and max are natural logs
    elif kind == "inv_log_uniform":
        span = (_exp(-high), _exp(-low))
    elif kind == "inv_log_uniform_values":
        span = (1.0 / high, min(1.0 / low, sys.float_info.max))  # 1 / 5e-324 is inf
    else:
        span = (low, high)
    return _Axis(param, FloatDistribution(*span, log=True), out, _clamp(*span))


def _axis(param: Param) -> _Axis | None:
    from optuna.distributions import CategoricalDistribution, IntDistribution

    if param.kind == "constant":
        return None
    if param.kind == "categorical":
        values = param.values

        def index_of(value: Any) -> Any:
            # Compared as JSON: 1 and True, or 1 and 1.0, are different values there.
            for i, candidate in enumerate(values):
                if type(candidate) is type(value) and candidate == value:
                    return i
            return None

        return _Axis(
            param, CategoricalDistribution(list(range(len(values)))), values.__getitem__, index_of
        )
    if param.kind == "int_uniform":
        low, high = int(param.min), int(param.max)

        def whole(value: Any) -> Any:
            inside = _clamp(low, high)(value)
            return None if inside is None else round(inside)

        return _Axis(param, IntDistribution(low, high), int, whole)
    return _float_axis(param)


def _seen(param: Param, config: dict[str, Any]) -> Any:
    node: Any = config
    for part in param.path:
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _trial(axes: Sequence[_Axis], outcome: TrialOutcome, state: TrialState) -> FrozenTrial:
    from optuna.trial import TrialState, create_trial

    params: dict[str, Any] = {}
    distributions: dict[str, BaseDistribution] = {}
    for axis in axes:
        internal = axis.internal(_seen(axis.param, outcome.config))
        if internal is not None:
            params[axis.key] = internal
            distributions[axis.key] = axis.distribution
    return create_trial(
        state=state, params=params, distributions=distributions,
        value=outcome.value if state == TrialState.COMPLETE else None,
        intermediate_values=dict(outcome.rungs) if state == TrialState.PRUNED else None,
    )  # fmt: skip


def trial_seed(seed: int, index: int) -> int:
    """The sampler's seed for trial ``index`` of a sweep seeded ``seed`` (numpy's 32 bits)."""
    digest = hashlib.sha256(f"{seed}/{index}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


def propose(spec: SweepSpec, seed: int, index: int, past: Past) -> dict[str, Any]:
    """Trial ``index``'s configuration: TPE's next point given the trials before it."""
    import optuna
    from optuna.trial import TrialState

    # The study is rebuilt for every trial: its "created" and "finished" lines are noise.
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    assert spec.metric is not None  # parse_sweep requires one for bayes
    axes = [axis for axis in map(_axis, spec.params) if axis is not None]
    trials = []
    for outcome in reversed(past(spec.metric.name, MAX_HISTORY)):
        done = outcome.status == "succeeded" and outcome.value is not None
        if done and math.isfinite(outcome.value or 0.0):
            trials.append(_trial(axes, outcome, TrialState.COMPLETE))
        elif outcome.rungs:
            # Stopped early (its run may not have ended yet): pruned at its last rung, as an
            # Optuna pruner leaves a trial, so TPE ranks it below the complete ones by how far
            # it got and its value there.
            trials.append(_trial(axes, outcome, TrialState.PRUNED))
        elif outcome.status in ("claimed", "queued", "running"):
            trials.append(_trial(axes, outcome, TrialState.RUNNING))
    sampler = optuna.samplers.TPESampler(seed=trial_seed(seed, index))
    goal: Literal["minimize", "maximize"] = (
        "maximize" if spec.metric.goal == "maximize" else "minimize"
    )
    study = optuna.create_study(direction=goal, sampler=sampler)
    study.add_trials(trials)
    asked = study.ask({axis.key: axis.distribution for axis in axes})
    chosen = {axis.param.path: axis.value(asked.params[axis.key]) for axis in axes}
    # In the sweep's order, as grid and random nest them.
    return _nest([(p, chosen.get(p.path, p.value)) for p in spec.params])


def check(spec: SweepSpec) -> None:
    """Refuse a bayes sweep this server cannot run, naming the key (:class:`SweepError`)."""
    assert spec.metric is not None  # parse_sweep requires one for bayes
    if any(c in '"\\' or ord(c) < 0x20 for c in spec.metric.name):
        raise SweepError(
            "metric.name", "bayes reads the metric from the summary: no double quote, "
            "backslash or control character in its name",
        )  # fmt: skip
    if importlib.util.find_spec("optuna") is None:
        raise SweepError("method", "bayes needs Optuna: pip install 'runwatch[server]'")
