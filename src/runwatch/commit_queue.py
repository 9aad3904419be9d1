"""Commits taken off the store's acknowledgement path and evaluated later, in order.

The watch-rule engine and the sweeps' early stopper both listen to every commit: the listener
must only queue (ingest waits for it), and a task evaluates what was queued. The backlog is
bounded: past it the oldest commit is dropped and counted, so the health page says what was
missed instead of memory growing.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable

from runwatch.store.base import Committed
from runwatch.store.errors import StoreError


class CommitQueue:
    """A bounded queue of commits that :meth:`run` hands to ``evaluate`` one at a time."""

    def __init__(
        self,
        evaluate: Callable[[list[Committed]], Awaitable[None]],
        what: str,
        logger: logging.Logger,
        backlog: int,
    ) -> None:
        """``what`` names the evaluation in ``logger``'s lines ("rule evaluation")."""
        self._evaluate = evaluate
        self._what = what
        self._logger = logger
        self._queue: deque[list[Committed]] = deque(maxlen=backlog)
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._queue)

    def put(self, committed: list[Committed]) -> None:
        """Queue a commit; never evaluates here (this runs on the ingest ack path)."""
        if len(self._queue) == self._queue.maxlen:
            self.dropped += 1  # the deque drops the oldest: what evaluates it misses that data
        self._queue.append(committed)
        self._idle.clear()
        self._wake.set()

    async def idle(self) -> None:
        """Wait until every queued commit is evaluated."""
        await self._idle.wait()

    async def run(self) -> None:
        """Evaluate queued commits in order until cancelled. A failure skips its commit only:
        a busy store or a bug must not stop the evaluation for good."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                try:
                    await self._evaluate(self._queue.popleft())
                except StoreError as exc:
                    self._logger.warning("%s skipped a commit: %s", self._what, exc.message)
                except Exception:
                    self._logger.exception("%s failed on a commit", self._what)
            self._idle.set()
