"""W&B's sweep configuration, checked: what a sweep file or ``POST /api/v1/sweeps`` holds.

The schema is W&B's (``method``, ``metric``, ``parameters`` with ``values`` / ``value`` /
``distribution`` and its bounds, nested ``parameters``, ``early_terminate``, ``run_cap``), so an
existing sweep file works unchanged. :func:`parse_sweep` refuses a bad one with a
:class:`SweepError` naming the key (``parameters.lr.min``). Parameters come out flat, one
:class:`Param` per leaf, each with the path it has in a trial's (nested) configuration.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

METHODS = ("grid", "random", "bayes")
GOALS = ("minimize", "maximize")
# Every distribution W&B's sweeps know, with the keys each one needs.
DISTRIBUTIONS: dict[str, tuple[str, ...]] = {
    "constant": ("value",),
    "categorical": ("values",),
    "int_uniform": ("min", "max"),
    "uniform": ("min", "max"),
    "q_uniform": ("min", "max"),
    "log_uniform": ("min", "max"),
    "log_uniform_values": ("min", "max"),
    "q_log_uniform": ("min", "max"),
    "q_log_uniform_values": ("min", "max"),
    "inv_log_uniform": ("min", "max"),
    "inv_log_uniform_values": ("min", "max"),
    "normal": (),
    "q_normal": (),
    "log_normal": (),
    "q_log_normal": (),
    "beta": (),
    "q_beta": (),
}
PARAM_KEYS = frozenset(
    {"distribution", "value", "values", "probabilities", "min", "max", "mu", "sigma", "q", "a", "b"}
)
# Top-level keys of W&B's schema; the ones runwatch does not act on are kept as given.
TOP_KEYS = frozenset(
    {"method", "parameters", "metric", "early_terminate", "run_cap", "name", "description",
     "program", "command", "project", "entity", "controller", "job", "image_uri"}
)  # fmt: skip
EARLY_TERMINATE_KEYS = frozenset({"type", "min_iter", "max_iter", "s", "eta", "strict"})
MAX_PARAMS = 1_000  # leaves in one sweep
MAX_DEPTH = 8  # nested ``parameters`` levels
MAX_VALUES = 10_000  # values of one categorical parameter
MAX_COMMAND_PARTS = 1_000  # parts of a sweep's ``command``
# The macros W&B's agent expands in a sweep's ``command`` (a part that is exactly ``${name}``);
# ``${envvar:NAME}`` may also sit anywhere in a part. See runwatch.sweeps.trial_command.
COMMAND_MACROS = frozenset(
    {"env", "interpreter", "program", "args", "args_no_equals", "args_no_hyphens",
     "args_no_boolean_flags", "args_json", "args_json_file", "args_append_hydra",
     "args_override_hydra"}
)  # fmt: skip

Path = tuple[str, ...]


class SweepError(ValueError):
    """A sweep configuration refused: ``key`` names where (``parameters.lr.min``)."""

    def __init__(self, key: str, message: str, source: str | None = None) -> None:
        """``source``: the file the configuration came from, said first."""
        text = f"{key}: {message}" if key else message
        super().__init__(f"{source}: {text}" if source else text)
        self.key = key
        self.message = message


@dataclass(frozen=True)
class Param:
    """One parameter (a leaf): its path in the configuration, its distribution and bounds."""

    path: Path
    kind: str
    values: list[Any] = field(default_factory=list)
    value: Any = None
    probabilities: list[float] | None = None
    min: float = 0.0
    max: float = 1.0
    mu: float = 0.0
    sigma: float = 1.0
    q: float = 1.0
    a: float = 1.0
    b: float = 1.0

    @property
    def name(self) -> str:
        """The dotted path (``optimizer.lr``)."""
        return ".".join(self.path)


@dataclass(frozen=True)
class Metric:
    """The metric a sweep optimises: its name and whether lower or higher is better."""

    name: str
    goal: str = "minimize"
    target: float | None = None


@dataclass(frozen=True)
class SweepSpec:
    """A checked sweep configuration; ``doc`` is the configuration as given."""

    method: str
    params: list[Param]
    metric: Metric | None
    early_terminate: dict[str, Any] | None
    run_cap: int | None
    doc: dict[str, Any]

    @property
    def project(self) -> str | None:
        """The project the configuration names, if any."""
        project = self.doc.get("project")
        return project if isinstance(project, str) and project else None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(spec: dict[str, Any], key: str, where: str, default: float) -> float:
    if key not in spec:
        return default
    value = spec[key]
    if not _is_number(value):
        raise SweepError(f"{where}.{key}", f"must be a finite number, not {value!r}")
    # An integer stays one: an int q quantises to integers, as under W&B.
    number: float = value
    return number


def _infer(spec: dict[str, Any]) -> str:
    """W&B's inference when ``distribution`` is absent."""
    if "values" in spec:
        return "categorical"
    if "value" in spec:
        return "constant"
    if _is_int(spec.get("min")) and _is_int(spec.get("max")):
        return "int_uniform"
    if "min" in spec or "max" in spec:
        return "uniform"
    raise SweepError("", "needs values, value, or a distribution with its bounds")


