"""A paced producer against a server slower than the flush interval: batches grow with the
server's latency (one request takes all that came while the last was out) instead of queuing
a small request each, so the run stays live and finish() has little left to send."""

from __future__ import annotations

import threading
from pathlib import Path

import runwatch
from tests.proxy import RecordingProxy
from tests.reliability.test_burst import stored
from tests.servers import ServerProcess

STEPS = 300
STEP_SECONDS = 0.01  # the training step: several steps a flush interval (50 ms)
STEPS_AN_ANSWER = 20  # the server answers a batch only after this many training steps


class Steps:
    """The training loop's progress, which the slow server's answers wait on."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._taken = 0
        self._ended = False

    def took_one(self) -> None:
        with self._changed:
            self._taken += 1
            self._changed.notify_all()

    def end(self) -> None:
        with self._changed:
            self._ended = True
            self._changed.notify_all()

    def wait_for(self, more: int) -> None:
        """Until the loop took ``more`` steps from now, or ended (then at once)."""
        with self._changed:
            start = self._taken
            done = self._changed.wait_for(
                lambda: self._ended or self._taken - start >= more, timeout=60
            )
            assert done, "the training loop stalled"


def test_batches_grow_with_a_slow_servers_latency(tmp_path: Path) -> None:
    steps = Steps()

    def slow_batches(method: str, path: str) -> None:
        if method == "POST" and path.endswith("/batches"):
            steps.wait_for(STEPS_AN_ANSWER)  # the server's latency, in training steps

    server = ServerProcess(tmp_path / "data").start()
    try:
        with RecordingProxy(server.url, before=slow_batches) as proxy:
            run = runwatch.init(project="p", url=proxy.url, run_dir=tmp_path / "run")
            for step in range(STEPS):
                run.log({f"k{i}": float(step + i) for i in range(40)}, step=step)
                steps.took_one()
                run.wait_stop(STEP_SECONDS)
            steps.end()
            assert run.finish(timeout=60)
            posts = [e for e in proxy.exchanges if e.path.endswith("/batches")]
        assert stored(server, run.id, "k0") == STEPS
        # One request an answer while the loop runs (and a few at its end), not one a flush
        # interval: those would wait in the spool and all go after the loop.
        assert len(posts) <= STEPS / STEPS_AN_ANSWER + 5, len(posts)
    finally:
        server.stop()
