"""Bus backends for the contract suite: the in-process bus, and Redis on 127.0.0.1:6379."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import socket
import subprocess
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from runwatch.bus import Bus, MemoryBus
from runwatch.bus.redis import RedisBus
from runwatch.store.base import Record
from tests.conftest import missing
from tests.servers import wait_until

REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379


def redis_answers(host: str = REDIS_HOST, port: int = REDIS_PORT) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def redis_url(port: int = REDIS_PORT) -> str:
    """A URL whose channel prefix no other test (or engineer) shares."""
    return f"redis://{REDIS_HOST}:{port}/0?prefix=test-{uuid.uuid4().hex[:12]}:"


class PrivateRedis:
    """A redis-server of our own on one port: start, SIGKILL, start again (a real restart), or
    SIGSTOP and SIGCONT it (a hang: connections stay open and nothing answers)."""

    def __init__(self, workdir: Path) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        if not shutil.which("redis-server"):
            missing("redis-server (Debian package redis-server)")
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        args += ["--appendonly", "no", "--dir", str(self.workdir)]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: redis_answers(port=self.port), 10, what="the private redis-server")

    def pause(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.resume()  # never leave a stopped process behind, even if the kill fails
            self.proc.kill()
            self.proc.wait(10)


# Ways Redis goes away and comes back: (break, mend); both must end on the same recovery.
OUTAGES: dict[str, tuple[Callable[[PrivateRedis], None], Callable[[PrivateRedis], None]]] = {
    "restart": (PrivateRedis.kill, PrivateRedis.start),
    "hang": (PrivateRedis.pause, PrivateRedis.resume),
}


@dataclass
class Backend:
    """One bus backend; ``replicas(n)`` gives n started buses that share one medium."""

    name: str
    url: str | None = None

    @contextlib.asynccontextmanager
    async def replicas(self, n: int = 1) -> AsyncIterator[list[Bus]]:
        buses: list[Bus] = [MemoryBus()] if self.url is None else []
        if self.url is not None:
            buses = [RedisBus(self.url) for _ in range(n)]
        for bus in buses:
            await bus.start()
        try:
            # The in-process bus is shared by everything in its process: the same object.
            yield buses if len(buses) == n else buses * n
        finally:
            for bus in buses:
                await bus.stop()


@pytest.fixture(params=["memory", "redis"])
def backend(request: pytest.FixtureRequest) -> Backend:
    if request.param == "memory":
        return Backend("memory")
    if not redis_answers():
        missing(f"Redis on {REDIS_HOST}:{REDIS_PORT}")
    return Backend("redis", redis_url())


@dataclass(eq=False)
class Collector:
    """What one subscriber received: records in arrival order, and how many resyncs."""

    seqs: list[int] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)
    resyncs: int = 0
    loops: list[asyncio.AbstractEventLoop | None] = field(default_factory=list)

    def __call__(self, records: list[Record]) -> None:
        try:
            self.loops.append(asyncio.get_running_loop())
        except RuntimeError:
            self.loops.append(None)
        if not records:
            self.resyncs += 1
        self.seqs += [r.seq for r in records]
        self.bodies += [r.body for r in records]


async def until(condition: Callable[[], object], timeout: float = 10.0, what: str = "it") -> None:
    """Wait for ``condition()`` to hold, polling the event loop; fail after ``timeout``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.005)  # the poll interval of until()