def _leaf(path: Path, spec: dict[str, Any]) -> Param:
    where = "parameters." + ".parameters.".join(path)
    for key in spec:
        if key not in PARAM_KEYS:
            raise SweepError(f"{where}.{key}", "is not a parameter key of W&B's sweep schema")
    try:
        kind = spec["distribution"] if "distribution" in spec else _infer(spec)
    except SweepError as exc:
        raise SweepError(where, exc.message) from None
    if kind not in DISTRIBUTIONS:
        raise SweepError(f"{where}.distribution", f"unknown distribution {kind!r}")
    for key in DISTRIBUTIONS[kind]:
        if key not in spec:
            raise SweepError(f"{where}.{key}", f"is required by the {kind} distribution")
    if kind == "categorical":
        return _categorical(path, where, spec)
    if kind == "constant":
        return Param(path, kind, value=spec["value"])
    low, high = _number(spec, "min", where, 0.0), _number(spec, "max", where, 1.0)
    bounds = {"mu": _number(spec, "mu", where, 0.0), "sigma": _number(spec, "sigma", where, 1.0),
              "q": _number(spec, "q", where, 1.0), "a": _number(spec, "a", where, 1.0),
              "b": _number(spec, "b", where, 1.0)}  # fmt: skip
    if "min" in DISTRIBUTIONS[kind] and low > high:
        raise SweepError(f"{where}.max", f"is below min ({high} < {low})")
    if kind == "int_uniform":
        for key in ("min", "max"):
            if not _is_int(spec[key]):
                raise SweepError(
                    f"{where}.{key}", f"int_uniform needs an integer, not {spec[key]!r}"
                )
    if kind.endswith("log_uniform_values") and low <= 0:
        raise SweepError(f"{where}.min", f"{kind} needs min > 0, not {low}")
    for key in ("sigma", "q", "a", "b"):
        if bounds[key] <= 0:
            raise SweepError(f"{where}.{key}", f"must be positive, not {bounds[key]}")
    return Param(path, kind, min=low, max=high, mu=bounds["mu"], sigma=bounds["sigma"],
                 q=bounds["q"], a=bounds["a"], b=bounds["b"])  # fmt: skip


def _categorical(path: Path, where: str, spec: dict[str, Any]) -> Param:
    values = spec["values"]
    if not isinstance(values, list) or not values:
        raise SweepError(f"{where}.values", "must be a non-empty list")
    if len(values) > MAX_VALUES:
        raise SweepError(f"{where}.values", f"holds more than {MAX_VALUES:,} values")
    weights = spec.get("probabilities")
    if weights is not None:
        if not isinstance(weights, list) or len(weights) != len(values):
            raise SweepError(f"{where}.probabilities", "must be a list as long as values")
        if not all(_is_number(w) and w >= 0 for w in weights) or abs(sum(weights) - 1) > 1e-6:
            raise SweepError(f"{where}.probabilities", "must be non-negative numbers summing to 1")
    return Param(path, "categorical", values=list(values), probabilities=weights)


def _params(tree: Any, prefix: Path, out: list[Param]) -> None:
    where = "parameters" if not prefix else "parameters." + ".parameters.".join(prefix)
    if not isinstance(tree, dict) or not tree:
        raise SweepError(where, "must be a non-empty mapping of parameter names")
    if len(prefix) >= MAX_DEPTH:
        raise SweepError(where, f"nests more than {MAX_DEPTH} levels of parameters")
    for name, spec in tree.items():
        path = (*prefix, str(name))
        if not isinstance(spec, dict):
            raise SweepError(f"{where}.{name}", "must be a mapping (values, value, distribution…)")
        if "parameters" in spec:
            extra = sorted(set(spec) - {"parameters"})
            if extra:
                raise SweepError(f"{where}.{name}.{extra[0]}", "beside nested parameters")
            _params(spec["parameters"], path, out)
        else:
            out.append(_leaf(path, spec))
        if len(out) > MAX_PARAMS:
            raise SweepError("parameters", f"holds more than {MAX_PARAMS:,} parameters")


def _metric(doc: dict[str, Any]) -> Metric | None:
    metric = doc.get("metric")
    if metric is None:
        return None
    if not isinstance(metric, dict):
        raise SweepError("metric", "must be a mapping with name and goal")
    for key in metric:
        if key not in ("name", "goal", "target"):
            raise SweepError(f"metric.{key}", "is not a key of a sweep's metric")
    name, goal = metric.get("name"), metric.get("goal", "minimize")
    if not isinstance(name, str) or not name:
        raise SweepError("metric.name", "is required (the logged key to optimise)")
    if goal not in GOALS:
        raise SweepError("metric.goal", f"must be minimize or maximize, not {goal!r}")
    target = metric.get("target")
    if target is not None and not _is_number(target):
        raise SweepError("metric.target", f"must be a number, not {target!r}")
    return Metric(name, goal, None if target is None else float(target))


