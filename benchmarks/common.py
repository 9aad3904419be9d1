"""Shared helpers for the benchmarks: a real runwatch server, percentiles, tables, limits.

Not a benchmark itself; imported by ``ingest.py`` and ``fanout.py`` (run from the repo root or
from anywhere: they put their own directory on ``sys.path``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import queue
import re
import resource
import secrets
import signal
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import msgspec
import psutil
import psycopg

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
_LISTENING = re.compile(r"runwatch listening on (http://\S+)")
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


@contextlib.contextmanager
def scratch_database() -> Iterator[str]:
    """A new PostgreSQL database for one benchmark run: its URL, dropped afterwards. Exits with
    one line when PostgreSQL is not reachable."""
    name = f"runwatch_bench_{secrets.token_hex(4)}"
    try:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
    except psycopg.OperationalError as exc:
        sys.exit(f"PostgreSQL is not reachable at {PG_ADMIN} ({exc}); run `make services`")
    try:
        yield PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def wait_for(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll ``condition`` every 20 ms until it is truthy; raise after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


@dataclass
class Server:
    """One ``python -m runwatch serve --port 0`` subprocess on loopback, with its own data dir."""

    data_dir: Path
    url: str = ""
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path = field(init=False)
    # More `runwatch serve` options, e.g. ["--store", "postgresql://…", "--bus", "redis://…"].
    extra_args: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.log_path = self.data_dir.parent / f"{self.data_dir.name}-server.log"

    def start(self) -> Server:
        args = [sys.executable, "-m", "runwatch", "serve", "--port", "0"]
        args += ["--host", "127.0.0.1", "--data", str(self.data_dir), *self.extra_args]
        env = {k: v for k, v in os.environ.items() if not k.startswith("RUNWATCH_")}
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env)

        def listening() -> str | None:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_path.read_text()[-2000:]}")
            match = _LISTENING.search(self.log_path.read_text())
            return match.group(1) if match else None

        self.url = wait_for(listening, 30, "the runwatch server to listen")
        wait_for(self._healthy, 30, "/healthz")
        return self

    def _healthy(self) -> bool:
        try:
            return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc, signal.SIGINT)


def stop(proc: subprocess.Popen[Any], sig: int = signal.SIGTERM) -> None:
    """Ask a child to exit with ``sig``; kill it after 10 s."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def raise_nofile(wanted: int = 65_536) -> int:
    """Raise the soft open-file limit towards ``wanted`` (capped by the hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The ``q``-quantile (0..1) of already sorted values, nearest-rank; NaN when empty."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(q * len(sorted_values)))
    return float(sorted_values[min(rank, len(sorted_values)) - 1])


def summary(values: Sequence[float]) -> dict[str, float]:
    """Mean, p50, p99 and max of ``values``."""
    ordered = sorted(values)
    mean = sum(ordered) / len(ordered) if ordered else math.nan
    return {
        "mean": mean,
        "p50": percentile(ordered, 0.50),
        "p99": percentile(ordered, 0.99),
        "max": ordered[-1] if ordered else math.nan,
    }


def fmt(value: Any, digits: int = 1) -> str:
    """A table cell: numbers with thousands separators, NaN/None as a dash."""
    if value is None:
        return "-"
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        return f"{value:.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def ratio(a: float | None, b: float | None) -> str:
    """``a / b`` as ``1.23x``, or a dash when either side is missing."""
    if a is None or b is None or math.isnan(a) or math.isnan(b) or b == 0:
        return "-"
    return f"{a / b:.2f}x"


def print_table(title: str, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A plain-text table: first column left-aligned, the others right-aligned."""
    cells = [[str(h) for h in header], *[[fmt(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]

    def line(row: Sequence[str]) -> str:
        first = row[0].ljust(widths[0])
        rest = [c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)]
        return "  ".join([first, *rest])

    print(f"\n{title}")
    print(line(cells[0]))
    print("  ".join("-" * w for w in widths))
    for row in cells[1:]:
        print(line(row))


def machine_line() -> str:
    """One line about where the numbers come from."""
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"python {sys.version.split()[0]} · {os.cpu_count()} cores · load avg {load}"


class Lines:
    """A child process's stdout lines, read on one daemon thread, awaited with a timeout."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self._lines: queue.Queue[str] = queue.Queue()
        self._proc = proc
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            self._lines.put(line.strip())

    def wait(self, prefix: str, timeout: float) -> str:
        """The next line starting with ``prefix`` (others are skipped); "" after ``timeout`` s
        or once the process has exited."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._lines.get(timeout=min(left, 0.5))
            except queue.Empty:
                if self._proc.poll() is not None:
                    break
                continue
            if line.startswith(prefix):
                return line
        return ""


def cpu_snapshot(procs: dict[str, psutil.Process]) -> dict[str, float]:
    """CPU seconds used so far by each process (children included) and by the whole machine."""
    snap = {name: sum(p.cpu_times()[:4]) for name, p in procs.items()}
    t = psutil.cpu_times()
    snap["machine"] = t.user + t.nice + t.system + getattr(t, "irq", 0) + getattr(t, "softirq", 0)
    return snap


def cpu_percent(before: dict[str, float], after: dict[str, float], wall: float) -> dict[str, float]:
    """% of one core per process over ``wall`` s; "others" is the rest of the machine's use
    (this machine is shared: a busy "others" means the numbers next to it were disturbed)."""
    used = {k: 100.0 * (after[k] - before[k]) / wall for k in before}
    used["others"] = used.pop("machine") - sum(used.values())
    return used


class LiveColumns(msgspec.Struct):
    """What the benchmarks read of one key's columns in a live ``points`` message."""

    step: list[int]
    ts: list[float]


class LiveMessage(msgspec.Struct):
    seq: int
    type: str
    points: dict[str, LiveColumns] | None = None


# One live frame: a message, or a JSON array of them (coalesced).
decode_live = msgspec.json.Decoder(LiveMessage | list[LiveMessage]).decode


class RawWebSocket(asyncio.Protocol):
    """A lean WebSocket client: hand-written handshake and frame parser.

    Server frames are unmasked; pings get a (masked, all-zero key) pong. Subclasses implement
    :meth:`on_message` with each complete text message and its arrival time (``time.time()``,
    taken once per read). A handshake made with ``deflate=True`` offers permessage-deflate as a
    browser does; when the server accepts, compressed messages are inflated here.
    """

    def __init__(self, request: bytes) -> None:
        self.request = request
        self.buf = bytearray()
        self.partial = b""
        self.compressed = False  # the message being assembled has RSV1 set
        self.inflater: Any = None  # a zlib decompressobj once permessage-deflate is agreed
        self.upgraded = False
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None

    @staticmethod
    def handshake(host: str, port: int, path: str, deflate: bool = False) -> bytes:
        offer = "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
        return (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            f"Sec-WebSocket-Version: 13\r\n{offer if deflate else ''}\r\n"
        ).encode()

    def on_message(self, payload: bytes, now: float) -> None:
        raise NotImplementedError

    def itself(self) -> RawWebSocket:
        """The protocol factory for ``loop.create_connection``: this very instance."""
        return self

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(f"closed during the handshake: {exc}"))

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        if not self.upgraded and not self._upgrade():
            return
        now, pos, n = time.time(), 0, len(buf)
        while n - pos >= 2:
            length, head = buf[pos + 1] & 0x7F, 2
            if length >= 126:
                head = 4 if length == 126 else 10
                if n - pos < head:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + head], "big")
            if n - pos < head + length:
                break
            self._frame(buf[pos], bytes(buf[pos + head : pos + head + length]), now)
            pos += head + length
        del buf[:pos]

    def _upgrade(self) -> bool:
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return False
        assert self.transport is not None
        if not self.buf.startswith(b"HTTP/1.1 101"):
            self.ready.set_exception(ConnectionError(bytes(self.buf[:80]).decode(errors="replace")))
            self.transport.close()
            return False
        if b"permessage-deflate" in self.buf[:end].lower():
            self.inflater = zlib.decompressobj(-15)
        del self.buf[: end + 4]
        self.upgraded = True
        self.ready.set_result(None)
        return True

    def _frame(self, b0: int, payload: bytes, now: float) -> None:
        opcode, fin = b0 & 0x0F, b0 & 0x80
        assert self.transport is not None
        if opcode == 0x9:
            self.transport.write(bytes([0x8A, 0x80 | len(payload)]) + b"\0\0\0\0" + payload)
        elif opcode == 0x8:
            self.transport.close()
        elif opcode in (0x0, 0x1):
            if opcode == 0x1:
                self.compressed = bool(b0 & 0x40)
            self.partial = self.partial + payload if opcode == 0 else payload
            if fin:
                message = self.partial
                if self.compressed:
                    message = self.inflater.decompress(message + b"\x00\x00\xff\xff")
                self.on_message(message, now)
                self.partial = b""

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


