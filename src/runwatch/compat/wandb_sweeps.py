"""W&B sweeps for the shim: ``wandb.sweep`` creates a sweep on the runwatch server, whose
controller hands its trials to every ``wandb.agent`` (on any machine) once each.

A configuration W&B's schema refuses is reported and nothing is created. ``early_terminate``
is enforced by the server's controller: a trial judged worse at a rung gets a cancel (its run
ends ``cancelled`` with the reason). As W&B's agent does, ``agent`` then interrupts the
function: :class:`Interrupter` raises :class:`TrialStopped` in its thread, at its next
``wandb.log`` or after a grace period wherever it is (so does any other cancel of the trial's
run). A local sweep does not enforce it, which is said once. When the
server cannot be reached, the sweep is local to this process: the same grid points and random
draws, given out by a counter here (a bayes sweep runs as a random one there, said once).
"""

from __future__ import annotations

import ctypes
import os
import secrets
import socket
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from runwatch.compat.wandb_types import warn_once
from runwatch.sdk.sender import print_warning
from runwatch.sweeps.client import SweepClient, SweepClientError
from runwatch.sweeps.space import point, space_size
from runwatch.sweeps.spec import SweepError, SweepSpec, parse_sweep
from runwatch.sweeps.trial_command import template

MAX_SWEEPS = 100  # local sweeps kept in one process
MAX_LOCAL_TRIALS = 10_000  # trials a local sweep gives at most (a random sweep without a cap)
PAUSED_POLL = 5.0  # seconds between claims while a server sweep is paused
# Seconds a cancelled sweep function has to reach its next wandb.log (a safe point) before it
# is interrupted wherever it is.
STOP_GRACE = 1.0


@dataclass(frozen=True)
class Trial:
    """One trial handed to the shim: what ``wandb.init`` takes for the run it starts, and the
    sweep's configuration (``doc``: its ``program`` and ``command``, run without a function)."""

    sweep_id: str
    params: dict[str, Any]
    run_id: str | None
    project: str | None
    doc: Mapping[str, Any]


class NothingToRun(ValueError):
    """The sweep has no command for an agent without a function (no ``program`` nor
    ``command``): said before any trial is taken."""


class TrialStopped(BaseException):
    """Raised inside a sweep function that ``wandb.agent`` runs when the trial's run is cancelled
    (early termination, the dashboard, a watch rule); the agent catches it and goes on.

    A BaseException, as KeyboardInterrupt: the shim's and the SDK's never-raise guards, and a
    training loop's own ``except Exception``, would swallow an Exception and leave the function
    running; ``finally`` blocks and ``with`` exits still run.
    """


def _set_async_exc(thread: int, exc: type[BaseException]) -> None:
    """Raise ``exc`` in ``thread`` at its next bytecode check. Never undone: clearing one with
    ``SetAsyncExc(NULL)`` leaves CPython 3.11's eval breaker set for good (nothing ever
    unsets it), which slows the process and hangs the next function run under a profiler or
    tracer at its first line."""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread), ctypes.py_object(exc))


class Interrupter:
    """Interrupts the sweep function running in the thread that made it, once, after a cancel
    of its run; none is set after :meth:`done`, and one set before it is raised in the
    function's thread before the agent's own ``done()`` returns, so :class:`TrialStopped`
    cannot escape the agent (a race with the function's return included).

    The interruption is raised at a safe point first: the function's next ``wandb.log``
    (:meth:`checkpoint`, before the call touches anything). Only a function that makes no such
    call within ``grace`` seconds is interrupted wherever it is, as W&B's agent does, by an
    asynchronous exception (which could land inside the SDK's own code, so it is the fallback).
    """

    def __init__(self, grace: float = STOP_GRACE) -> None:
        self._thread = threading.get_ident()
        self._grace = grace
        self._lock = threading.Lock()
        self._running = True
        self._asked = False
        self._fired = False
        self._forced = False  # an asynchronous TrialStopped was set (by _force)
        self._timer: threading.Timer | None = None

    def fire(self) -> None:
        """A cancel arrived (on any thread): the function stops at its next ``wandb.log``, or
        wherever it is after the grace period."""
        with self._lock:
            if not self._running or self._asked:
                return
            self._asked = True
            if self._grace > 0:
                self._timer = threading.Timer(self._grace, self._force)
                self._timer.daemon = True
                self._timer.start()
                return
        self._force()

    def checkpoint(self) -> None:
        """In the function's thread, at the start of a shim call: raise :class:`TrialStopped`
        here if a cancel arrived."""
        if not self._asked or threading.get_ident() != self._thread:
            return
        with self._lock:
            raise_now = self._running and not self._fired
            self._fired = True
        if raise_now:
            raise TrialStopped

    def _force(self) -> None:
        """Raise :class:`TrialStopped` in the function's thread at its next bytecode."""
        with self._lock:
            if self._running and not self._fired:
                self._fired = self._forced = True
                _set_async_exc(self._thread, TrialStopped)

    def done(self) -> None:
        """The function returned, or its run is finishing: nothing is raised from now on but an
        asynchronous one already set, which is raised in the function's thread, never undone
        (see :func:`_set_async_exc`). Idempotent. On the function's thread it is raised here
        if still pending (so inside the agent's ``try``, which calls this once the function
        returned); from another thread (a user thread's ``run.finish()``) it is left to the
        function's thread, which raises it at its next bytecode, at the latest in the agent's
        own call: it never escapes the agent either way."""
        with self._lock:
            self._running = False
            if self._timer is not None:
                self._timer.cancel()
            forced = self._forced
        if forced and threading.get_ident() == self._thread:
            for _ in range(2):  # a backward jump checks for it: raised here if still pending
                pass


