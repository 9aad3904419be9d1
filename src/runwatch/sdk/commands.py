"""Commands from the dashboard to the producer, fetched by long-poll (no inbound port needed).

The poller thread asks ``GET /commands/next?after=N`` and hands new commands to the run; the run
applies them (``cancel`` sets ``should_stop``; other kinds run the user's handler on the
training thread) and reports each result in a later batch. Until a result is acknowledged the
server keeps offering the command, so ``after`` — the highest id handed over — makes each one
apply once, even when an answer is lost.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from runwatch.protocol import CLOSED_STATUSES
from runwatch.sdk.backoff import backoff
from runwatch.sdk.transport import Transport

POLL_WAIT = 20.0  # seconds the server may hold a poll open
BACKOFF_CAP = 10.0


class CommandPoller:
    """One daemon thread with its own HTTP client; stops when the run ends for good."""

    def __init__(
        self,
        run_id: str,
        transport: Transport,
        deliver: Callable[[list[dict[str, Any]]], None],
    ) -> None:
        self._path = f"/api/v1/runs/{run_id}/commands/next"
        self._transport = transport
        self._deliver = deliver
        self._stopped = threading.Event()
        self.after = 0
        self._thread = threading.Thread(target=self._run, name="runwatch-commands", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop after the poll in progress (the run's final status ends it on the server)."""
        self._stopped.set()

    def _run(self) -> None:
        try:
            self._poll()
        finally:
            self._transport.close()

    def _poll(self) -> None:
        attempt = 0
        while not self._stopped.is_set():
            params = {"after": self.after, "wait": POLL_WAIT}
            reply = self._transport.get(self._path, params, timeout=POLL_WAIT + 10)
            if self._stopped.is_set():
                return
            body = reply.body if isinstance(reply.body, dict) else {}
            if reply.error_code == "run_deleted":  # no command will ever come (the sender says so)
                return
            if reply.status != 200:
                attempt = min(attempt + 1, 10)
                self._stopped.wait(backoff(0.2, BACKOFF_CAP, attempt))
                continue
            attempt = 0
            fresh = [c for c in body.get("commands", []) if c.get("id", 0) > self.after]
            if fresh:
                self.after = max(c["id"] for c in fresh)
                self._deliver(fresh)
            # Not on "crashed": this producer is alive after all, and its run comes back.
            if body.get("status") in CLOSED_STATUSES:
                return
