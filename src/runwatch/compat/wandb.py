"""A W&B-compatible API over runwatch: ``import runwatch.compat.wandb as wandb``.

Scripts written for W&B's common surface run unchanged: ``init``, ``log``, ``config``,
``summary``, ``finish``, ``define_metric``, ``Table``, ``alert``. ``watch`` and ``save`` are
no-ops that say so once; any other W&B name warns once and absorbs the call, never crashing
the script. Values go to the runwatch server at ``RUNWATCH_URL`` like ``runwatch.init``'s.
"""

from __future__ import annotations

import os
from typing import Any

import httpx

from runwatch.compat.wandb_run import MetricSpec, WandbRun
from runwatch.compat.wandb_types import AlertLevel, Config, Summary, Table, Unsupported, warn_once
from runwatch.sdk.run import init as runwatch_init
from runwatch.sdk.transport import parse_urls

__all__ = [
    "AlertLevel",
    "Config",
    "Summary",
    "Table",
    "alert",
    "config",
    "define_metric",
    "finish",
    "init",
    "log",
    "login",
    "run",
    "save",
    "summary",
    "watch",
]

run: WandbRun | None = None
config: Config = Config()
summary: Summary = Summary()
MODES = ("online", "offline", "disabled", "shared", "run", "dryrun")


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
    **kwargs: Any,
) -> WandbRun:
    """Start a runwatch run the W&B way; ``wandb.run``, ``wandb.config`` and ``wandb.summary``
    then refer to it. ``mode="disabled"`` logs nothing; ``offline`` and ``online`` both log to
    the runwatch server (it is local; the SDK's spool keeps everything while it is down).
    ``resume`` with ``id`` attaches to that run. Unknown keywords warn once."""
    global run
    for key in kwargs:
        warn_once(f"wandb.init({key}=...) is not supported by runwatch's W&B shim; ignored")
    if mode is not None and mode not in MODES:
        warn_once(f"wandb.init(mode={mode!r}) is unknown; logging online")
    if run is not None and not run._finished:
        run.finish()  # W&B finishes the previous run when init is called again
    values = Config()
    values.update(config)
    if mode == "disabled" or os.environ.get("WANDB_MODE") == "disabled":
        handle = WandbRun(None, values.as_dict(), notes)
    else:
        run_id = id or os.environ.get("WANDB_RUN_ID")
        if resume and not run_id:
            warn_once("wandb.init(resume=...) without an id starts a new run under runwatch")
        base = runwatch_init(
            project=project or os.environ.get("WANDB_PROJECT") or entity,
            name=name or os.environ.get("WANDB_NAME"),
            config=values.as_dict(),
            group=group or os.environ.get("WANDB_RUN_GROUP"),
            tags=[str(t) for t in tags or []] + ([f"job_type:{job_type}"] if job_type else []),
            run_dir=dir,
            run_id=run_id,
        )
        handle = WandbRun(base, values.as_dict(), notes)
        if resume and run_id:
            _continue(handle, run_id)
        if notes:
            base.event("notes", text=str(notes))
    _bind(handle)
    return handle


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


def log(data: dict[str, Any], step: int | None = None, commit: bool | None = None) -> None:
    """Log to the current run (see :meth:`WandbRun.log`); before ``init`` it warns and drops."""
    if run is None:
        warn_once("wandb.log called before wandb.init; the values were dropped")
        return
    run.log(data, step=step, commit=commit)


def define_metric(name: str, step_metric: str | None = None, **kwargs: Any) -> MetricSpec | None:
    """Declare a key's x-axis metric and summary aggregates on the current run."""
    if run is None:
        warn_once("wandb.define_metric called before wandb.init; ignored")
        return None
    return run.define_metric(name, step_metric=step_metric, **kwargs)


def alert(title: str, text: str, level: Any = None, wait_duration: Any = None) -> None:
    """An ``alert`` event on the current run."""
    if run is None:
        warn_once("wandb.alert called before wandb.init; ignored")
        return
    run.alert(title, text, level)


def finish(exit_code: int | None = None, quiet: bool | None = None) -> None:
    """Finish the current run (a non-zero ``exit_code`` marks it failed)."""
    if run is not None:
        run.finish(exit_code=exit_code)


def watch(*args: Any, **kwargs: Any) -> None:
    """No-op (says so once): runwatch does not record gradients or parameters."""
    warn_once("wandb.watch is a no-op under runwatch (gradients/parameters are not recorded)")


def save(*args: Any, **kwargs: Any) -> bool:
    """No-op (says so once): files stay in the run directory."""
    warn_once("wandb.save is a no-op under runwatch (files stay in the run directory)")
    return True


def login(*args: Any, **kwargs: Any) -> bool:
    """Nothing to log in to: runwatch uses ``RUNWATCH_TOKEN`` when the server needs one."""
    return True


def __getattr__(name: str) -> Unsupported:
    """Any other W&B name (``wandb.Image``, ``wandb.Artifact``, …): warns once when used."""
    if name.startswith("__"):
        raise AttributeError(name)
    return Unsupported(name)
