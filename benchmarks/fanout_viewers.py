"""The viewer process of ``fanout.py``: many WebSocket viewers of one run, in one asyncio loop.

Started by ``fanout.py`` (not meant to be run by hand)::

    python benchmarks/fanout_viewers.py [--deflate] URL PATH VIEWERS FIRST_SEQ POINTS_PER_BATCH
                                        PHASE_SIZE...

Connects VIEWERS lean WebSocket clients (``common.RawWebSocket``; ``--deflate``: offering
permessage-deflate as browsers do) to URL + PATH, prints
``READY <seconds>``; then for each phase (PHASE_SIZE batches; batch ``i`` carries metric ``v`` at
steps ``i * POINTS_PER_BATCH ...``) prints ``DONE <i>`` once every viewer has every batch of the
phase, or when ``CUT <i>`` is read on stdin; last prints ``RESULT <json>``: per phase, records
delivered / expected, frames, sends/s, latency (arrival - the send time in each point's ``ts``)
and % of late rounds; and whether every viewer saw every seq (from FIRST_SEQ on, whatever the
record type) exactly once, in order, and every batch.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time
from array import array
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common

LATE_MS = 100.0
Result = dict[str, Any]


class Phase:
    """What the viewers saw of one phase's batches (batch indexes ``first..last``)."""

    def __init__(self, first: int, last: int, viewers: int) -> None:
        self.first, self.last, self.viewers = first, last, viewers
        self.size = last - first + 1
        self.latency = array("d")
        self.round_max: dict[int, float] = {}
        self.round_count: dict[int, int] = {}
        self.frames = self.finished_viewers = 0
        self.first_send, self.last_arrival = float("inf"), 0.0
        self.closed = False
        self.done = asyncio.Event()

    def record(self, batch: int, latency_ms: float, sent: float, now: float) -> None:
        self.latency.append(latency_ms)
        self.round_max[batch] = max(latency_ms, self.round_max.get(batch, 0.0))
        self.round_count[batch] = self.round_count.get(batch, 0) + 1
        self.first_send = min(self.first_send, sent)
        self.last_arrival = now

    def viewer_complete(self) -> None:
        self.finished_viewers += 1
        if self.finished_viewers == self.viewers:
            self.done.set()

    def result(self) -> Result:
        late = sum(
            1
            for b in range(self.first, self.last + 1)
            if self.round_count.get(b, 0) < self.viewers or self.round_max[b] > LATE_MS
        )
        span = self.last_arrival - self.first_send
        return {
            "delivered": len(self.latency),
            "expected": self.size * self.viewers,
            "frames": self.frames,
            "sends_per_s": len(self.latency) / span if span > 0 else 0.0,
            "latency_ms": common.summary(self.latency),
            "rounds_late_pct": 100.0 * late / self.size,
        }


class Viewer(common.RawWebSocket):
    """One viewer: checks that seqs (of every record type) come exactly once and in order, and
    records each points record's arrival under its batch (its first step // points per batch)."""

    def __init__(self, request: bytes, first_seq: int, phases: list[Phase], per_batch: int) -> None:
        super().__init__(request)
        self.next_seq, self.phases, self.per_batch = first_seq, phases, per_batch
        self.dups = self.gaps = self.resets = self.received = 0
        self.counts = [0] * len(phases)

    def on_message(self, payload: bytes, now: float) -> None:
        decoded = common.decode_live(payload)
        messages = decoded if isinstance(decoded, list) else [decoded]
        counted: set[int] = set()
        for m in messages:
            if m.type in ("reset", "run.closed"):  # control messages repeat the last seq
                self.resets += m.type == "reset"
                continue
            if m.seq < self.next_seq:
                self.dups += 1
                continue
            self.gaps += m.seq - self.next_seq
            self.next_seq = m.seq + 1
            if m.type == "points" and m.points and "v" in m.points:
                self._points(m.points["v"], now, counted)

    def _points(self, col: common.LiveColumns, now: float, counted: set[int]) -> None:
        batch = col.step[0] // self.per_batch
        i = next((i for i, p in enumerate(self.phases) if p.first <= batch <= p.last), None)
        if i is None:
            return
        self.received += 1
        phase = self.phases[i]
        if phase.closed:
            return
        if i not in counted:  # a frame counts for the phase of its records
            phase.frames += 1
            counted.add(i)
        sent = col.ts[0]
        phase.record(batch, (now - sent) * 1000.0, sent, now)
        self.counts[i] += 1
        if self.counts[i] == phase.size:
            phase.viewer_complete()