class LocalSweep:
    """A sweep of this process only (the server was unreachable when it was created)."""

    def __init__(self, spec: SweepSpec, project: str | None) -> None:
        self.id = "local-" + secrets.token_hex(4)
        self.spec = spec
        self.project = project
        self.seed = secrets.randbits(62)
        self.given = 0
        bounds = [MAX_LOCAL_TRIALS, space_size(spec), spec.run_cap]
        self.limit = min(b for b in bounds if b is not None)

    def next_trial(self) -> Trial | None:
        """The next configuration, None when the sweep is used up."""
        if self.given >= self.limit:
            return None
        params = point(self.spec, self.seed, self.given)
        self.given += 1
        return Trial(self.id, params, None, self.project, self.spec.doc)


_local: dict[str, LocalSweep] = {}


def _client() -> SweepClient:
    return SweepClient(os.environ.get("RUNWATCH_URL"), os.environ.get("RUNWATCH_TOKEN"))


def _checked(config: Any, project: str | None) -> tuple[dict[str, Any], SweepSpec] | None:
    """The configuration as the server takes it, with what runwatch does differently said once;
    None (with a warning) when W&B's schema refuses it."""
    if not isinstance(config, dict):
        print_warning(f"wandb.sweep: a sweep configuration is a dict, not {type(config).__name__}")
        return None
    doc = dict(config)
    if project:
        doc["project"] = project
    try:
        spec = parse_sweep(doc)
        space_size(spec)  # a grid over a continuous parameter is refused here
    except SweepError as exc:
        print_warning(f"wandb.sweep: the sweep configuration is refused: {exc}; nothing created")
        return None
    if spec.early_terminate:
        warn_once(
            "sweep early_terminate: the server cancels a trial worse at a rung (its run ends"
            " cancelled) and wandb.agent interrupts its function (TrialStopped, a BaseException);"
            " a local sweep does not enforce it"
        )
    return doc, spec


def create(config: Any, project: str | None) -> str:
    """Create the sweep (on the server, else locally); its id, "" when refused."""
    checked = _checked(config, project)
    if checked is None:
        return ""
    doc, spec = checked
    client = _client()
    try:
        sweep = client.create(doc)
        page = client.url + sweep["page"]
    except SweepClientError as exc:
        if "could not be reached" not in str(exc):
            print_warning(f"wandb.sweep: {exc}; nothing created")
            return ""
        if spec.method == "bayes":
            warn_once("a sweep local to the process runs bayes as random search")
        local = LocalSweep(spec, spec.project)
        if len(_local) >= MAX_SWEEPS:
            _local.pop(next(iter(_local)))
        _local[local.id] = local
        print_warning(f"wandb.sweep: {exc}; sweep {local.id} is local to this process")
        return local.id
    finally:
        client.close()
    print(
        f"wandb: Created sweep with ID: {sweep['id']}\nwandb: View sweep at: {page}",
        file=sys.stderr,
        flush=True,
    )
    return str(sweep["id"])


def _server_trials(sweep_id: str, command: list[str] | None) -> Iterator[Trial]:
    client = _client()
    agent = f"{socket.gethostname()}:{os.getpid()}"
    try:
        while True:
            try:
                claim = client.claim(sweep_id, agent, command)
            except SweepClientError as exc:
                if exc.code == "nothing_to_run":
                    raise NothingToRun(str(exc)) from None
                raise
            trial, sweep = claim["trial"], claim["sweep"]
            if trial is None:
                if claim["reason"] == "paused":
                    warn_once(f"sweep {sweep_id} is paused; asking again every {PAUSED_POLL:g} s")
                    time.sleep(PAUSED_POLL)  # the paused sweep's poll interval
                    continue
                print_warning(
                    f"wandb.agent: sweep {sweep_id} is {claim['reason']}: no configurations left"
                )
                return
            yield Trial(sweep_id, trial["config"], trial["run_id"], sweep["project"], sweep["spec"])
    finally:
        client.close()


def trials(sweep_id: str, command: list[str] | None = None) -> Iterator[Trial]:
    """The sweep's trials for this agent, one at a time, until the sweep has none left.
    ``command``: ``[]`` when the agent runs the sweep's command (no function): a sweep that
    has none raises :class:`NothingToRun` before any trial is taken."""
    sweep_id = str(sweep_id).rsplit("/", 1)[-1]  # also entity/project/id
    local = _local.get(sweep_id)
    if local is None:
        yield from _server_trials(sweep_id, command)
        return
    if command is not None:
        try:
            template(local.spec.doc, command)
        except ValueError as exc:
            raise NothingToRun(f"sweep {sweep_id}: {exc}") from None
    while (trial := local.next_trial()) is not None:
        yield trial
    print_warning(f"wandb.agent: sweep {sweep_id} is finished: no configurations left")
