"""A W&B-compatible API over runwatch: ``import runwatch.compat.wandb as wandb``.

Scripts written for W&B's common surface run unchanged: ``init``, ``log``, ``config``,
``summary``, ``finish``, ``define_metric``, ``Table``, ``Image``, ``Histogram``, ``alert``,
artifacts (``Artifact``, ``log_artifact``, ``use_artifact``, ``log_code``, ``save``: files in
the run's artifact manifest), and sweeps through the server (``sweep`` + ``agent``). No call
raises into the training loop (but ``agent`` interrupts a sweep function whose run is
cancelled with :class:`TrialStopped`, as W&B's agent does): wrong arguments are reported once
and skipped; any other W&B name (``wandb.Video``, …) warns once, saying what is not recorded,
and absorbs the call.
Values go to the runwatch server at ``RUNWATCH_URL`` like ``runwatch.init``'s.
"""

from __future__ import annotations

import atexit
import json
import os
import secrets
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import httpx

from runwatch.compat import wandb_sweeps
from runwatch.compat.wandb_artifacts import Artifact
from runwatch.compat.wandb_media import Histogram, Image
from runwatch.compat.wandb_run import MetricSpec, WandbRun
from runwatch.compat.wandb_sweeps import Interrupter, NothingToRun, Trial, TrialStopped
from runwatch.compat.wandb_types import (
    AlertLevel,
    Config,
    Summary,
    Table,
    Unsupported,
    safe,
    warn_once,
)
from runwatch.protocol import SWEEP_ID_ENV, SWEEP_PARAMS_ENV
from runwatch.sdk.run import Run, sweep_params
from runwatch.sdk.run import init as runwatch_init
from runwatch.sdk.sender import print_warning
from runwatch.sdk.transport import parse_urls
from runwatch.sweeps.trial_command import template, trial_argv

__all__ = [
    "AlertLevel",
    "Artifact",
    "Config",
    "Histogram",
    "Image",
    "Settings",
    "Summary",
    "Table",
    "TrialStopped",
    "agent",
    "alert",
    "config",
    "define_metric",
    "finish",
    "init",
    "link_artifact",
    "log",
    "log_artifact",
    "log_code",
    "log_model",
    "login",
    "mark_preempting",
    "restore",
    "run",
    "save",
    "summary",
    "sweep",
    "termerror",
    "termlog",
    "termwarn",
    "unwatch",
    "use_artifact",
    "watch",
]

run: WandbRun | None = None
config: Config = Config()
summary: Summary = Summary()
MODES = ("online", "offline", "disabled", "shared", "run", "dryrun")
# What wandb.agent tells a sweep's program: a file its shim writes the refusal of its run into
# (the code and why), which the agent otherwise learns in-process from a function's run.
REFUSED_FILE_ENV = "RUNWATCH_SWEEP_REFUSED_FILE"
# The trial agent's next init takes, and what interrupts the function when its run is cancelled.
_sweep_next: tuple[Trial, Interrupter] | None = None


class Settings:
    """``wandb.Settings(...)``: accepted; runwatch reads none of W&B's settings."""

    def __init__(self, **kwargs: Any) -> None:
        self.__dict__.update(kwargs)


def _disabled_run() -> WandbRun:
    return WandbRun(
        None,
        run_id="disabled",
        name=None,
        project="disabled",
        entity="disabled",
        url=None,
        run_dir=".",
        config={},
    )


