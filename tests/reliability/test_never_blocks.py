"""log() never sleeps or waits, even when the sender is starved and the server is down: past the
queue's cap the calling thread spools the queue itself, and every record still arrives once."""

from __future__ import annotations

import sys
from pathlib import Path
from types import FrameType
from typing import Any

import numpy as np
import pytest

from runwatch.sdk.run import Run
from runwatch.sdk.sender import SenderConfig
from tests.reliability.test_burst import status, stored
from tests.servers import ServerProcess, wait_until

RECORDS = 200_000
CAP = 1_000


class BlockingCalls:
    """A profile hook on the calling thread: the names of the sleeps and waits it enters."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def __call__(self, frame: FrameType, event: str, arg: Any) -> None:
        if event == "c_call" and getattr(arg, "__name__", "") == "sleep":
            self.seen.append(f"{getattr(arg, '__module__', '')}.sleep")
        elif event == "call" and frame.f_code.co_name in ("wait", "sleep"):
            self.seen.append(f"{frame.f_code.co_filename}:{frame.f_code.co_name}")


# A stall must end the run with every thread's stack printed: once in CI the loop below did not
# finish, and the default SIGALRM timeout then spun in its handler under sys.setprofile.
@pytest.mark.timeout(120, method="thread")
def test_a_fast_producer_past_the_cap_never_waits_and_loses_nothing(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data").start()
    server.stop()  # down while the loop runs: nothing leaves the process
    spec = {"id": "spill001", "project": "p", "name": "spill", "tags": [], "config": {}}
    # The sender sleeps far longer than the loop lasts (a flush interval and a backoff of
    # seconds) and is woken only every 5,000 records: the queue reaches its cap of 1,000 first.
    config = SenderConfig(
        flush_interval=30.0,
        max_batch_records=5_000,
        queue_cap=CAP,
        vitals_interval=0,
        backoff_base=10.0,
        backoff_cap=10.0,
    )
    run = Run(spec, [server.url], None, tmp_path / "run", config)
    try:
        # The first record wakes the idle sender, which takes it and goes back to sleep: from
        # then on only this thread can take the queue off its cap (were the sender awake, it
        # could drain the queue as fast as the loop fills it, and nothing would be spilled).
        run.log({"loss": 0.0}, step=0)
        wait_until(lambda: run._sender.taken == 1, what="the sender took the first record")
        hook = BlockingCalls()
        longest = 0
        sys.setprofile(hook)
        try:
            for i in range(1, RECORDS):
                run.log({"loss": float(i)}, step=i)
                longest = max(longest, len(run._queue))
        finally:
            sys.setprofile(None)
        assert hook.seen == []
        assert run._sender.spilled > 0  # the calling thread spooled the queue itself
        # Bounded: the queue never grew far past its cap (unbounded, it would hold them all).
        assert longest < RECORDS // 4, longest
        server.start()
        assert run.finish(timeout=120)
        assert stored(server, "spill001") == RECORDS  # every record, exactly once
        assert status(server, "spill001") == "succeeded"
    finally:
        run.finish(timeout=0)  # a failed assertion must not leave the sender retrying
        server.stop()


@pytest.mark.timeout(300, method="thread")
def test_a_producer_outpacing_a_busy_sender_keeps_the_queue_near_its_cap(tmp_path: Path) -> None:
    # Images between the points keep the sender busy encoding while log() runs on: the queue
    # must still stay near its cap (the sender hands it over to the training thread), not grow
    # with the loop, where a kill -9 would lose all of it.
    server = ServerProcess(tmp_path / "data").start()
    cap, records = 10_000, 300_000
    spec = {"id": "busy0001", "project": "p", "name": "busy", "tags": [], "config": {}}
    config = SenderConfig(queue_cap=cap, vitals_interval=0)
    run = Run(spec, [server.url], None, tmp_path / "run", config)
    image = np.random.default_rng(0).integers(0, 256, (96, 96, 3), dtype=np.uint8)
    try:
        longest = 0
        for i in range(records):
            run.log({"loss": float(i)}, step=i)
            if i % 100 == 0:
                run.image("sample", image, step=i)
            longest = max(longest, len(run._queue))
        assert run._sender.spilled > 0
        # Bounded: past the cap it grows only while the sender finishes its slice (how much
        # depends on the machine: 60,521 once on a loaded 2-core host; benchmarks/burst.py
        # measures it), never with the loop (unbounded, it would hold most of the 300,000).
        assert longest < records // 4, longest
        assert run.finish(timeout=240)
        assert stored(server, "busy0001") == records  # every record, exactly once
        assert status(server, "busy0001") == "succeeded"
    finally:
        run.finish(timeout=0)
        server.stop()
