"""Managed TensorBoard processes: one per run on request, bound to 127.0.0.1, never left behind.

A process lives on a lease that the run page (or ``runwatch tensorboard``) renews; it is stopped
when the lease runs out (the page was closed), when its run ends, when asked, and when the
server shuts down. It dies with a server that is killed too, and one a previous server left
behind is stopped at start (see :mod:`runwatch.server.owned`). At most :data:`MAX_PROCESSES`
run at once. Its logdir is only ever a run directory the server knows
(:mod:`runwatch.server.run_dirs`), never a path a producer merely claims.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import msgspec

from runwatch.parent_death import die_with_parent
from runwatch.protocol import FINAL_STATUSES
from runwatch.server.errors import ApiError
from runwatch.server.owned import ChildRecords
from runwatch.store.base import RunStore

LEASE_SECONDS = 60.0
MAX_PROCESSES = 4
START_TIMEOUT = 60.0
PROXY_TIMEOUT = httpx.Timeout(60.0, connect=5.0)  # the proxy's, per request to a TensorBoard


def proxy_path(run_id: str) -> str:
    """The same-origin path the server proxies the run's TensorBoard under (no trailing slash).
    TensorBoard is started with it as its ``--path_prefix``, so its own absolute URLs land
    back on the proxy."""
    return f"/api/v1/runs/{run_id}/tensorboard/proxy"


class TensorBoardInfo(msgspec.Struct):
    """A managed TensorBoard: ``url`` is its loopback address (this machine only), ``proxy``
    the server's same-origin path to it (what the run page embeds)."""

    run_id: str
    url: str
    pid: int
    logdir: str
    started_at: float
    lease_until: float
    proxy: str
    port: int


def _signal_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class TensorBoardManager:
    def __init__(self, store: RunStore, data_dir: Path) -> None:
        self._store = store
        self._records = ChildRecords(data_dir)
        self._running: dict[str, tuple[subprocess.Popen[bytes], TensorBoardInfo]] = {}
        self._lock = asyncio.Lock()
        self._http: httpx.AsyncClient | None = None

    def stop_stale(self) -> int:
        """Stop the TensorBoards a previous server on this data dir left running; how many."""
        return len(self._records.stop_stale())

    async def start(self, run_id: str, logdir: Path) -> TensorBoardInfo:
        """Start (or renew the lease of) the run's TensorBoard; answers once it serves HTTP."""
        async with self._lock:
            current = self._running.get(run_id)
            if current is not None and current[0].poll() is None:
                current[1].lease_until = time.time() + LEASE_SECONDS
                return current[1]
            if len(self._running) >= MAX_PROCESSES:
                message = f"{MAX_PROCESSES} TensorBoards are running; stop one first"
                raise ApiError(429, "too_many_tensorboards", message)
            port = _free_port()
            prefix = proxy_path(run_id)
            command = [sys.executable, "-m", "tensorboard.main", "--logdir", str(logdir),
                       "--host", "127.0.0.1", "--port", str(port),
                       "--path_prefix", prefix]  # fmt: skip
            try:
                proc = subprocess.Popen(
                    command,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,  # its own group: stopped with whatever it starts
                    preexec_fn=die_with_parent(),
                )
            except (OSError, subprocess.SubprocessError) as exc:
                raise ApiError(
                    503, "tensorboard_unavailable", f"could not start TensorBoard: {exc}"
                ) from None
            self._records.add(proc.pid, kind="tensorboard", run_id=run_id, port=port)
            now = time.time()
            url = f"http://127.0.0.1:{port}{prefix}/"
            info = TensorBoardInfo(
                run_id, url, proc.pid, str(logdir), now, now + LEASE_SECONDS, f"{prefix}/", port
            )
            self._running[run_id] = (proc, info)
        if not await self._answers(proc, info.url):
            await self.stop(run_id)
            message = "TensorBoard did not start (is the tensorboard package installed?)"
            raise ApiError(503, "tensorboard_unavailable", message)
        return info

    async def _answers(self, proc: subprocess.Popen[bytes], url: str) -> bool:
        deadline = time.monotonic() + START_TIMEOUT
        async with httpx.AsyncClient(timeout=2) as client:
            while time.monotonic() < deadline and proc.poll() is None:
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(url)).status_code < 500:
                        return True
                await asyncio.sleep(0.2)  # polling a child process until it serves
        return False

    async def stop(self, run_id: str) -> bool:
        entry = self._running.pop(run_id, None)
        if entry is None:
            return False
        proc = entry[0]
        _signal_group(proc, signal.SIGTERM)
        try:
            await asyncio.to_thread(proc.wait, 10)
        except subprocess.TimeoutExpired:
            _signal_group(proc, signal.SIGKILL)
            await asyncio.to_thread(proc.wait, 10)
        self._records.remove(proc.pid)
        return True

    def get(self, run_id: str) -> TensorBoardInfo | None:
        """The run's TensorBoard while its process lives (None otherwise)."""
        entry = self._running.get(run_id)
        if entry is None or entry[0].poll() is not None:
            return None
        return entry[1]

    def renew(self, run_id: str) -> TensorBoardInfo | None:
        """Extend the lease of the run's running TensorBoard (a viewer has it open); None when
        none runs. Never starts one: only an admin may run a process on the server."""
        info = self.get(run_id)
        if info is not None:
            info.lease_until = time.time() + LEASE_SECONDS
        return info

    async def sweep(self, now: float) -> None:
        """Stop expired leases, processes that died, and those whose run has ended."""
        for run_id, (proc, info) in list(self._running.items()):
            run = await self._store.get_run(run_id)
            ended = run is None or (
                run.status in FINAL_STATUSES and (run.ended_at or 0) > info.started_at
            )
            if info.lease_until < now or proc.poll() is not None or ended:
                await self.stop(run_id)

    def http(self) -> httpx.AsyncClient:
        """The client the proxy reaches the TensorBoards with (made on first use: in the loop)."""
        if self._http is None:
            limits = httpx.Limits(max_connections=8 * MAX_PROCESSES)
            self._http = httpx.AsyncClient(timeout=PROXY_TIMEOUT, limits=limits, trust_env=False)
        return self._http

    async def stop_all(self) -> None:
        for run_id in list(self._running):
            await self.stop(run_id)
        if self._http is not None:
            await self._http.aclose()
            self._http = None
