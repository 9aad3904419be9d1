"""Local W&B sweeps: ``wandb.sweep`` registers a sweep; its configurations come from here.

``grid`` walks every combination of the parameters' ``values`` / ``value`` (and of the integers
of an ``int_uniform`` or ``q_uniform`` range); ``random`` samples each parameter (``values``
with optional ``probabilities``, ``value``, and the common distributions); ``bayes`` falls back
to ``random``. A sweep gives at most ``run_cap`` configurations (and :data:`MAX_SWEEP_RUNS`).
"""

from __future__ import annotations

import itertools
import math
import random
import secrets
from collections.abc import Iterator
from typing import Any

from runwatch.compat.wandb_types import warn_once

MAX_SWEEPS = 100  # sweeps registered in one process
MAX_SWEEP_RUNS = 10_000  # configurations one sweep gives at most (a random sweep without a cap)
GRID_RANGE_CAP = 1_000  # integers one grid parameter's range expands to at most

Path = tuple[str, ...]


class Sweep:
    """A registered sweep: its spec and the configurations it has given so far."""

    def __init__(self, spec: dict[str, Any], project: str | None) -> None:
        self.id = secrets.token_hex(4)
        self.spec = spec
        self.project = project or spec.get("project")
        self.method = str(spec.get("method", "random"))
        if self.method == "bayes":
            warn_once("bayes sweeps run as random search under runwatch (no Bayesian model)")
        elif self.method not in ("grid", "random"):
            warn_once(f"sweep method {self.method!r} is unknown; running a random search")
        if spec.get("early_terminate"):
            warn_once(
                "sweep early_terminate is not applied under runwatch; every run goes to its end"
            )
        cap = spec.get("run_cap")
        self.cap = min(int(cap), MAX_SWEEP_RUNS) if cap else MAX_SWEEP_RUNS
        self.given = 0
        self.leaves = _leaves(spec.get("parameters") or {})
        self._grid: Iterator[dict[str, Any]] | None = (
            _grid(self.leaves) if self.method == "grid" else None
        )

    def next_config(self) -> dict[str, Any] | None:
        """The next configuration (nested as the parameters are), None when the sweep is done."""
        if self.given >= self.cap:
            return None
        if self._grid is not None:
            config = next(self._grid, None)
            if config is None:
                return None
        else:
            config = _nest({path: _sample(path, spec) for path, spec in self.leaves})
        self.given += 1
        return config


_sweeps: dict[str, Sweep] = {}


def register(spec: dict[str, Any], project: str | None) -> Sweep:
    """A new sweep of ``spec`` (a W&B sweep configuration dict)."""
    if not isinstance(spec, dict):
        raise TypeError(f"a sweep configuration is a dict, not {type(spec).__name__}")
    if len(_sweeps) >= MAX_SWEEPS:
        _sweeps.pop(next(iter(_sweeps)))
    sweep = Sweep(spec, project)
    _sweeps[sweep.id] = sweep
    return sweep


def lookup(sweep_id: str) -> Sweep | None:
    """The sweep of ``sweep_id`` (also ``entity/project/id``), if this process registered it."""
    return _sweeps.get(str(sweep_id).rsplit("/", 1)[-1])


def _leaves(params: dict[str, Any], prefix: Path = ()) -> list[tuple[Path, dict[str, Any]]]:
    """Each parameter's path and spec; ``{"parameters": {...}}`` nests (a nested config)."""
    out: list[tuple[Path, dict[str, Any]]] = []
    for name, spec in params.items():
        path = (*prefix, str(name))
        if isinstance(spec, dict) and isinstance(spec.get("parameters"), dict):
            out += _leaves(spec["parameters"], path)
        elif isinstance(spec, dict):
            out.append((path, spec))
        else:
            warn_once(f"sweep parameter {'.'.join(path)} is not a dict; used as a constant")
            out.append((path, {"value": spec}))
    return out