def _early_terminate(doc: dict[str, Any]) -> dict[str, Any] | None:
    rule = doc.get("early_terminate")
    if rule is None:
        return None
    if not isinstance(rule, dict):
        raise SweepError("early_terminate", "must be a mapping with type hyperband")
    for key in rule:
        if key not in EARLY_TERMINATE_KEYS:
            raise SweepError(f"early_terminate.{key}", "is not a key of hyperband")
    if rule.get("type") != "hyperband":
        raise SweepError("early_terminate.type", f"must be hyperband, not {rule.get('type')!r}")
    if "min_iter" not in rule and "max_iter" not in rule:
        raise SweepError("early_terminate.min_iter", "hyperband needs min_iter or max_iter")
    for key in ("min_iter", "max_iter", "s", "eta"):
        if key in rule and not (_is_int(rule[key]) and rule[key] > 0):
            raise SweepError(
                f"early_terminate.{key}", f"must be a positive integer, not {rule[key]!r}"
            )
    if rule.get("eta", 3) < 2:
        raise SweepError("early_terminate.eta", "must be at least 2")
    return dict(rule)


def _command(doc: dict[str, Any]) -> None:
    """Refuse a ``command`` W&B's agent could not run: not a list of strings (a number is taken
    as its text, as W&B's agent does), or a part that is an unknown macro (``${arg}``), which
    W&B's agent would drop, silently leaving the trial without its configuration."""
    command = doc.get("command")
    if command is None:
        return
    if not isinstance(command, list):
        raise SweepError("command", f"must be a list of strings, not {command!r}")
    if len(command) > MAX_COMMAND_PARTS:
        raise SweepError("command", f"holds more than {MAX_COMMAND_PARTS:,} parts")
    for index, part in enumerate(command):
        if not isinstance(part, str) and not _is_number(part):
            raise SweepError(f"command[{index}]", f"must be a string, not {part!r}")
        text = str(part)
        macro = text[2:-1] if text.startswith("${") and text.endswith("}") else None
        if macro is not None and not macro.startswith("envvar:") and macro not in COMMAND_MACROS:
            known = ", ".join("${" + m + "}" for m in sorted(COMMAND_MACROS))
            raise SweepError(f"command[{index}]", f"unknown macro {text}; W&B's are {known}")


def _non_finite(doc: dict[str, Any]) -> None:
    """Refuse the first NaN or infinity anywhere in ``doc`` (YAML's ``.nan`` / ``.inf``,
    JSON's ``NaN`` / ``Infinity``): no key of the schema takes one, and a value or a choice
    that is one would reach every trial's configuration and the bayes model. A loop, not
    recursion: a sweep file may nest deeper than Python's stack."""
    stack: list[tuple[str, Any]] = [("", doc)]
    while stack:
        where, node = stack.pop()
        if isinstance(node, float) and not math.isfinite(node):
            raise SweepError(where, f"must be a finite number, not {node!r}")
        if isinstance(node, dict):
            items = [
                (f"{where}.{key}" if where else str(key), value) for key, value in node.items()
            ]
        elif isinstance(node, list):
            items = [(f"{where}[{index}]", value) for index, value in enumerate(node)]
        else:
            continue
        stack.extend(reversed(items))  # the first bad key in the document's order is named


def parse_sweep(doc: Any) -> SweepSpec:
    """Check a sweep configuration (W&B's schema); :class:`SweepError` names the first bad key."""
    if not isinstance(doc, dict):
        raise SweepError("", f"a sweep configuration is a mapping, not {type(doc).__name__}")
    _non_finite(doc)
    for key in doc:
        if key not in TOP_KEYS:
            raise SweepError(str(key), "is not a key of W&B's sweep configuration")
    method = doc.get("method")
    if method is None:
        raise SweepError("method", "is required: grid, random or bayes")
    if method not in METHODS:
        raise SweepError("method", f"must be grid, random or bayes, not {method!r}")
    for key in ("name", "description", "program", "project", "entity"):
        if key in doc and not isinstance(doc[key], str):
            raise SweepError(key, f"must be a string, not {doc[key]!r}")
    _command(doc)
    if "parameters" not in doc:
        raise SweepError("parameters", "is required: the search space")
    params: list[Param] = []
    _params(doc["parameters"], (), params)
    run_cap = doc.get("run_cap")
    if run_cap is not None and not (_is_int(run_cap) and run_cap > 0):
        raise SweepError("run_cap", f"must be a positive integer, not {run_cap!r}")
    metric = _metric(doc)
    early = _early_terminate(doc)
    if early is not None and metric is None:
        raise SweepError("metric", "is required by early_terminate")
    if method == "bayes" and metric is None:
        raise SweepError("metric", "is required by the bayes method")
    return SweepSpec(method, params, metric, early, run_cap, doc)