@safe("wandb.init", fallback=_disabled_run)
def init(
    project: str | None = None,
    entity: str | None = None,
    name: str | None = None,
    config: Any = None,
    tags: list[str] | tuple[str, ...] | None = None,
    group: str | None = None,
    notes: str | None = None,
    dir: str | os.PathLike[str] | None = None,
    mode: str | None = None,
    resume: bool | str | None = None,
    id: str | None = None,
    job_type: str | None = None,
    reinit: Any = None,
    settings: Any = None,
    anonymous: Any = None,
    save_code: bool | None = None,
    sync_tensorboard: bool | None = None,
    **kwargs: Any,
) -> WandbRun:
    """Start a run the W&B way; ``wandb.run``, ``wandb.config`` and ``wandb.summary`` then
    refer to it. ``mode="disabled"`` logs nothing; ``offline`` and ``online`` both log to the
    runwatch server (it is local; the SDK's spool keeps everything while it is down). The run
    is created at its first record, so ``wandb.config.update(...)`` right after ``init`` is
    its config. ``resume`` with ``id`` attaches to that run. Unknown keywords warn once."""
    global run, _sweep_next
    for key in kwargs:
        warn_once(f"wandb.init({key}=...) is not supported by runwatch's W&B shim; ignored")
    if sync_tensorboard:
        warn_once(
            "wandb.init(sync_tensorboard=True) is ignored: run the script under "
            "`runwatch launch`, which imports TensorBoard files"
        )
    if mode is not None and mode not in MODES:
        warn_once(f"wandb.init(mode={mode!r}) is unknown; logging online")
    if run is not None and not run._finished:
        run.finish()  # W&B finishes the previous run when init is called again
    values = Config()
    values.update(config)
    trial, interrupter = _sweep_next or (None, None)
    _sweep_next = None
    sweep_id = trial.sweep_id if trial else os.environ.get(SWEEP_ID_ENV)
    params = trial.params if trial else sweep_params()
    if params:
        values.update(params)  # a sweep's values win over the script's, as under W&B
    tag_list = [str(t) for t in tags or []] + ([f"job_type:{job_type}"] if job_type else [])
    if sweep_id:
        tag_list.append(f"sweep:{sweep_id}")
        group = group or f"sweep-{sweep_id}"
    if mode == "disabled" or os.environ.get("WANDB_MODE") == "disabled":
        handle = _disabled_run()
        handle.config.update(values.as_dict())
        _bind(handle)
        return handle
    launched = os.environ.get("RUNWATCH_RUN_ID")
    trial_run = trial.run_id if trial else None
    run_id = launched or trial_run or id or os.environ.get("WANDB_RUN_ID") or secrets.token_hex(6)
    if trial and trial.project and project and project != trial.project:
        warn_once(
            "wandb.init(project=...) is ignored in a sweep: its runs go to the sweep's project"
        )
    project = (
        (os.environ.get("RUNWATCH_PROJECT") if launched else None)
        or (trial.project if trial else None)
        or project
        or os.environ.get("WANDB_PROJECT")
        or entity
        or os.environ.get("RUNWATCH_PROJECT")
        or "default"
    )
    run_dir = str(
        dir or os.environ.get("RUNWATCH_RUN_DIR") or os.path.join(".runwatch", "runs", run_id)
    )
    if resume and not run_id:
        warn_once("wandb.init(resume=...) without an id starts a new run under runwatch")
    refused_file = None if trial else os.environ.get(REFUSED_FILE_ENV)
    handle = WandbRun(
        _creator(project, run_id, dir, bool(launched), interrupter, refused_file),
        run_id=run_id,
        name=name or os.environ.get("WANDB_NAME"),
        project=project,
        entity=entity or os.environ.get("WANDB_ENTITY") or "runwatch",
        url=f"{parse_urls(os.environ.get('RUNWATCH_URL'))[0]}/runs/{run_id}",
        run_dir=run_dir,
        config=values.as_dict(),
        notes=notes,
        tags=tag_list,
        group=group or os.environ.get("WANDB_RUN_GROUP"),
        job_type=job_type,
        sweep_id=sweep_id,
        interrupter=interrupter,
    )
    if resume and (id or os.environ.get("WANDB_RUN_ID")):
        _continue(handle, run_id)
    _bind(handle)
    if save_code:
        handle.log_code(".")
    return handle


def _creator(
    project: str,
    run_id: str,
    run_dir: str | os.PathLike[str] | None,
    attached: bool,
    interrupter: Interrupter | None = None,
    refused_file: str | None = None,
) -> Callable[[dict[str, Any]], Run]:
    def create(spec: dict[str, Any]) -> Run:
        base = runwatch_init(
            project=project,
            name=spec["name"],
            config=spec["config"],
            group=spec["group"],
            tags=spec["tags"],
            run_dir=run_dir,
            run_id=run_id,
        )
        if attached and spec["config"]:
            # `runwatch launch` made the run with its own config: the script's is kept as an event.
            base.event("config.update", values=spec["config"])
        if interrupter is not None:  # a sweep trial's run: a cancel interrupts the function
            base._on_stop_asked(interrupter.fire)
        elif refused_file:  # a sweep program's run: its agent reads a refusal from the file
            base._on_stop_asked(lambda: _tell_refused(base, refused_file))
        return base

    return create


def _tell_refused(base: Run, path: str) -> None:
    """In a sweep's program, when its run stops: a refusal (not a cancel) is written to
    ``path`` for the agent that started the program."""
    if base.refused_code is not None:
        Path(path).write_text(json.dumps({"code": base.refused_code, "reason": base.refused}))


