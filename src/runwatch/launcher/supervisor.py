"""``runwatch launch -- CMD``: run a worker under supervision and report it as a run.

The launcher creates the run and passes it to the worker through the environment
(``RUNWATCH_URL``, ``RUNWATCH_TOKEN``, ``RUNWATCH_RUN_ID``, ``RUNWATCH_RUN_DIR``,
``RUNWATCH_LAUNCHED=1``), so an SDK call inside attaches to the same run. It starts the worker
in its own process group, captures stdout and stderr line by line (to ``stdout.log`` and
``stderr.log`` in the run dir, to its own terminal, and live to the server), reads an optional
``heartbeat.json`` sidecar, scans the run dir for artifacts (importing TensorBoard scalars and
offline W&B history as they grow), and reports the end: succeeded on exit 0, failed on a non-zero exit
or a signal (with the last stderr lines as the error), cancelled after a cancel from the
dashboard or Ctrl-C. A cancel the worker does not obey within the grace period becomes SIGTERM,
then SIGKILL. The final status goes out only after what the worker spooled is delivered. A
launcher that dies (SIGKILL) takes the worker with it on Linux (a parent-death signal): its run
goes silent and the server marks it crashed.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from runwatch.launcher.artifacts import ArtifactScanner
from runwatch.parent_death import die_with_parent
from runwatch.protocol import RUN_DIR_MARKER
from runwatch.sdk.run import Run, init, reason_of_cancel
from runwatch.sdk.spool import read_header
from runwatch.sdk.sync import SyncError, find_spools, refused_line, sync_spool
from runwatch.sdk.transport import Transport

STDERR_TAIL = 20  # stderr lines quoted as a failed run's error
SIDECAR_INTERVAL = 2.0
POLL = 0.1
INTERRUPTED = "interrupted (Ctrl-C on the launcher)"
DASHBOARD = "cancelled from the dashboard"  # a cancel that gives no reason
# What the launcher reads only inside the run dir, and where a worker writing it with a relative
# path (into its working directory, the launcher's) would put it: looked for there at the end.
WATCHED_OUTSIDE = {
    "TensorBoard files": ("events.out.tfevents.*", "*/events.out.tfevents.*",
                          "*/*/events.out.tfevents.*"),
    "heartbeat.json": ("heartbeat.json",),
}  # fmt: skip


class Supervisor:
    """One worker process and the run that reports it."""

    def __init__(self, run: Run, command: list[str], grace: float, scan_interval: float) -> None:
        self.run = run
        self.command = command
        self.grace = grace
        self.scanner = ArtifactScanner(run)
        self.scan_interval = scan_interval
        self._scanned = time.monotonic()
        self.stderr_tail: deque[str] = deque(maxlen=STDERR_TAIL)
        self.cancel_reason: str | None = None
        self._sidecar_seen = 0.0
        self._imported = 0.0
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, env: dict[str, str]) -> subprocess.Popen[bytes]:
        """Start the worker. It dies when the calling thread ends (SIGKILL, Linux): call this
        from the thread that then waits for it in :meth:`supervise` (the CLI's main thread)."""
        self.run.dir.mkdir(parents=True, exist_ok=True)
        (self.run.dir / RUN_DIR_MARKER).write_text(self.run.id)
        self.proc = subprocess.Popen(
            self.command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            start_new_session=True,  # its own process group: signals reach its children too
            # A SIGKILLed launcher or agent must not leave it training and heartbeating: its
            # run is to read crashed, and a sweep's trial is then run again.
            preexec_fn=die_with_parent(),
        )
        if self.cancel_reason is not None:  # Ctrl-C while it was starting
            self._signal(signal.SIGINT)
        return self.proc

    def _signal(self, sig: signal.Signals) -> None:
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)

    def capture(self, pipe: IO[bytes], stream: str, echo: IO[str]) -> threading.Thread:
        """Copy a pipe line by line to its log file, our terminal and the server."""

        def pump() -> None:
            with pipe, (self.run.dir / f"{stream}.log").open("a", encoding="utf-8") as out:
                for raw in pipe:
                    text = raw.decode("utf-8", "replace").rstrip("\r\n")
                    out.write(text + "\n")
                    out.flush()
                    echo.write(text + "\n")
                    echo.flush()
                    self.run.write_log(stream, text)
                    if stream == "stderr":
                        self.stderr_tail.append(text)

        thread = threading.Thread(target=pump, name=f"runwatch-{stream}", daemon=True)
        thread.start()
        return thread

    def supervise(self, proc: subprocess.Popen[bytes]) -> int:
        """Wait for the worker; escalate a cancel that it does not obey; return its exit code."""
        escalation: list[tuple[float, signal.Signals]] = []
        while True:
            try:
                return proc.wait(POLL)
            except subprocess.TimeoutExpired:
                pass
            self.read_sidecar()
            self.refresh_artifacts()
            if self.run.should_stop and self.cancel_reason is None:
                self.cancel_reason = self.run.stop_reason or DASHBOARD
            if self.cancel_reason is not None and not escalation:
                now = time.monotonic()
                escalation = [
                    (now + self.grace, signal.SIGTERM),
                    (now + 2 * self.grace, signal.SIGKILL),
                ]
            while escalation and time.monotonic() >= escalation[0][0]:
                _, sig = escalation.pop(0)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, sig)

    def interrupt(self) -> None:
        """Ctrl-C on the launcher: pass it to the worker, and cancel."""
        self.cancel_reason = INTERRUPTED
        self._signal(signal.SIGINT)

    def refresh_artifacts(self, final: bool = False) -> None:
        """Import new scalars (TensorBoard, W&B) often; rescan the run dir every scan interval."""
        now = time.monotonic()
        if final or now - self._imported >= SIDECAR_INTERVAL:
            self._imported = now
            self.scanner.import_scalars()
        if final or now - self._scanned >= self.scan_interval:
            self._scanned = now
            self.scanner.scan(final)

    def read_sidecar(self) -> None:
        """Numbers in ``heartbeat.json`` (written by a worker without the SDK) become metrics."""
        path = self.run.dir / "heartbeat.json"
        if time.monotonic() - self._sidecar_seen < SIDECAR_INTERVAL or not path.is_file():
            return
        self._sidecar_seen = time.monotonic()
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return  # being written: read it next time
        if not isinstance(data, dict):
            return
        numbers = {
            f"heartbeat/{k}": float(v)
            for k, v in data.items()
            if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
        }
        step = data.get("step")
        if numbers:
            self.run.log(numbers, step=step if isinstance(step, int) else None)

    def cancelled_meanwhile(self) -> str | None:
        """A cancel the worker obeyed and acknowledged before our own poller saw it (the server
        stops offering an acknowledged command, so ask for the run's command list): why."""
        transport = Transport(self.run.urls, self.run.token)
        try:
            reply = transport.get(f"/api/v1/runs/{self.run.id}/commands", {}, timeout=10)
        finally:
            transport.close()
        commands = reply.body.get("commands", []) if isinstance(reply.body, dict) else []
        cancels = [c for c in commands if c.get("kind") == "cancel"] if reply.status == 200 else []
        return (reason_of_cancel(cancels[0]) or DASHBOARD) if cancels else None

    def finish(self, code: int) -> str:
        self.refresh_artifacts(final=True)
        if self.cancel_reason is None:
            if self.run.should_stop:
                self.cancel_reason = self.run.stop_reason or DASHBOARD
            else:
                self.cancel_reason = self.cancelled_meanwhile()
        if self.cancel_reason is not None:
            status, error = "cancelled", self.cancel_reason
        elif code == 0:
            status, error = "succeeded", None
        else:
            how = f"killed by signal {-code}" if code < 0 else f"exited with code {code}"
            tail = "\n".join(self.stderr_tail)
            status, error = "failed", f"{how}\n{tail}" if tail else how
        delivered = self.deliver_worker_spools()
        self.run.finish(status, error=error, exit_code=code, send_status=delivered)
        return status

    def deliver_worker_spools(self) -> bool:
        """Upload what the worker spooled but did not deliver (it was killed, or its finish()
        timed out): its records precede the final status. False when the server did not take
        them; then the final status stays in the spool too, for ``runwatch sync``."""
        transport = Transport(self.run.urls, self.run.token)
        try:
            for spool in find_spools([self.run.dir]):
                if spool != self.run.spool_path and read_header(spool)["run"]["id"] == self.run.id:
                    line = refused_line(spool, sync_spool(spool, transport))
                    if line:  # lost to the run: said where the launcher's output goes
                        print(f"runwatch: {line}", file=sys.stderr)
        except (SyncError, OSError, ValueError) as exc:
            print(
                f"runwatch: the worker's records were not all delivered ({exc}); the run is "
                f"marked finished once `runwatch sync {self.run.dir}` uploads them",
                file=sys.stderr,
                flush=True,
            )
            return False
        finally:
            transport.close()
        return True


