"""The run object of the W&B shim: W&B's step/commit rules and ``define_metric`` over a runwatch run.

W&B keeps one pending history row: ``log(d)`` merges ``d`` into it and commits it at the current
step (then the step moves on); ``log(d, commit=False)`` only merges; ``log(d, step=s)`` commits
the pending row first when ``s`` is past the current step, and ignores ``s`` behind it (with a
warning, as W&B does). A committed row goes to runwatch as one ``log()`` per step: keys with a
``define_metric(step_metric=...)`` use that metric's value as their step.
"""

from __future__ import annotations

import fnmatch
import math
from types import TracebackType
from typing import Any

from runwatch.compat.wandb_types import (
    EVENT_LEVEL,
    Config,
    Summary,
    Table,
    Unsupported,
    warn_once,
)
from runwatch.sdk.run import Run

AGGREGATES = ("min", "max", "mean", "last", "first", "best", "none")


class MetricSpec:
    """What ``define_metric`` said about the keys matching ``pattern``."""

    def __init__(
        self, pattern: str, step_metric: str | None, summary: list[str], goal: str
    ) -> None:
        self.pattern = pattern
        self.step_metric = step_metric
        self.summary = summary
        self.goal = goal


class _Aggregate:
    """Running min/max/mean/first/last of one key (what summary aggregates need: O(1) memory)."""

    def __init__(self, value: float) -> None:
        self.first = self.last = self.min = self.max = value
        self.total, self.count = value, 1

    def add(self, value: float) -> None:
        self.last = value
        self.min, self.max = min(self.min, value), max(self.max, value)
        self.total += value
        self.count += 1


