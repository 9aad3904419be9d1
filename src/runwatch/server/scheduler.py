"""The scheduler: starts queued runs through ``runwatch launch`` as slots free up, oldest first.

Each claimed run is started as ``python -m runwatch launch --run-dir DIR --url URL -- ARGV``
with ``RUNWATCH_RUN_ID`` set, so the launcher attaches to the queued run instead of creating
one. ARGV is rebuilt from the template as the server knows it now and the parameters validated
at submission (validated again: a data file may have gone); a run that can no longer be built
ends ``failed`` with the reason.

Launchers run in their own session and outlive the server on purpose: after a restart their
SDK reconnects and heartbeats, so a run that was running goes on running (re-attached); one
whose launcher died too is marked ``crashed`` by the heartbeat sweep. Slots are counted in the
store (running runs that came from the queue), so a restarted server respects them too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

from runwatch.protocol import Batch, StatusIn
from runwatch.server.auth import new_token, token_hash
from runwatch.server.templates import ParamError, Template
from runwatch.store.base import Committed, QueuedRun, Store
from runwatch.store.errors import StoreError
from runwatch.store.prepare import prepare_batch

logger = logging.getLogger("runwatch.scheduler")
POLL = 2.0  # a safety net: any status change wakes the scheduler at once
# A launcher's token (when the server requires tokens) lives this long unless revoked sooner.
LAUNCH_TOKEN_SECONDS = 30 * 86_400


RUNS_DIR = "runs"  # under the data dir: one directory per launched run


def run_dir_of(data_dir: Path, run_id: str) -> Path:
    """Where a queued run's launcher keeps logs, spool and artifacts."""
    return (data_dir / RUNS_DIR / run_id).resolve()


class Scheduler:
    """One task that claims queued runs and starts their launchers."""

    def __init__(
        self,
        store: Store,
        templates: dict[str, Template],
        data_dir: Path,
        url: str,
        token: str | None,
        max_running: int,
    ) -> None:
        self.store = store
        self.templates = templates
        self.data_dir = data_dir
        self.url = url
        self.token = token
        self.max_running = max_running
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        # Launchers this server started and has not reaped yet, with their minted token ids.
        self._children: dict[str, tuple[subprocess.Popen[bytes], int | None]] = {}

    def start(self) -> None:
        """Start scheduling (on the running event loop; the store must be open)."""
        self.store.add_commit_listener(self._on_commit)
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        """Stop scheduling; launchers already started keep running (see the module doc)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._children.clear()  # not ours to stop: they report to the next server

    def wake(self) -> None:
        """Look at the queue now (a run was submitted)."""
        self._wake.set()

    def _on_commit(self, committed: list[Committed]) -> None:
        # A status change (a run ended, was cancelled or queued) may free or need a slot.
        for change in committed:
            if any(b'"type":"status"' in r.body[:40] for r in change.records):
                self._wake.set()
                return

    async def _loop(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self._reap()
                await self._fill()
            except StoreError as exc:  # store busy: try again on the next wake
                logger.warning("scheduling skipped: %s", exc.message)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), POLL)

    async def _fill(self) -> None:
        if self.max_running <= 0:
            return  # the queue is paused
        while (queued := await self.store.claim_queued(self.max_running)) is not None:
            await self._start(queued)

    async def _reap(self) -> None:
        for run_id, (proc, token_id) in list(self._children.items()):
            if proc.poll() is not None:
                del self._children[run_id]
                if token_id is not None:
                    await self.store.revoke_token(token_id)

    async def _start(self, queued: QueuedRun) -> None:
        run = queued.run
        template = self.templates.get(queued.template)
        if template is None:
            await self._fail(run.id, f"template {queued.template!r} is no longer declared")
            return
        try:
            argv = template.argv(template.validate(queued.params))
        except ParamError as exc:
            await self._fail(run.id, f"parameter {exc}")
            return
        run_dir = run_dir_of(self.data_dir, run.id)
        run_dir.mkdir(parents=True, exist_ok=True)
        token, token_id = await self._launch_token(run.id, run.project)
        env = {k: v for k, v in os.environ.items() if not k.startswith("RUNWATCH_")}
        env.update({"RUNWATCH_RUN_ID": run.id, "RUNWATCH_PROJECT": run.project})
        if token:
            env["RUNWATCH_TOKEN"] = token
        args = [sys.executable, "-m", "runwatch", "launch", "--project", run.project,
                "--name", run.name, "--run-dir", str(run_dir), "--url", self.url, "--", *argv]  # fmt: skip
        try:
            with (run_dir / "launcher.log").open("ab") as log:
                proc = subprocess.Popen(
                    args,
                    cwd=template.cwd,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # Ctrl-C on the server does not reach it
                )
        except OSError as exc:
            await self._fail(run.id, f"could not start the launcher: {exc}")
            return
        # Operators (and tests) find the launcher of a run here.
        (run_dir / "launcher.pid").write_text(str(proc.pid))
        self._children[run.id] = (proc, token_id)
        logger.info("run %s: launched %s (pid %d)", run.id, template.name, proc.pid)

    async def _launch_token(self, run_id: str, project: str) -> tuple[str | None, int | None]:
        """The token the launcher reports with: the server's own, else (when tokens are
        required) a fresh write token for the run's project, revoked when the launcher exits."""
        if self.token is not None:
            return self.token, None
        if not await self.store.tokens_created():  # an open server
            return None, None
        token = new_token()
        info = await self.store.add_token(
            token_hash(token), token[:10], f"launcher of run {run_id}", "write", project,
            time.time() + LAUNCH_TOKEN_SECONDS,
        )  # fmt: skip
        return token, info.id

    async def _fail(self, run_id: str, error: str) -> None:
        logger.warning("run %s: not started: %s", run_id, error)
        status = StatusIn(state="failed", ts=time.time(), error=error)
        batch = prepare_batch(Batch(producer="scheduler", batch_seq=1, status=status))
        await self.store.ingest(run_id, batch)