@dataclass(frozen=True)
class Outcome:
    """How a supervised run ended: its id, the worker's exit code, the run's final status,
    whether Ctrl-C on the launcher ended it, and why the server refused the run (a stopped
    sweep's trial, or one handed out again), if it did, with the refusal's code."""

    run_id: str
    code: int
    status: str
    interrupted: bool
    refused: str | None = None
    refused_code: str | None = None


@dataclass(frozen=True)
class RunLabels:
    """What a launcher's run is made with beyond its command: a sweep trial gives its own id,
    configuration, tags and group, and what the worker finds in its environment."""

    run_id: str | None = None
    config: dict[str, Any] | None = None
    tags: list[str] = field(default_factory=list)
    group: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    # Seconds between the run's heartbeats: silent for 3 of them (the launcher died), the
    # server marks it crashed.
    heartbeat: float = 5.0


def supervise_command(
    command: list[str],
    project: str,
    name: str | None,
    run_dir: Path | None,
    url: str | None,
    token: str | None,
    grace: float,
    scan_interval: float = 10.0,
    labels: RunLabels | None = None,
) -> Outcome:
    """Run ``command`` as a supervised run until it ends (see the module's docstring)."""
    if not command:
        raise ValueError(
            "nothing to launch: put the command after `--`, e.g. runwatch launch -- python train.py"
        )
    labels = labels or RunLabels()
    config = {"command": command} if labels.config is None else labels.config
    run = init(project=project, name=name or Path(command[0]).name, url=url, token=token,
               run_dir=run_dir, config=config, tags=labels.tags, group=labels.group,
               run_id=labels.run_id, heartbeat=labels.heartbeat)  # fmt: skip
    if run.refused is not None:  # a trial not to run: its worker is never started
        run.finish()
        return Outcome(run.id, 0, "cancelled", False, run.refused, run.refused_code)
    env = dict(os.environ)
    env.update(labels.env)
    env.update({
        "RUNWATCH_URL": url or os.environ.get("RUNWATCH_URL", run.url.split("/runs/")[0]),
        "RUNWATCH_RUN_ID": run.id,
        "RUNWATCH_RUN_DIR": str(run.dir.resolve()),
        "RUNWATCH_PROJECT": project,
        "RUNWATCH_LAUNCHED": "1",
    })  # fmt: skip
    if token:
        env["RUNWATCH_TOKEN"] = token
    supervisor = Supervisor(run, command, grace, scan_interval)
    started = time.time() - 1.0  # mtimes may be coarser than the clock
    # Ours before the worker exists: a Ctrl-C from here on cancels the run, never orphans it.
    previous = signal.signal(signal.SIGINT, lambda *_: supervisor.interrupt())
    try:
        try:
            proc = supervisor.start(env)
        except OSError as exc:
            run.finish("failed", error=f"could not start {command[0]!r}: {exc}")
            raise ValueError(f"could not start {command[0]!r}: {exc}") from None
        supervisor.scanner.scan()
        pumps = [
            supervisor.capture(proc.stdout, "stdout", sys.stdout),  # type: ignore[arg-type]
            supervisor.capture(proc.stderr, "stderr", sys.stderr),  # type: ignore[arg-type]
        ]
        print(f"runwatch: run {run.id} at {run.url}", file=sys.stderr, flush=True)
        code = supervisor.supervise(proc)
    finally:
        signal.signal(signal.SIGINT, previous)
    for pump in pumps:
        pump.join(5)
    status = supervisor.finish(code)
    for what, where in unwatched_outputs(Path.cwd(), run.dir, started).items():
        print(
            f"runwatch: warning: no {what} under the run dir {run.dir}, but the worker wrote some"
            f" to {where}, which is not watched: write them under $RUNWATCH_RUN_DIR",
            file=sys.stderr,
        )
    print(f"runwatch: run {run.id} {status} (exit code {code})", file=sys.stderr, flush=True)
    interrupted = supervisor.cancel_reason == INTERRUPTED
    return Outcome(run.id, code, status, interrupted, run.refused, run.refused_code)