def _continue(handle: WandbRun, run_id: str) -> None:
    """A resumed run goes on one step past its last logged step, with its stored config."""
    base = parse_urls(os.environ.get("RUNWATCH_URL"))[0]
    token = os.environ.get("RUNWATCH_TOKEN")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with httpx.Client(base_url=base, headers=headers, timeout=5) as client:
            info = client.get(f"/api/v1/runs/{run_id}")
            if info.status_code == 404:
                return  # nothing to resume: a new run under this id
            info.raise_for_status()
            tails = client.get(f"/api/v1/runs/{run_id}/sparklines", params={"n": 1})
            tails.raise_for_status()
    except httpx.HTTPError as exc:
        warn_once(f"could not read run {run_id} to resume it ({exc}); its steps restart at 0")
        return
    steps = [s["x"][-1] for s in tails.json()["series"].values() if s["x"]]
    handle.resume_at(int(max(steps)) + 1 if steps else 0, info.json().get("config") or {})


def _bind(handle: WandbRun) -> None:
    """Point the module-level ``run``, ``config`` and ``summary`` at ``handle`` (as W&B does)."""
    global run, config, summary
    run, config, summary = handle, handle.config, handle.summary


def _current(what: str) -> WandbRun | None:
    if run is None:
        warn_once(f"wandb.{what} called before wandb.init; ignored (nothing recorded)")
    return run


def log(
    data: dict[str, Any] | None = None,
    step: int | None = None,
    commit: bool | None = None,
    sync: bool | None = None,
) -> None:
    """Log to the current run (see :meth:`WandbRun.log`); before ``init`` it warns and drops."""
    if run is None:
        warn_once("wandb.log called before wandb.init; the values were dropped")
        return
    run.log(data, step=step, commit=commit)


@safe("wandb.define_metric")
def define_metric(name: str, step_metric: str | None = None, **kwargs: Any) -> MetricSpec | None:
    """Declare a key's x-axis metric and summary aggregates on the current run."""
    current = _current("define_metric")
    return current.define_metric(name, step_metric=step_metric, **kwargs) if current else None


@safe("wandb.alert")
def alert(title: str, text: str, level: Any = None, wait_duration: Any = None) -> None:
    """An ``alert`` event on the current run."""
    if current := _current("alert"):
        current.alert(title, text, level)


@safe("wandb.finish")
def finish(exit_code: int | None = None, quiet: bool | None = None) -> None:
    """Finish the current run (a non-zero ``exit_code`` marks it failed)."""
    if run is not None:
        run.finish(exit_code=exit_code)


@safe("wandb.watch")
def watch(models: Any, *args: Any, **kwargs: Any) -> None:
    """Log the torch ``models``' gradients and/or parameters as histograms in the current run
    (:meth:`WandbRun.watch`)."""
    current = _current("watch")
    if current is not None:
        current.watch(models, *args, **kwargs)


@safe("wandb.unwatch")
def unwatch(models: Any = None) -> None:
    """Take the hooks of :func:`watch` off ``models`` (None: all)."""
    current = _current("unwatch")
    if current is not None:
        current.unwatch(models)


@safe("wandb.save", fallback=lambda: False)
def save(
    glob_str: str | os.PathLike[str] | None = None,
    base_path: str | os.PathLike[str] | None = None,
    policy: str = "live",
) -> bool:
    """Record the files matching ``glob_str`` in the current run's manifest (SHA-256, size)."""
    current = _current("save")
    return current.save(glob_str, base_path, policy) if current else False


def restore(name: str, *args: Any, **kwargs: Any) -> None:
    """Nothing to restore from: files are never uploaded under runwatch."""
    warn_once(f"wandb.restore({name!r}): runwatch keeps no copies of run files; nothing restored")


@safe("wandb.log_artifact")
def log_artifact(
    artifact_or_path: Any,
    name: str | None = None,
    type: str | None = None,
    aliases: list[str] | None = None,
    **kwargs: Any,
) -> Artifact | None:
    """Record an artifact's files in the current run's manifest (see ``WandbRun.log_artifact``)."""
    current = _current("log_artifact")
    return (
        current.log_artifact(artifact_or_path, name, type, aliases, **kwargs) if current else None
    )


@safe("wandb.use_artifact")
def use_artifact(
    artifact_or_name: Any, type: str | None = None, aliases: list[str] | None = None, **kwargs: Any
) -> Artifact | None:
    """Record an artifact as the current run's input."""
    current = _current("use_artifact")
    return current.use_artifact(artifact_or_name, type, aliases, **kwargs) if current else None


