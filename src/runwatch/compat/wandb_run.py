"""The run object of the W&B shim: W&B's step/commit rules and ``define_metric`` over a runwatch run.

W&B keeps one pending history row: ``log(d)`` merges ``d`` into it and commits it at the current
step (then the step moves on); ``log(d, commit=False)`` only merges; ``log(d, step=s)`` commits
the pending row first when ``s`` is past the current step, and ignores ``s`` behind it (with a
warning, as W&B does). A committed row goes to runwatch as one ``log()`` per step: keys with a
``define_metric(step_metric=...)`` use that metric's value as their step. ``log()`` with no
data (or ``{}``) commits the pending row.

The runwatch run is created at the first record (see ``wandb_lazy``): config set between
``init`` and then is the run's config; later changes are ``config.update`` events.
"""

from __future__ import annotations

import fnmatch
import math
import os
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from runwatch.compat.wandb_artifacts import Artifact, ArtifactLog, code_files, known_artifact
from runwatch.compat.wandb_lazy import LazyRun
from runwatch.compat.wandb_media import Histogram, Image
from runwatch.compat.wandb_sweeps import Interrupter, TrialStopped
from runwatch.compat.wandb_types import (
    EVENT_LEVEL,
    Config,
    Summary,
    Table,
    Unsupported,
    safe,
    warn_once,
)
from runwatch.compat.wandb_watch import Watch, watch_modules
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
    """``wandb.init()``'s return value; ``create`` is None in ``mode="disabled"`` (all no-ops).

    ``create(spec)`` makes the runwatch run from ``spec`` (``name``, ``config``, ``tags``,
    ``group``), on a thread of its own, when the first record needs it. ``interrupter`` is a
    sweep trial's (``wandb.agent``): ``log`` is its safe point, and ``finish`` turns it off.
    """

    def __init__(
        self,
        create: Callable[[dict[str, Any]], Run] | None,
        *,
        run_id: str,
        name: str | None,
        project: str,
        entity: str,
        url: str | None,
        run_dir: str,
        config: dict[str, Any],
        notes: str | None = None,
        tags: list[str] | None = None,
        group: str | None = None,
        job_type: str | None = None,
        sweep_id: str | None = None,
        interrupter: Interrupter | None = None,
    ) -> None:
        self._interrupter = interrupter
        self._lazy = LazyRun(create) if create is not None else None
        self.id = run_id
        self._name = name
        self.project = project
        self.entity = entity
        self.url = url
        self.dir = run_dir
        self._notes = notes
        self._tags = list(tags or [])
        self._group = group
        self.job_type = job_type
        self.sweep_id = sweep_id
        self.resumed = False
        self.config = Config(config, self._config_changed)
        self.summary = Summary()
        self._artifacts = ArtifactLog(project, self._send_manifest)
        self._metrics: list[MetricSpec] = []
        self._aggregates: dict[str, _Aggregate] = {}
        self._latest: dict[str, float] = {}  # last value of every key (step metrics read it)
        self._pending: dict[str, Any] = {}
        self._step = 0
        self._finished = False
        self._watches: list[Watch] = []
        if notes:
            self._do(lambda r: r.event("notes", text=str(notes)), start=False)

    # -- the runwatch run behind it ----------------------------------------------------------
    @property
    def _run(self) -> Run | None:
        """The runwatch run once it exists (None before the first record, or disabled)."""
        return self._lazy.run if self._lazy is not None else None

    def _do(self, op: Callable[[Run], None], start: bool = True) -> None:
        """Apply ``op`` to the runwatch run (creating it first when ``start``)."""
        if self._lazy is None:
            return
        if start and not self._lazy.started:
            spec = {"name": self._name, "config": self.config.as_dict(), "tags": self._tags}
            self._lazy.start({**spec, "group": self._group})
        self._lazy.call(op)

    def _fixed(self, what: str) -> bool:
        """True (with one warning) when the run already exists, so ``what`` cannot change."""
        if self._lazy is not None and self._lazy.started:
            warn_once(f"run.{what} set after the run started recording is not stored; ignored")
            return True
        return False

    @property
    def name(self) -> str:
        return self._name or self.id

    @name.setter
    def name(self, value: str) -> None:
        if not self._fixed("name"):
            self._name = str(value)

    @property
    def tags(self) -> tuple[str, ...]:
        return tuple(self._tags)

    @tags.setter
    def tags(self, value: Any) -> None:
        if not self._fixed("tags"):
            self._tags = [str(t) for t in value]

    @property
    def group(self) -> str | None:
        return self._group

    @group.setter
    def group(self, value: str) -> None:
        if not self._fixed("group"):
            self._group = str(value)

    @property
    def notes(self) -> str | None:
        return self._notes

    @notes.setter
    def notes(self, value: str) -> None:
        self._notes = str(value)
        self._do(lambda r: r.event("notes", text=str(value)), start=False)

    @property
    def path(self) -> str:
        return f"{self.entity}/{self.project}/{self.id}"

    @property
    def disabled(self) -> bool:
        return self._lazy is None

    offline = False

    def get_url(self) -> str | None:
        return self.url

    def get_project_url(self) -> str | None:
        return self.url.rsplit("/runs/", 1)[0] + f"/?project={self.project}" if self.url else None

    def resume_at(self, step: int, stored_config: dict[str, Any]) -> None:
        """Continue a resumed run: the next row gets ``step``; stored config keys come back."""
        self._step = step
        self.resumed = True
        self.config.restore(stored_config)

    @property
    def step(self) -> int:
        """The step the next committed row gets."""
        return self._step

    # -- logging -----------------------------------------------------------------------------
    def log(
        self,
        data: dict[str, Any] | None = None,
        step: int | None = None,
        commit: bool | None = None,
        sync: bool | None = None,
    ) -> None:
        """W&B's ``log``: merge ``data`` into the pending row; commit it per W&B's rules
        (``log()`` or ``log({})`` alone commits the pending row)."""
        if self._interrupter is not None:
            self._interrupter.checkpoint()  # a cancelled sweep trial stops here, nothing logged
        try:
            if data is not None and not isinstance(data, dict):
                raise TypeError(f"wandb.log takes a dict, not {type(data).__name__}")
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
            self._pending.update(data or {})
            if commit or (commit is None and step is None):
                self._commit()
        except Exception as exc:  # telemetry never breaks the training loop
            warn_once(f"wandb.log failed and was skipped: {exc!r}", key="log-failed")

    def _commit(self) -> None:
        row, self._pending = self._pending, {}
        if row and self._lazy is not None:
            self._send(_flatten(row), self._step)
        self._step += 1

    def _send(self, row: dict[str, Any], step: int) -> None:
        numeric: dict[str, float] = {}
        texts: dict[str, str] = {}
        for key, value in row.items():
            if isinstance(value, str):
                texts[key] = value  # kept as text (the run's latest values, runs queries)
            elif isinstance(value, Table):
                self._do(_table_op(key, value.row_dicts()))
            elif isinstance(value, Unsupported):
                continue  # its construction already said it is not supported
            elif _is_media(value):
                self._send_media(key, value, step)
            else:
                number = _number(value)
                if number is None:
                    warn_once(
                        f"wandb.log: {key!r} is a {type(value).__name__}, not a number; skipped"
                    )
                else:
                    numeric[key] = number
        self._latest.update(numeric)
        by_step: dict[int, dict[str, float | str]] = {}
        for key, number in numeric.items():
            spec = self._spec(key)
            at = step
            if spec is not None and spec.step_metric and spec.step_metric != key:
                custom = self._latest.get(spec.step_metric)
                if custom is not None and math.isfinite(custom):
                    at = int(custom)
            by_step.setdefault(at, {})[key] = number
            self._summarise(key, number, spec)
        if texts:
            by_step.setdefault(step, {}).update(texts)
        for at, values in sorted(by_step.items()):
            self._do(_log_op(values, at))

    def _send_media(self, key: str, value: Any, step: int) -> None:
        """An image, a histogram, or a list of images (``key/0``, ``key/1``, …: runwatch keeps
        one image per key and step) at the row's step."""
        if isinstance(value, Histogram):
            if value.ok:
                self._do(_histogram_op(key, value, step))
        elif isinstance(value, Image):
            if value.data is not None:
                self._do(_image_op(key, value, step))
        else:
            for i, item in enumerate(value):
                self._send_media(f"{key}/{i}", item, step)

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

    @safe("wandb.define_metric")
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
        spec = MetricSpec(str(name), step_metric, [k for k in kinds if k in AGGREGATES], goal or "")
        self._metrics.insert(0, spec)  # the latest definition wins
        return spec

    def _spec(self, key: str) -> MetricSpec | None:
        for spec in self._metrics:
            if spec.pattern == key or fnmatch.fnmatchcase(key, spec.pattern):
                return spec
        return None

    # -- artifacts and files -----------------------------------------------------------------
    def _send_manifest(self, manifest: list[dict[str, Any]]) -> None:
        self._do(lambda r: r.artifacts(manifest))

    @safe("run.log_artifact")
    def log_artifact(
        self,
        artifact_or_path: Artifact | str | os.PathLike[str],
        name: str | None = None,
        type: str | None = None,
        aliases: list[str] | None = None,
        tags: list[str] | None = None,
        **_: Any,
    ) -> Artifact:
        """Record an artifact's files (SHA-256, size) in the run's manifest as its next
        version; a path makes an artifact of that file or directory."""
        artifact = _as_artifact(artifact_or_path, name, type)
        version = self._artifacts.record(artifact, "output", list(aliases or []))
        self._do(lambda r: r.event("artifact.logged", artifact=artifact.name, version=version,
                                   type=artifact.type, files=len(artifact.files)))  # fmt: skip
        return artifact

    @safe("run.use_artifact")
    def use_artifact(
        self,
        artifact_or_name: Artifact | str,
        type: str | None = None,
        aliases: list[str] | None = None,
        use_as: str | None = None,
        **_: Any,
    ) -> Artifact:
        """Record an artifact as this run's input. By name (``name:v0``, ``name:latest``) it
        is the one this process logged under that name, if any (its files are listed)."""
        if isinstance(artifact_or_name, Artifact):
            artifact = artifact_or_name
        else:
            known = known_artifact(str(artifact_or_name))
            if known is not None:
                artifact = known
            else:
                warn_once(
                    f"use_artifact({artifact_or_name!r}): runwatch has no such artifact from this "
                    "process; only the name is recorded"
                )
                artifact = Artifact(str(artifact_or_name).split(":")[0], type or "artifact")
        self._artifacts.record(artifact, "input", list(aliases or []))
        return artifact

    @safe("run.link_artifact")
    def link_artifact(
        self, artifact: Artifact, target_path: str, aliases: list[str] | None = None
    ) -> None:
        """No registry under runwatch: the artifact is recorded (as ``log_artifact`` does) and
        the link target kept in its metadata."""
        warn_once(
            "link_artifact: runwatch has no model registry; the artifact is recorded, the link is not"
        )
        artifact.metadata.setdefault("linked_to", str(target_path))
        self.log_artifact(artifact, aliases=aliases)

    @safe("run.log_code")
    def log_code(
        self,
        root: str | os.PathLike[str] | None = ".",
        name: str | None = None,
        include_fn: Callable[..., bool] | None = None,
        exclude_fn: Callable[..., bool] | None = None,
        **_: Any,
    ) -> Artifact | None:
        """Record the source files under ``root`` (``*.py`` unless ``include_fn`` says
        otherwise) as a ``code`` artifact."""
        base = Path(root or ".")

        def include(path: str) -> bool:
            return bool(include_fn(path, base) if include_fn else path.endswith(".py"))

        def exclude(path: str) -> bool:
            return bool(exclude_fn(path, base) if exclude_fn else False)

        artifact = Artifact(name or f"source-{self.project}-{self.id}", "code")
        for path in code_files(base, _lenient(include), _lenient(exclude)):
            artifact.add_file(path, name=path.relative_to(base).as_posix())
        if not artifact.files:
            warn_once(f"log_code found no source files under {base}; nothing recorded")
            return None
        return self.log_artifact(artifact)

    @safe("run.log_model")
    def log_model(
        self,
        path: str | os.PathLike[str],
        name: str | None = None,
        aliases: list[str] | None = None,
    ) -> None:
        """A ``model`` artifact of the file or directory at ``path``."""
        self.log_artifact(_as_artifact(path, name, "model"), aliases=aliases)

    @safe("wandb.save", fallback=lambda: False)
    def save(
        self,
        glob_str: str | os.PathLike[str] | None = None,
        base_path: str | os.PathLike[str] | None = None,
        policy: str = "live",
    ) -> bool:
        """Record the files matching ``glob_str`` (SHA-256, size) in the run's manifest; the
        pattern is matched again at ``finish`` for files written after this call."""
        if glob_str is None:
            warn_once("wandb.save() without a glob records nothing")
            return False
        base = Path(base_path) if base_path is not None else Path.cwd()
        pattern = str(glob_str)
        if base_path is not None and os.path.isabs(pattern):
            pattern = os.path.relpath(pattern, base)
        self._artifacts.saved.append((pattern, base))
        self._artifacts.save_files(pattern, base)
        return True

    def restore(self, name: str, *args: Any, **kwargs: Any) -> None:
        """Nothing to restore from: files are never uploaded under runwatch."""
        warn_once(
            f"wandb.restore({name!r}): runwatch keeps no copies of run files; nothing restored"
        )

    # -- other calls ---------------------------------------------------------------------------
    @safe("wandb.alert")
    def alert(self, title: str, text: str, level: Any = None, wait_duration: Any = None) -> None:
        """An ``alert`` event (no e-mail or Slack: runwatch shows it in the feed)."""
        raw = getattr(level, "value", level) or "INFO"
        event_level = EVENT_LEVEL.get(str(raw).upper(), "info")
        self._do(lambda r: r.event("alert", level=event_level, title=str(title), text=str(text)))

    @safe("wandb.watch")
    def watch(
        self,
        models: Any,
        criterion: Any = None,
        log: str | None = "gradients",
        log_freq: int = 1000,
        idx: int | None = None,
        log_graph: bool = False,
    ) -> None:
        """Log the torch ``models``' gradients and/or parameters (``log``: ``"gradients"``,
        ``"parameters"``, ``"all"`` or None) as histograms every ``log_freq`` passes."""
        if log_graph:
            warn_once("wandb.watch: the model graph is not recorded (log_graph=True ignored)")
        self._watches += watch_modules(models, log, log_freq, self._watched, self._watches)

    def _watched(self, key: str, tensor: Any) -> None:
        """A watched tensor's copy, as a histogram at the row being built."""
        step = self._step
        self._do(lambda r: r.histogram(key, tensor, step=step))

    @safe("wandb.unwatch")
    def unwatch(self, models: Any = None) -> None:
        """Take the hooks off ``models`` (one module or a sequence; None: every watched one)."""
        chosen = (
            None if models is None else models if isinstance(models, list | tuple) else [models]
        )
        keep = []
        for watched in self._watches:
            if chosen is None or any(watched.module is m for m in chosen):
                watched.remove()
            else:
                keep.append(watched)
        self._watches = keep

    def mark_preempting(self) -> None:
        """A ``preempting`` event: the run is about to be stopped and resumed."""
        self._do(lambda r: r.event("preempting", level="warning"))

    def _config_changed(self, changes: dict[str, Any]) -> None:
        """Before the first record the change is part of the run's initial config; after it,
        the stored config is updated in place. Either way it is kept as an event too."""
        if self._lazy is None:
            return
        started = self._lazy.started

        def apply(run: Run) -> None:
            if started:
                run.update_config(changes)
            # Nested, so keys such as "kind" or "level" cannot clash with event()'s arguments.
            run.event("config.update", values=changes)

        self._do(apply, start=False)

    @safe("wandb.finish")
    def finish(self, exit_code: int | None = None, quiet: bool | None = None) -> None:
        """Commit the pending row, send the summary table and end the run (non-zero: failed)."""
        if self._interrupter is not None:
            self._interrupter.done()  # an interruption now would leave the run half finished
        if self._finished:
            return
        self._close()
        if self._lazy is None:
            return
        run = self._lazy.wait()
        if run is None:
            return
        failed = exit_code not in (None, 0)
        run.finish(
            status="failed" if failed else None,
            error=f"exit code {exit_code}" if failed else None,
            exit_code=exit_code,
        )

    def _close(self) -> None:
        """Everything but the final status: the pending row, files saved by glob, the summary;
        and the run made (a run that recorded nothing still exists, as under W&B)."""
        self._finished = True
        self.unwatch()
        if self._pending:
            self._commit()
        for pattern, base in self._artifacts.saved:
            self._artifacts.save_files(pattern, base)
        if len(self.summary):
            summary = self.summary.as_dict()
            self._do(lambda r: r.table("summary", [summary]))
        self._do(lambda r: None)

    def close_at_exit(self) -> None:
        """At interpreter exit: the run is completed and made; the SDK then sets its status
        (``failed`` with the traceback when the script died of an exception)."""
        if not self._finished:
            self._close()
            if self._lazy is not None:
                self._lazy.wait()

    def _repr_html_(self) -> str:
        """In Jupyter: the run's live page (as ``runwatch.Run`` shows it)."""
        self._do(lambda r: None)
        run = self._lazy.wait() if self._lazy is not None else None
        return run._repr_html_() if run is not None else "<p>wandb run disabled</p>"

    def __enter__(self) -> WandbRun:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # A sweep trial stopped by its cancel ends cancelled, with the cancel's reason.
        failed = exc_type is not None and not issubclass(exc_type, TrialStopped)
        self.finish(exit_code=1 if failed else None)

    def __getattr__(self, name: str) -> Unsupported:
        if name.startswith("_"):
            raise AttributeError(name)
        return Unsupported(f"run.{name}")