def _nest(flat: dict[Path, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for path, value in flat.items():
        node = out
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
    return out


def _distribution(spec: dict[str, Any]) -> str:
    if "distribution" in spec:
        return str(spec["distribution"])
    if "values" in spec:
        return "categorical"
    if "value" in spec:
        return "constant"
    if isinstance(spec.get("min"), int) and isinstance(spec.get("max"), int):
        return "int_uniform"
    return "uniform"


def _grid_values(path: Path, spec: dict[str, Any]) -> list[Any] | None:
    """The values a grid walks for one parameter; None when it is continuous."""
    kind = _distribution(spec)
    if kind == "categorical":
        return list(spec["values"])
    if kind == "constant":
        return [spec["value"]]
    if kind in ("int_uniform", "q_uniform"):
        q = spec.get("q", 1)
        low, high = spec["min"], spec["max"]
        count = math.floor((high - low) / q) + 1
        if count > GRID_RANGE_CAP:
            warn_once(
                f"grid parameter {'.'.join(path)}: only its first {GRID_RANGE_CAP} values are walked"
            )
        return [low + i * q for i in range(min(count, GRID_RANGE_CAP))]
    warn_once(
        f"grid parameter {'.'.join(path)} has a {kind} distribution; it is sampled at random for "
        "each grid point"
    )
    return None


def _grid(leaves: list[tuple[Path, dict[str, Any]]]) -> Iterator[dict[str, Any]]:
    axes = [(path, spec, _grid_values(path, spec)) for path, spec in leaves]
    fixed = [(path, values) for path, _, values in axes if values is not None]
    sampled = [(path, spec) for path, spec, values in axes if values is None]
    for combo in itertools.product(*(values for _, values in fixed)):
        flat = {path: value for (path, _), value in zip(fixed, combo, strict=True)}
        flat.update({path: _sample(path, spec) for path, spec in sampled})
        yield _nest({path: flat[path] for path, _ in leaves})


def _quantize(x: float, q: Any) -> float | int:
    value = round(x / q) * q
    return int(value) if isinstance(q, int) else float(value)


def _sample(path: Path, spec: dict[str, Any]) -> Any:
    """One value of a parameter, as W&B's random search draws it."""
    kind = _distribution(spec)
    low, high = spec.get("min", 0), spec.get("max", 1)
    mu, sigma, q = spec.get("mu", 0.0), spec.get("sigma", 1.0), spec.get("q", 1)
    if kind == "constant":
        return spec["value"]
    if kind == "categorical":
        values = list(spec["values"])
        weights = spec.get("probabilities")
        return random.choices(values, weights=weights)[0] if weights else random.choice(values)
    if kind == "int_uniform":
        return random.randint(int(low), int(high))
    if kind == "uniform":
        return random.uniform(low, high)
    if kind == "q_uniform":
        return _quantize(random.uniform(low, high), q)
    if kind == "log_uniform":  # min and max are natural logs
        return math.exp(random.uniform(low, high))
    if kind == "log_uniform_values":
        return math.exp(random.uniform(math.log(low), math.log(high)))
    if kind == "q_log_uniform":
        return _quantize(math.exp(random.uniform(low, high)), q)
    if kind == "q_log_uniform_values":
        return _quantize(math.exp(random.uniform(math.log(low), math.log(high))), q)
    if kind == "inv_log_uniform":
        return 1.0 / math.exp(random.uniform(low, high))
    if kind == "inv_log_uniform_values":
        return 1.0 / math.exp(random.uniform(math.log(1.0 / high), math.log(1.0 / low)))
    if kind == "normal":
        return random.gauss(mu, sigma)
    if kind == "q_normal":
        return _quantize(random.gauss(mu, sigma), q)
    if kind == "log_normal":
        return random.lognormvariate(mu, sigma)
    if kind == "q_log_normal":
        return _quantize(random.lognormvariate(mu, sigma), q)
    if kind in ("beta", "q_beta"):
        value = random.betavariate(spec.get("a", 1.0), spec.get("b", 1.0))
        return _quantize(value, q) if kind == "q_beta" else value
    warn_once(
        f"sweep parameter {'.'.join(path)}: distribution {kind!r} is unknown; its midpoint is used"
    )
    return (low + high) / 2
