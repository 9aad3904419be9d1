"""A sweep's search space: the configuration of trial number ``index``, for grid and random.

Both are pure functions of the sweep and the index, so the controller hands out an index once
(in a transaction) and every replica computes the same configuration for it:

- ``grid`` numbers the points of the parameters' cartesian product (the last parameter varies
  fastest), so trial ``i`` is point ``i`` and the space ends after :func:`grid_size` trials;
- ``random`` draws trial ``i`` from a generator seeded with the sweep's seed and ``i``.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from typing import Any, overload

from runwatch.sweeps.spec import Param, SweepError, SweepSpec

GRID_KINDS = ("constant", "categorical", "int_uniform", "q_uniform")
# The most steps one grid parameter may take: past 2**53 floats no longer tell its points apart.
MAX_GRID_STEPS = 2**53


def _quantize(x: float, q: float) -> float:
    steps = x / q
    if not math.isfinite(steps):
        return x  # a step too fine for floats to count: x is as near as they get
    value = round(steps) * q
    return int(value) if isinstance(q, int) else round(float(value), 12)


def grid_values(param: Param) -> Sequence[Any]:
    """The values a grid walks for one parameter (``SweepError`` for a continuous one)."""
    if param.kind == "categorical":
        return param.values
    if param.kind == "constant":
        return [param.value]
    if param.kind in ("int_uniform", "q_uniform"):
        step = param.q if param.kind == "q_uniform" else 1
        steps = (param.max - param.min) / step
        if not steps < MAX_GRID_STEPS:  # NaN and infinity too: floats could not count them
            raise SweepError(
                f"parameters.{param.name}",
                f"a grid from {param.min} to {param.max} in steps of {step} has more than "
                f"{MAX_GRID_STEPS:,} points; use a larger step, or method random or bayes",
            )
        # A huge range is never listed: only the values of the points handed out are built.
        return _Range(param.min, step, math.floor(steps + 1e-9) + 1)
    raise SweepError(
        f"parameters.{param.name}",
        f"grid search needs values, value, int_uniform or q_uniform, not {param.kind}",
    )


class _Range(Sequence[Any]):
    """``start + i * step`` for ``i < count``, without building the list."""

    def __init__(self, start: float, step: float, count: int) -> None:
        self.start, self.step, self.size = start, step, count

    def __len__(self) -> int:
        return self.size

    @overload
    def __getitem__(self, i: int) -> Any: ...

    @overload
    def __getitem__(self, i: slice) -> Sequence[Any]: ...

    def __getitem__(self, i: int | slice) -> Any:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(self.size))]
        if not 0 <= i < self.size:
            raise IndexError(i)
        return _quantize(self.start + i * self.step, self.step)


def grid_size(spec: SweepSpec) -> int:
    """How many points the grid has (checks every parameter is discrete)."""
    return math.prod(len(grid_values(p)) for p in spec.params)


def _nest(flat: list[tuple[Param, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for param, value in flat:
        node = out
        for part in param.path[:-1]:
            node = node.setdefault(part, {})
        node[param.path[-1]] = value
    return out


def grid_point(spec: SweepSpec, index: int) -> dict[str, Any]:
    """Point ``index`` of the grid (mixed radix, the last parameter fastest)."""
    axes = [grid_values(p) for p in spec.params]
    picks: list[Any] = []
    rest = index
    for values in reversed(axes):
        rest, digit = divmod(rest, len(values))
        picks.append(values[digit])
    picks.reverse()
    return _nest(list(zip(spec.params, picks, strict=True)))


def sample(param: Param, rng: random.Random) -> Any:
    """One value of ``param`` as W&B's random search draws it."""
    kind, low, high, q = param.kind, param.min, param.max, param.q
    if kind == "constant":
        return param.value
    if kind == "categorical":
        weights = param.probabilities
        return (
            rng.choices(param.values, weights=weights)[0] if weights else rng.choice(param.values)
        )
    draws: dict[str, Callable[[], float]] = {
        "int_uniform": lambda: rng.randint(int(low), int(high)),
        "uniform": lambda: rng.uniform(low, high),
        "q_uniform": lambda: _quantize(rng.uniform(low, high), q),
        "log_uniform": lambda: math.exp(rng.uniform(low, high)),  # min and max are natural logs
        "log_uniform_values": lambda: math.exp(rng.uniform(math.log(low), math.log(high))),
        "q_log_uniform": lambda: _quantize(math.exp(rng.uniform(low, high)), q),
        "q_log_uniform_values": lambda: _quantize(
            math.exp(rng.uniform(math.log(low), math.log(high))), q
        ),
        "inv_log_uniform": lambda: 1.0 / math.exp(rng.uniform(low, high)),
        "inv_log_uniform_values": lambda: (
            1.0 / math.exp(rng.uniform(math.log(1.0 / high), math.log(1.0 / low)))
        ),
        "normal": lambda: rng.gauss(param.mu, param.sigma),
        "q_normal": lambda: _quantize(rng.gauss(param.mu, param.sigma), q),
        "log_normal": lambda: rng.lognormvariate(param.mu, param.sigma),
        "q_log_normal": lambda: _quantize(rng.lognormvariate(param.mu, param.sigma), q),
        "beta": lambda: rng.betavariate(param.a, param.b),
        "q_beta": lambda: _quantize(rng.betavariate(param.a, param.b), q),
    }
    return draws[kind]()


def random_point(spec: SweepSpec, seed: int, index: int) -> dict[str, Any]:
    """Trial ``index`` of a random sweep seeded ``seed`` (the same on every replica)."""
    rng = random.Random(f"{seed}/{index}")
    return _nest([(p, sample(p, rng)) for p in spec.params])


def space_size(spec: SweepSpec) -> int | None:
    """How many trials the method's space holds (None: unbounded, a random search)."""
    return grid_size(spec) if spec.method == "grid" else None


def point(spec: SweepSpec, seed: int, index: int) -> dict[str, Any]:
    """The configuration of trial ``index`` (grid or random)."""
    if spec.method == "grid":
        return grid_point(spec, index)
    return random_point(spec, seed, index)