def _as_artifact(
    source: Artifact | str | os.PathLike[str], name: str | None, kind: str | None
) -> Artifact:
    if isinstance(source, Artifact):
        return source
    path = Path(source)
    artifact = Artifact(name or path.name, kind or "artifact")
    if path.is_dir():
        artifact.add_dir(path)
    else:
        artifact.add_file(path)
    return artifact


def _table_op(name: str, rows: list[dict[str, Any]]) -> Callable[[Run], None]:
    return lambda r: r.table(name, rows)


def _is_media(value: Any) -> bool:
    """An image, a histogram, or a non-empty list of them (W&B logs a list of images)."""
    if isinstance(value, Image | Histogram):
        return True
    return (
        isinstance(value, list | tuple)
        and bool(value)
        and all(isinstance(v, Image | Histogram) for v in value)
    )


def _image_op(key: str, image: Image, step: int) -> Callable[[Run], None]:
    return lambda r: r.image(key, image.data, step=step, caption=image.caption)


def _histogram_op(key: str, hist: Histogram, step: int) -> Callable[[Run], None]:
    if hist.values is None:
        counts, edges = hist.histogram, hist.bins
        return lambda r: r.histogram(key, counts=counts, edges=edges, step=step)
    values, bins = hist.values, hist.num_bins
    return lambda r: r.histogram(key, values, step=step, bins=bins)


def _log_op(values: dict[str, float | str], step: int) -> Callable[[Run], None]:
    return lambda r: r.log(values, step=step)


def _lenient(check: Callable[[str], bool]) -> Callable[[str], bool]:
    """A user's include/exclude function that raises counts as False (said once)."""

    def run(path: str) -> bool:
        try:
            return check(path)
        except Exception as exc:
            warn_once(f"log_code: include_fn/exclude_fn failed ({exc!r}); those files are skipped")
            return False

    return run


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