@safe("wandb.link_artifact")
def link_artifact(artifact: Artifact, target_path: str, aliases: list[str] | None = None) -> None:
    """Record the artifact (runwatch has no registry to link it into)."""
    if current := _current("link_artifact"):
        current.link_artifact(artifact, target_path, aliases)


@safe("wandb.log_code")
def log_code(
    root: str | os.PathLike[str] | None = ".", name: str | None = None, **kwargs: Any
) -> Artifact | None:
    """Record the source files under ``root`` as a ``code`` artifact of the current run."""
    current = _current("log_code")
    return current.log_code(root, name, **kwargs) if current else None


@safe("wandb.log_model")
def log_model(
    path: str | os.PathLike[str], name: str | None = None, aliases: list[str] | None = None
) -> None:
    """A ``model`` artifact of the file or directory at ``path``."""
    if current := _current("log_model"):
        current.log_model(path, name, aliases)


def mark_preempting() -> None:
    """A ``preempting`` event on the current run."""
    if run is not None:
        run.mark_preempting()


def login(*args: Any, **kwargs: Any) -> bool:
    """Nothing to log in to: runwatch uses ``RUNWATCH_TOKEN`` when the server needs one."""
    return True


def setup(*args: Any, **kwargs: Any) -> None:
    """Nothing to set up."""


def require(*args: Any, **kwargs: Any) -> None:
    """W&B feature flags: nothing to turn on under runwatch."""


def teardown(exit_code: int | None = None) -> None:
    """Finish the current run."""
    finish(exit_code)


def termlog(string: str = "", newline: bool = True, repeat: bool = True, **_: Any) -> None:
    """Print a line to stderr, as W&B's console helpers do."""
    print(f"wandb: {string}", file=sys.stderr, end="\n" if newline else "")


def termwarn(string: str = "", **kwargs: Any) -> None:
    """A warning line on stderr."""
    termlog(f"WARNING {string}", **kwargs)


def termerror(string: str = "", **kwargs: Any) -> None:
    """An error line on stderr."""
    termlog(f"ERROR {string}", **kwargs)


# -- sweeps ------------------------------------------------------------------------------------
@safe("wandb.sweep", fallback=lambda: "", each=True)
def sweep(
    sweep: dict[str, Any] | Callable[[], dict[str, Any]],
    entity: str | None = None,
    project: str | None = None,
    prior_runs: list[str] | None = None,
) -> str:
    """Create a sweep on the runwatch server (its controller hands the trials to every agent);
    its id for ``agent``. Local to this process when the server cannot be reached."""
    return wandb_sweeps.create(sweep() if callable(sweep) else sweep, project)


@safe("wandb.agent", each=True)
def agent(
    sweep_id: str,
    function: Callable[[], Any] | None = None,
    entity: str | None = None,
    project: str | None = None,
    count: int | None = None,
) -> None:
    """Run the sweep's trials here, one run each, as the server's controller hands them out:
    ``function`` is called with ``wandb.config`` holding the configuration (its ``wandb.init``
    takes it); without a function, the sweep's ``command`` runs as a subprocess, as W&B's agent
    builds it (by default its ``program`` with ``--key=value`` arguments; see
    :mod:`runwatch.sweeps.trial_command`). Up to ``count`` runs, the sweep's ``run_cap`` or its
    grid (a trial whose run the server refused, never run, is not one of ``count``).

    A cancel of the trial's run (early termination, the dashboard) interrupts ``function``
    with :class:`TrialStopped`, as W&B's agent does; its run ends ``cancelled``."""
    if not sweep_id:  # what wandb.sweep returns when it failed (it said why)
        print_warning("wandb.agent: no sweep id (the wandb.sweep call failed); nothing ran")
        return
    ran = 0
    handed_out = False
    try:
        for trial in wandb_sweeps.trials(sweep_id, [] if function is None else None):
            handed_out = True
            outcome = _run_program(trial) if function is None else _run_trial(trial, function)
            if outcome == "stop":
                return
            if outcome == "not_run":  # as runwatch agent: a refused trial is not one of count
                continue
            ran += 1
            if count is not None and ran >= int(count):
                return
    except NothingToRun as exc:
        print_warning(f"wandb.agent: no function, and {exc}; nothing ran")
        return
    if not handed_out:
        print_warning(f"wandb.agent: sweep {sweep_id} has no configurations left; nothing ran")