async def connect_all(
    url: str, path: str, count: int, first: int, phases: list[Phase], per_batch: int, deflate: bool
) -> list[Viewer]:
    host, port = url.split("//", 1)[1].rsplit(":", 1)
    request = Viewer.handshake(host, int(port), path, deflate)
    loop = asyncio.get_running_loop()
    viewers: list[Viewer] = []
    for start in range(0, count, 100):  # 100 handshakes at a time
        n = min(count, start + 100) - start
        batch = [Viewer(request, first, phases, per_batch) for _ in range(n)]
        await asyncio.gather(*(loop.create_connection(v.itself, host, int(port)) for v in batch))
        await asyncio.wait_for(asyncio.gather(*(v.ready for v in batch)), 60)
        viewers += batch
    return viewers


async def viewer_main(
    url: str, path: str, count: int, first: int, per_batch: int, sizes: list[int], deflate: bool
) -> None:
    """Connect, say READY; per phase, say DONE when complete or when told CUT; print results."""
    common.raise_nofile()
    phases, start = [], 0
    for size in sizes:
        phases.append(Phase(start, start + size - 1, count))
        start += size
    t0 = time.perf_counter()
    viewers = await connect_all(url, path, count, first, phases, per_batch, deflate)
    print(f"READY {time.perf_counter() - t0:.2f}", flush=True)
    loop = asyncio.get_running_loop()
    lines: asyncio.Queue[str] = asyncio.Queue()
    reader = threading.Thread(target=_read_stdin, args=(loop, lines), daemon=True)
    reader.start()
    results = []
    for i, phase in enumerate(phases):
        done, cut = asyncio.ensure_future(phase.done.wait()), asyncio.ensure_future(_cut(lines, i))
        await asyncio.wait({done, cut}, return_when=asyncio.FIRST_COMPLETED)
        for task in (done, cut):
            task.cancel()
        phase.closed = True
        results.append(phase.result())
        print(f"DONE {i}", flush=True)
    total = sum(sizes)
    exact = sum(1 for v in viewers if v.received == total and not v.dups and not v.gaps)
    checks = {"viewers_exact": exact, "dups": sum(v.dups for v in viewers),
              "gaps": sum(v.gaps for v in viewers), "resets": sum(v.resets for v in viewers),
              "missing": sum(total - v.received for v in viewers)}  # fmt: skip
    for v in viewers:
        v.close()
    print("RESULT " + json.dumps({"phases": results, "checks": checks}), flush=True)


async def _cut(lines: asyncio.Queue[str], phase: int) -> None:
    while await lines.get() != f"CUT {phase}":
        pass


def _read_stdin(loop: asyncio.AbstractEventLoop, lines: asyncio.Queue[str]) -> None:
    for line in sys.stdin:
        loop.call_soon_threadsafe(lines.put_nowait, line.strip())


def main() -> None:
    args = sys.argv[1:]
    deflate = args[0] == "--deflate"
    url, path, count, first, per_batch, *sizes = args[1:] if deflate else args
    sizes_ = [int(s) for s in sizes]
    asyncio.run(viewer_main(url, path, int(count), int(first), int(per_batch), sizes_, deflate))


if __name__ == "__main__":
    main()
