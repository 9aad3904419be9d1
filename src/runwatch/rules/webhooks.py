"""Webhook delivery of alerts: a bounded queue, a few worker tasks, retries with backoff.

Delivery never touches the ingest path: the engine only queues. Each attempt is time-bounded,
retried with exponential backoff on network errors, 5xx, 408 and 429, and its outcome (state,
attempts, error) is written into the alert, so a failing webhook is visible in the Alerts view.
A webhook URL is a secret: only its scheme and host are ever logged or shown. Each attempt
resolves the host and checks its addresses against the :class:`WebhookPolicy` (no requests to
loopback, link-local or private addresses unless allowed). Every delivery ends ``delivered`` or
``failed`` with a reason, whatever goes wrong.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import httpx
import msgspec

from runwatch.rules.spec import Alert, mask_url
from runwatch.rules.targets import TargetRefused, WebhookPolicy, pinned
from runwatch.store.base import RuleStore
from runwatch.store.errors import StoreError

logger = logging.getLogger("runwatch.rules")
QUEUE_CAP = 1_000  # deliveries waiting; past it a new one is marked failed at once
WORKERS = 2
TIMEOUT = 5.0  # seconds per attempt
ATTEMPTS = 4
BACKOFF = 1.0  # seconds before the first retry; doubles each time
_RETRYABLE = frozenset({408, 429})


def webhook_body(alert: Alert) -> bytes:
    """The JSON POSTed: Slack reads ``text``, Discord ``content``; ``alert`` has the facts."""
    text = (
        f"[runwatch] {alert.level}: {alert.rule_name} on run {alert.run_name}"
        f" ({alert.project}): {alert.message}"
    )
    facts: dict[str, Any] = {
        "id": alert.id, "rule": alert.rule_name, "rule_id": alert.rule_id,
        "project": alert.project, "run_id": alert.run_id, "run_name": alert.run_name,
        "ts": alert.ts, "level": alert.level, "message": alert.message, "detail": alert.detail,
    }  # fmt: skip
    return msgspec.json.encode({"text": text, "content": text[:2000], "alert": facts})


class WebhookSender:
    """Delivers queued alerts; ``on_update`` is told each new state of an alert."""

    def __init__(
        self,
        store: RuleStore,
        on_update: Callable[[Alert], None],
        timeout: float = TIMEOUT,
        attempts: int = ATTEMPTS,
        backoff: float = BACKOFF,
        queue_cap: int = QUEUE_CAP,
        policy: WebhookPolicy | None = None,
    ) -> None:
        self._store = store
        self.policy = policy or WebhookPolicy()
        self._on_update = on_update
        self._timeout = timeout
        self._attempts = attempts
        self._backoff = backoff
        self._queue: asyncio.Queue[tuple[Alert, int, str]] = asyncio.Queue(queue_cap)
        self._client: httpx.AsyncClient | None = None
        self._workers: list[asyncio.Task[None]] = []
        self.delivered = 0
        self.failed = 0

    async def start(self) -> None:
        self._client = httpx.AsyncClient(timeout=self._timeout, follow_redirects=False)
        self._workers = [
            asyncio.create_task(self._work(), name=f"runwatch-webhook-{i}") for i in range(WORKERS)
        ]

    async def stop(self) -> None:
        for task in self._workers:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._workers = []
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def enqueue(self, alert: Alert, index: int, url: str) -> None:
        """Queue a delivery; with the queue full it is marked failed at once (never waits)."""
        try:
            self._queue.put_nowait((alert, index, url))
        except asyncio.QueueFull:
            self.failed += 1
            await self._report(alert, index, {"state": "failed", "error": "webhook queue full"})

    async def idle(self) -> None:
        """Wait until every queued delivery has finished (for tests and benchmarks)."""
        await self._queue.join()

    async def _work(self) -> None:
        while True:
            alert, index, url = await self._queue.get()
            try:
                await self._deliver(alert, index, url)
            except Exception as exc:  # never left pending, and the worker goes on
                logger.warning("webhook delivery of alert %d failed: %r", alert.id, exc)
                self.failed += 1
                outcome = {"state": "failed", "error": f"{type(exc).__name__}: {exc}"[:500]}
                await self._report(alert, index, outcome)
            finally:
                self._queue.task_done()

    async def _deliver(self, alert: Alert, index: int, url: str) -> None:
        body = webhook_body(alert)
        for attempt in range(1, self._attempts + 1):
            error, retry = await self._attempt(url, body)
            if error is None:
                self.delivered += 1
                outcome = {"state": "delivered", "attempts": attempt, "error": None}
                await self._report(alert, index, outcome)
                return
            logger.warning("webhook %s: attempt %d: %s", mask_url(url), attempt, error)
            if not retry or attempt == self._attempts:
                break
            await self._report(
                alert, index, {"state": "retrying", "attempts": attempt, "error": error}
            )
            await asyncio.sleep(self._backoff * 2 ** (attempt - 1))
        self.failed += 1
        await self._report(alert, index, {"state": "failed", "attempts": attempt, "error": error})

    async def _attempt(self, url: str, body: bytes) -> tuple[str | None, bool]:
        """One POST: None when delivered, else the error and whether it is worth a retry.
        Goes to each checked address of the host in turn until one accepts the connection."""
        assert self._client is not None
        try:
            addresses = await self.policy.resolve(url)
        except TargetRefused as exc:
            return str(exc), exc.retryable
        except ValueError as exc:  # a URL saved before URLs were checked in full
            return str(exc), False
        error = ""
        for address in addresses:
            target, headers, extensions = pinned(url, address)
            headers |= {"Content-Type": "application/json", "User-Agent": "runwatch-alerts"}
            try:
                response = await self._client.post(
                    target, content=body, headers=headers, extensions=extensions
                )
            except httpx.ConnectError as exc:
                error = f"{type(exc).__name__} (refused)"
                continue
            except httpx.HTTPError as exc:
                return f"{type(exc).__name__} (no answer within {self._timeout:g} s)", True
            status = response.status_code
            if status < 300:
                return None, False
            return f"HTTP {status}", status >= 500 or status in _RETRYABLE
        return error, True

    async def _report(self, alert: Alert, index: int, outcome: dict[str, Any]) -> None:
        try:
            updated = await self._store.set_alert_action(alert.id, index, outcome)
        except StoreError as exc:  # store busy: the delivery happened all the same
            logger.warning("could not record webhook outcome of alert %d: %s", alert.id, exc)
            return
        if updated is not None:
            self._on_update(updated)