def _run_trial(trial: Trial, function: Callable[[], Any]) -> Literal["ran", "not_run", "stop"]:
    """One configuration: ``function`` runs with it; its run is finished (failed if it raised,
    cancelled if a cancel interrupted it). ``"stop"`` when the agent stops: the sweep was
    stopped before the trial's run was created (the server refused it, and ``function`` is
    interrupted as after a cancel). ``"not_run"`` for a trial whose claim expired and was
    handed out again before its run was created (interrupted the same way): the agent goes
    on."""
    global _sweep_next
    before = run
    interrupter = Interrupter()
    _sweep_next = trial, interrupter
    stopped = False
    try:
        try:
            function()
        finally:
            interrupter.done()  # TrialStopped is raised inside the try, or never
    except TrialStopped:
        stopped = True  # said below, once the run is finished (its creation answered)
    except Exception:
        print_warning(
            f"the sweep function raised with configuration {trial.params}; its run is marked "
            f"failed and the agent goes on:\n{traceback.format_exc()}"
        )
        if run is not None and run is not before:
            run.finish(exit_code=1)
    finally:
        _sweep_next = None
    if run is before:
        warn_once(
            "the sweep function did not call wandb.init: its configurations ran without a run"
        )
    elif run is not None and not run._finished:
        run.finish()
    base = run._run if run is not None and run is not before else None
    if base is not None and base.refused is not None:
        return _refusal(trial, base.refused_code, base.refused)
    if stopped:
        reason = base.stop_reason if base is not None else None
        print_warning(
            f"wandb.agent: the trial with configuration {trial.params} was stopped"
            f" ({reason or 'its run was cancelled'}); its run is cancelled and the agent goes on"
        )
    return "ran"


def _refusal(trial: Trial, code: str | None, reason: str) -> Literal["not_run", "stop"]:
    """The server refused the trial's run for good, so it never ran: ``"not_run"`` when its
    claim expired and it was handed out again (the agent goes on), else ``"stop"`` (the sweep
    was stopped)."""
    if code == "claim_expired":
        print_warning(
            f"wandb.agent: the trial with configuration {trial.params} was not run ({reason});"
            " the agent goes on"
        )
        return "not_run"
    print_warning(
        f"wandb.agent: sweep {trial.sweep_id} was stopped before the trial with configuration"
        f" {trial.params} started ({reason}); the agent stops"
    )
    return "stop"


def _run_program(trial: Trial) -> Literal["ran", "not_run", "stop"]:
    """One configuration as the sweep's command (W&B's default: ``python <program>
    --key=value …``); its outcome as :func:`_run_trial`'s (the program's shim writes a refusal
    of its run to the file named in ``REFUSED_FILE_ENV``)."""
    env = {**os.environ, SWEEP_ID_ENV: trial.sweep_id, SWEEP_PARAMS_ENV: json.dumps(trial.params)}
    if trial.run_id:
        env["WANDB_RUN_ID"] = trial.run_id
    if trial.project:
        env["WANDB_PROJECT"] = trial.project
    parts = template(trial.doc, None)  # trials() checked that it has one
    program = trial.doc.get("program")
    with (
        tempfile.TemporaryDirectory(prefix="runwatch-trial-") as scratch,
        trial_argv(parts, trial.params, program) as argv,
    ):
        refused_file = Path(scratch) / "refused.json"
        env[REFUSED_FILE_ENV] = str(refused_file)
        try:
            done = subprocess.run(argv, env=env, check=False)
        except OSError as exc:  # the next trial's would not start either
            print_warning(f"wandb.agent: could not start the sweep's command {argv}: {exc};"
                          " the agent stops")  # fmt: skip
            return "stop"
        refused = _read_refusal(refused_file)
    if refused is not None:
        return _refusal(trial, *refused)
    if done.returncode != 0:
        print_warning(
            f"sweep command exited with {done.returncode} for {trial.params}; the agent goes on"
        )
    return "ran"


def _read_refusal(path: Path) -> tuple[str, str] | None:
    """The code and reason a sweep program's shim wrote to ``path``; None when its run was not
    refused (no file)."""
    try:
        written = json.loads(path.read_text())
        return str(written["code"]), str(written["reason"])
    except (OSError, ValueError, KeyError, TypeError):  # none, or cut short by a killed program
        return None


def _close_at_exit() -> None:
    """The current run's pending row and summary are sent before the SDK finishes it."""
    if run is not None:
        run.close_at_exit()


# Registered after runwatch.sdk.run's own exit hook, so it runs first.
atexit.register(_close_at_exit)


def __getattr__(name: str) -> Unsupported:
    """Any other W&B name (``wandb.Video``, ``wandb.Audio``, …): warns once when used."""
    if name.startswith("__"):
        raise AttributeError(name)
    return Unsupported(name)