class WandbRun:
    """``wandb.init()``'s return value; ``run`` is None in ``mode="disabled"`` (all no-ops)."""

    def __init__(self, run: Run | None, config: dict[str, Any], notes: str | None) -> None:
        self._run = run
        self.id: str = run.id if run else "disabled"
        self.name: str = (run.name if run else None) or self.id
        self.project: str = run.project if run else "disabled"
        self.url: str | None = run.url if run else None
        self.dir: str = str(run.dir) if run else "."
        self.notes = notes
        self.config = Config(config, self._config_changed)
        self.summary = Summary()
        self._metrics: list[MetricSpec] = []
        self._aggregates: dict[str, _Aggregate] = {}
        self._latest: dict[str, float] = {}  # last value of every key (step metrics read it)
        self._pending: dict[str, Any] = {}
        self._step = 0
        self._finished = False

    def resume_at(self, step: int, stored_config: dict[str, Any]) -> None:
        """Continue a resumed run: the next row gets ``step``; stored config keys come back."""
        self._step = step
        self.config.restore(stored_config)

    @property
    def step(self) -> int:
        """The step the next committed row gets."""
        return self._step

    # -- logging -----------------------------------------------------------------------------
    def log(
        self, data: dict[str, Any], step: int | None = None, commit: bool | None = None
    ) -> None:
        """W&B's ``log``: merge ``data`` into the pending row; commit it per W&B's rules."""
        try:
            if step is not None:
                step = int(step)
                if step < self._step:
                    warn_once(
                        f"wandb.log step {step} is behind the current step {self._step}; "
                        "data logged at an earlier step is ignored (as W&B does)"
                    )
                    return
                if step > self._step:
                    self._commit()
                    self._step = step
            self._pending.update(data)
            if commit or (commit is None and step is None):
                self._commit()
        except Exception as exc:  # telemetry never breaks the training loop
            warn_once(f"wandb.log failed and was skipped: {exc!r}")

    def _commit(self) -> None:
        row, self._pending = self._pending, {}
        if row and self._run is not None:
            self._send(_flatten(row), self._step)
        self._step += 1

    def _send(self, row: dict[str, Any], step: int) -> None:
        assert self._run is not None
        numeric: dict[str, float] = {}
        for key, value in row.items():
            if isinstance(value, Table):
                self._run.table(key, value.row_dicts())
            elif isinstance(value, Unsupported):
                continue  # its construction already said it is not supported
            else:
                number = _number(value)
                if number is None:
                    warn_once(
                        f"wandb.log: {key!r} is a {type(value).__name__}, not a number; skipped"
                    )
                else:
                    numeric[key] = number
        self._latest.update(numeric)
        by_step: dict[int, dict[str, float]] = {}
        for key, number in numeric.items():
            spec = self._spec(key)
            at = step
            if spec is not None and spec.step_metric and spec.step_metric != key:
                custom = self._latest.get(spec.step_metric)
                if custom is not None and math.isfinite(custom):
                    at = int(custom)
            by_step.setdefault(at, {})[key] = number
            self._summarise(key, number, spec)
        for at, values in sorted(by_step.items()):
            self._run.log(values, step=at)

    def _summarise(self, key: str, value: float, spec: MetricSpec | None) -> None:
        agg = self._aggregates.get(key)
        if agg is None:
            agg = self._aggregates[key] = _Aggregate(value)
        else:
            agg.add(value)
        kinds = spec.summary if spec is not None and spec.summary else ["last"]
        if kinds == ["last"]:
            self.summary[key] = value
        elif "none" in kinds:
            if key in self.summary:
                del self.summary[key]
        else:
            self.summary[key] = {k: _aggregate(agg, k, spec) for k in kinds}

    def define_metric(
        self,
        name: str,
        step_metric: str | None = None,
        step_sync: bool | None = None,
        hidden: bool | None = None,
        summary: str | None = None,
        goal: str | None = None,
        overwrite: bool | None = None,
        **_: Any,
    ) -> MetricSpec:
        """Declare a key's (or a ``prefix/*`` glob's) x-axis metric and summary aggregates."""
        kinds = [k.strip() for k in (summary or "").split(",") if k.strip()]
        for bad in [k for k in kinds if k not in AGGREGATES]:
            warn_once(f"define_metric: summary {bad!r} is not supported; ignored")
        spec = MetricSpec(name, step_metric, [k for k in kinds if k in AGGREGATES], goal or "")
        self._metrics.insert(0, spec)  # the latest definition wins
        return spec

    def _spec(self, key: str) -> MetricSpec | None:
        for spec in self._metrics:
            if spec.pattern == key or fnmatch.fnmatchcase(key, spec.pattern):
                return spec
        return None

    # -- other calls ---------------------------------------------------------------------------
    def alert(self, title: str, text: str, level: Any = None, wait_duration: Any = None) -> None:
        """An ``alert`` event (no e-mail or Slack: runwatch shows it in the feed)."""
        raw = getattr(level, "value", level) or "INFO"
        if self._run is not None:
            event_level = EVENT_LEVEL.get(str(raw).upper(), "info")
            self._run.event("alert", level=event_level, title=str(title), text=str(text))

    def watch(self, *args: Any, **kwargs: Any) -> None:
        """No-op: runwatch does not record gradients or parameters."""
        warn_once("wandb.watch is a no-op under runwatch (gradients/parameters are not recorded)")

    def save(self, *args: Any, **kwargs: Any) -> bool:
        """No-op: files stay in the run directory (the launcher's scanner lists them)."""
        warn_once("wandb.save is a no-op under runwatch (files stay in the run directory)")
        return True

    def _config_changed(self, changes: dict[str, Any]) -> None:
        if self._run is not None:
            self._run.config.update(changes)
            # Nested, so keys such as "kind" or "level" cannot clash with event()'s own arguments.
            self._run.event("config.update", values=changes)

    def finish(self, exit_code: int | None = None, quiet: bool | None = None) -> None:
        """Commit the pending row, send the summary table and end the run (non-zero: failed)."""
        if self._finished:
            return
        self._finished = True
        if self._pending:
            self._commit()
        if self._run is None:
            return
        if len(self.summary):
            self._run.table("summary", [self.summary.as_dict()])
        failed = exit_code not in (None, 0)
        self._run.finish(
            status="failed" if failed else None,
            error=f"exit code {exit_code}" if failed else None,
            exit_code=exit_code,
        )

    def _repr_html_(self) -> str:
        """In Jupyter: the run's live page (as ``runwatch.Run`` shows it)."""
        return self._run._repr_html_() if self._run is not None else "<p>wandb run disabled</p>"

    def __enter__(self) -> WandbRun:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.finish(exit_code=1 if exc_type is not None else None)

    def __getattr__(self, name: str) -> Unsupported:
        if name.startswith("_"):
            raise AttributeError(name)
        return Unsupported(f"run.{name}")


def _flatten(row: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, f"{name}/"))
        else:
            out[name] = value
    return out


def _number(value: Any) -> float | None:
    """A loggable number (bools, numpy/torch scalars: anything ``float()`` takes), else None."""
    if isinstance(value, str | bytes):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _aggregate(agg: _Aggregate, kind: str, spec: MetricSpec | None) -> float:
    if kind == "best":
        return agg.max if spec is not None and spec.goal.startswith("max") else agg.min
    if kind == "mean":
        return agg.total / agg.count
    value: float = getattr(agg, kind)
    return value