def timed(
    call: Callable[[Any], object], items: Sequence[Any], budget_s: float = 120.0
) -> list[int]:
    """Nanoseconds per ``call(item)`` (``perf_counter_ns`` around each); stops early, with what
    it has, once ``budget_s`` seconds have passed."""
    ns = time.perf_counter_ns
    out = [0] * len(items)
    deadline = ns() + int(budget_s * 1e9)
    for i, item in enumerate(items):
        t0 = ns()
        call(item)
        t1 = ns()
        out[i] = t1 - t0
        if t1 > deadline:
            return out[: i + 1]
    return out


def us_summary(samples_ns: Sequence[int]) -> dict[str, float]:
    """:func:`summary` of nanosecond samples, in µs."""
    return {k: v / 1000 for k, v in summary(samples_ns).items()}


def check(what: str, ok: bool) -> None:
    """One target line: PASS or MISS."""
    print(f"  [{'PASS' if ok else 'MISS'}] {what}")


class Child:
    """A helper process spoken to in lines: ``say`` writes one to its stdin, ``ask`` writes one
    and returns the JSON after the next stdout line that starts with ``prefix`` (None if none
    came within ``timeout`` s). Its stderr goes to ``stderr`` if given."""

    def __init__(self, cmd: Sequence[str], stderr: Path | None = None) -> None:
        err = stderr.open("w") if stderr else None
        self.proc = subprocess.Popen(
            list(cmd), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, text=True
        )
        if err is not None:
            err.close()  # the child has its own copy
        self.lines = Lines(self.proc)

    def say(self, line: str) -> None:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(line + "\n")
            self.proc.stdin.flush()
        except OSError:  # it has exited: what it says next (nothing) tells
            pass

    def ask(self, line: str, prefix: str, timeout: float = 30) -> Any:
        self.say(line)
        got = self.lines.wait(prefix, timeout)
        return json.loads(got[len(prefix) :]) if got else None


def slope(points: Sequence[tuple[float, float]]) -> float:
    """Least-squares slope of ``(x, y)`` points; NaN with fewer than two distinct x."""
    n = len(points)
    if n < 2:
        return math.nan
    mx, my = sum(x for x, _ in points) / n, sum(y for _, y in points) / n
    var = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / var if var else math.nan