def unwatched_outputs(cwd: Path, run_dir: Path, since: float) -> dict[str, Path]:
    """Per kind of :data:`WATCHED_OUTSIDE` the run dir has none of: a file of it written since
    ``since`` under ``cwd`` (two levels deep at most, so this stays cheap) but outside the run
    dir. A worker that writes with relative paths writes there, and the launcher never saw it."""
    run_dir = run_dir.resolve()
    found: dict[str, Path] = {}
    for what, patterns in WATCHED_OUTSIDE.items():
        if any(run_dir.rglob(patterns[0])):
            continue
        for path in (p for pattern in patterns for p in cwd.glob(pattern)):
            with contextlib.suppress(OSError):
                if path.stat().st_mtime >= since and not path.resolve().is_relative_to(run_dir):
                    found[what] = path
                    break
    return found


def launch(
    command: list[str],
    project: str,
    name: str | None,
    run_dir: Path | None,
    url: str | None,
    token: str | None,
    grace: float,
    scan_interval: float = 10.0,
) -> int:
    """Run ``command`` as a supervised run; return its exit code (130 when cancelled by Ctrl-C)."""
    done = supervise_command(command, project, name, run_dir, url, token, grace, scan_interval)
    return 130 if done.status == "cancelled" and done.code != 0 else done.code
