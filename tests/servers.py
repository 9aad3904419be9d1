"""Real runwatch servers for tests: a uvicorn subprocess on an ephemeral loopback port."""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

_LISTENING = re.compile(r"runwatch listening on (http://\S+)")
_PR_SET_PDEATHSIG = 1  # linux/prctl.h
# Looked up here, not in the forked child, where another thread may hold the loader's lock.
_prctl = ctypes.CDLL(None).prctl if sys.platform == "linux" else None


def _die_with_the_tests() -> None:
    """In the server before it execs: SIGKILL it when the thread that started it (pytest's main
    thread) dies, so a test run killed from outside, with no teardown, leaves no server behind."""
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def wait_until(condition, timeout: float = 10.0, interval: float = 0.02, what: str = "condition"):  # type: ignore[no-untyped-def]
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)  # the poll interval of wait_until


def alive(pid: int) -> bool:
    """The process runs (a zombie, killed and not yet reaped, is gone too)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@dataclass
class ServerProcess:
    """One ``runwatch serve`` process; ``restart()`` reuses its port and data dir."""

    data_dir: Path
    port: int = 0
    token: str | None = None
    extra_args: list[str] = field(default_factory=list)
    command: str = "serve"  # or "demo"
    url: str = ""
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log_path = self.data_dir.parent / f"{self.data_dir.name}-server.log"

    def start(self) -> ServerProcess:
        args = [sys.executable, "-m", "runwatch", self.command, "--port", str(self.port)]
        args += ["--data", str(self.data_dir), *self.extra_args]
        env = {k: v for k, v in os.environ.items() if not k.startswith("RUNWATCH_")}
        if self.token:
            env["RUNWATCH_SERVER_TOKEN"] = self.token
        self.log_path.touch()
        offset = self.log_path.stat().st_size
        # Only the main thread lives as long as the run; a helper thread may end before the server.
        main = threading.current_thread() is threading.main_thread()

        def listening() -> str | None:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"server exited: {self.log_path.read_text()[-2000:]}")
            match = _LISTENING.search(self.log_path.read_text()[offset:])
            # A wildcard bind (--host 0.0.0.0) is reached on loopback: tests talk to no other address.
            return match.group(1).replace("//0.0.0.0:", "//127.0.0.1:") if match else None

        try:
            with self.log_path.open("ab") as log:
                self.proc = subprocess.Popen(
                    args,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                    preexec_fn=_die_with_the_tests if main else None,
                )
            self.url = wait_until(listening, 20, what="the server to listen")
            self.port = int(self.url.rsplit(":", 1)[1])
            wait_until(self._healthy, 20, what="/healthz")
        except BaseException:
            self.kill()  # a server that never became healthy must not outlive its test
            raise
        return self

    def _healthy(self) -> bool:
        try:
            return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flush: what a crash looks like."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        """SIGINT, then SIGKILL if it has not exited within 10 s or the wait is interrupted
        (a test's timeout fires during teardown): a stopped server never outlives its test."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.proc.wait(10)
            finally:
                self.kill()

    def restart(self) -> ServerProcess:
        self.stop()
        return self.start()

    def client(self) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=10)


def frame_messages(frame: str | bytes) -> list[dict[str, Any]]:
    """A live frame's messages: one message, or a JSON array of them (coalesced)."""
    data = json.loads(frame)
    return data if isinstance(data, list) else [data]


def token_client(server: ServerProcess, token: str | None) -> httpx.Client:
    """A client of ``server`` presenting ``token`` (None: none, whatever the server's)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=server.url, headers=headers, timeout=30)


def subscribers(server: ServerProcess) -> int:
    """Live subscribers the server holds (sockets, SSE streams, long-polls, its own feeds)."""
    with server.client() as c:
        return int(c.get("/healthz").json()["subscribers"])


def waiting_long_poll(
    server: ServerProcess, run_id: str, wait: float
) -> tuple[threading.Thread, dict]:
    """A producer's long-poll for its next command, returned once the server holds it waiting
    (then only the bus can bring it a command). The thread fills the dict with the reply."""
    reply: dict = {}

    def long_poll() -> None:
        with server.client() as c:
            params = {"after": 0, "wait": wait}
            reply.update(c.get(f"/api/v1/runs/{run_id}/commands/next", params=params).json())

    before = subscribers(server)
    poller = threading.Thread(target=long_poll)
    poller.start()
    wait_until(lambda: subscribers(server) > before, what="the long-poll to wait")
    return poller, reply


def sync_cli(path: Path, url: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``runwatch sync PATH --url URL`` in a subprocess, its output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "runwatch", "sync", str(path), "--url", url],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def kept_images(server: ServerProcess, run_id: str) -> dict[tuple[str, int], bytes]:
    """Each image the server keeps for the run, by key and step, with its blob's bytes (a step
    shown twice under one key fails the test)."""
    out: dict[tuple[str, int], bytes] = {}
    with server.client() as c:
        for entry in c.get(f"/api/v1/runs/{run_id}/media").json()["keys"]:
            items = c.get(f"/api/v1/runs/{run_id}/media/{entry['key']}").json()["items"]
            for item in items:
                assert (entry["key"], item["step"]) not in out, (entry["key"], item["step"])
                out[entry["key"], item["step"]] = c.get(item["url"]).content
    return out
