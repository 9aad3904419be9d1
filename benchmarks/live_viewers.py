"""Many WebSocket viewers of live runs in one asyncio loop (used by ``run_page.py``, ``soak.py``).

Started by them (not meant to be run by hand)::

    python benchmarks/live_viewers.py URL RUN_ID[,RUN_ID...] VIEWERS [--slow K] [--since now|0]

Viewer ``i`` reads run ``i % len(runs)`` at ``/api/v1/runs/{run}/live?since=...`` (``now``: the
run's current seq, live only; ``0``: everything) with ``common.RawWebSocket``; each checks that
seqs come exactly once and in order (a ``reset`` moves it on, counted). A connection that drops
before ``run.closed`` is counted (with its close code, if a close frame got through) and, like
the run page does, reopened 1 s later with ``since=`` the last seq it has. The last ``--slow``
viewers are slow readers: a 16 KiB receive buffer and a token bucket of ``--slow-kib`` KiB/s
(reading is paused while over budget), so the server must bound what it holds for them.
Prints ``READY <seconds>``; on stdin, ``STATS`` prints ``STATS <json>`` (totals, fast and slow
apart, and per run the lowest and highest seq its viewers have reached); ``QUIT`` exits.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common
import httpx
import msgspec

RECONNECT_S = 1.0


class Message(msgspec.Struct):
    seq: int
    type: str


_decode = msgspec.json.Decoder(Message | list[Message]).decode


class Seat:
    """One viewer: its run, position and counters, across reconnections."""

    def __init__(self, host: str, port: int, run: str, since: int, slow_bps: float) -> None:
        self.host, self.port, self.run, self.slow_bps = host, port, run, slow_bps
        self.next_seq = since + 1
        self.records = self.frames = self.bytes = 0
        self.dups = self.gaps = self.resets = self.drops = 0
        self.codes: list[str] = []
        self.closed_run = self.quitting = False
        self.conn: Conn | None = None
        self.pending: asyncio.Future[None] | None = None  # a reconnection under way

    async def connect(self) -> None:
        path = f"/api/v1/runs/{self.run}/live?since={self.next_seq - 1}"
        conn = Conn(self, Conn.handshake(self.host, self.port, path))
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if self.slow_bps:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
        sock.setblocking(False)
        loop = asyncio.get_running_loop()
        await loop.sock_connect(sock, (self.host, self.port))
        await loop.create_connection(conn.itself, sock=sock)
        await asyncio.wait_for(conn.ready, 30)
        self.conn = conn

    def lost(self, code: int | None) -> None:
        if self.closed_run or self.quitting:
            return
        self.drops += 1
        self.codes.append(str(code))
        asyncio.get_running_loop().call_later(RECONNECT_S, self._reconnect)

    def _reconnect(self) -> None:
        async def again() -> None:
            try:
                await self.connect()
            except (TimeoutError, OSError):
                self.lost(None)

        if not self.quitting:
            self.pending = asyncio.ensure_future(again())

    def on_message(self, payload: bytes) -> None:
        self.frames += 1
        decoded = _decode(payload)
        for m in decoded if isinstance(decoded, list) else [decoded]:
            if m.type == "reset":  # control messages carry the seq to resume after
                self.resets += 1
                self.next_seq = max(self.next_seq, m.seq + 1)
                continue
            if m.type == "run.closed":
                self.closed_run = True
                continue
            if m.seq < self.next_seq:
                self.dups += 1
                continue
            self.gaps += m.seq - self.next_seq
            self.next_seq = m.seq + 1
            self.records += 1


class Conn(common.RawWebSocket):
    """One connection of a seat; a slow seat's reading is paused while over its byte budget."""

    def __init__(self, seat: Seat, request: bytes) -> None:
        super().__init__(request)
        self.seat = seat
        self.code: int | None = None
        self.budget, self.refilled = 0.0, time.monotonic()

    def data_received(self, data: bytes) -> None:
        self.seat.bytes += len(data)
        super().data_received(data)
        rate = self.seat.slow_bps
        if rate and self.transport is not None and not self.transport.is_closing():
            now = time.monotonic()
            self.budget = min(rate, self.budget + (now - self.refilled) * rate) - len(data)
            self.refilled = now
            if self.budget < 0:  # over budget: stop reading until it has refilled
                self.transport.pause_reading()
                asyncio.get_running_loop().call_later(-self.budget / rate, self._resume)

    def _resume(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()

    def on_message(self, payload: bytes, now: float) -> None:
        self.seat.on_message(payload)

    def _frame(self, b0: int, payload: bytes, now: float) -> None:
        if b0 & 0x0F == 0x8:  # a close frame: note its code
            self.code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
        super()._frame(b0, payload, now)

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        if self.ready.done() and self.seat.conn is self:
            self.seat.lost(self.code)


async def connect(args: argparse.Namespace) -> list[Seat]:
    host, port = args.url.split("//", 1)[1].rsplit(":", 1)
    runs = args.runs.split(",")
    since = dict.fromkeys(runs, 0)
    if args.since == "now":
        async with httpx.AsyncClient(base_url=args.url, timeout=30) as http:
            for run in runs:
                since[run] = (await http.get(f"/api/v1/runs/{run}")).json()["seq"]
    slow = min(args.slow, args.viewers)
    seats = []
    for i in range(args.viewers):
        run = runs[i % len(runs)]
        slow_bps = args.slow_kib * 1024 if i >= args.viewers - slow else 0.0
        seats.append(Seat(host, int(port), run, since[run], slow_bps))
        await seats[-1].connect()
    return seats


def stats(seats: list[Seat]) -> dict[str, Any]:
    def totals(group: list[Seat]) -> dict[str, Any]:
        keys = ("records", "frames", "bytes", "dups", "gaps", "resets", "drops")
        out: dict[str, Any] = {k: sum(getattr(s, k) for s in group) for k in keys}
        out["viewers"], out["closed"] = len(group), sum(s.closed_run for s in group)
        out["codes"] = ",".join(sorted({c for s in group for c in s.codes}))
        return out

    runs: dict[str, dict[str, int]] = {}
    for s in seats:
        r = runs.setdefault(s.run, {"fast_min": 1 << 62, "fast_max": 0, "slow_min": 1 << 62})
        key = "slow_min" if s.slow_bps else "fast_min"
        r[key] = min(r[key], s.next_seq - 1)
        if not s.slow_bps:
            r["fast_max"] = max(r["fast_max"], s.next_seq - 1)
    return {"all": totals(seats), "fast": totals([s for s in seats if not s.slow_bps]),
            "slow": totals([s for s in seats if s.slow_bps]), "runs": runs}  # fmt: skip


async def main_async(args: argparse.Namespace) -> None:
    common.raise_nofile()
    t0 = time.perf_counter()
    seats = await connect(args)
    print(f"READY {time.perf_counter() - t0:.2f}", flush=True)
    loop = asyncio.get_running_loop()
    lines: asyncio.Queue[str] = asyncio.Queue()

    def read_stdin() -> None:
        for line in sys.stdin:
            loop.call_soon_threadsafe(lines.put_nowait, line.strip())
        loop.call_soon_threadsafe(lines.put_nowait, "QUIT")

    threading.Thread(target=read_stdin, daemon=True).start()
    while (line := await lines.get()) != "QUIT":
        if line == "STATS":
            print("STATS " + json.dumps(stats(seats)), flush=True)
    for s in seats:
        s.quitting = True
        if s.conn is not None:
            s.conn.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("runs", help="comma-separated run ids")
    parser.add_argument("viewers", type=int)
    parser.add_argument("--slow", type=int, default=0, help="how many of them read slowly")
    parser.add_argument("--slow-kib", type=float, default=32.0, help="a slow reader's KiB/s")
    parser.add_argument("--since", choices=("now", "0"), default="now")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
