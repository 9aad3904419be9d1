"""The in-process bus: the default for a single server."""

from __future__ import annotations

import logging

from runwatch.bus.base import BusCallback, Unsubscribe
from runwatch.store.base import Record

logger = logging.getLogger("runwatch.bus")


class MemoryBus:
    """Calls each subscriber's callback synchronously, in publish order; holds no backlog."""

    def __init__(self) -> None:
        self._subscribers: dict[str, list[BusCallback]] = {}
        self.published = 0

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        self._subscribers.clear()

    def publish(self, channel: str, records: list[Record]) -> None:
        self.published += len(records)
        for callback in list(self._subscribers.get(channel, ())):
            try:
                callback(records)
            except Exception:  # one broken subscriber must not stop the others (or the commit)
                logger.exception("bus subscriber failed on %s", channel)

    def subscribe(self, channel: str, callback: BusCallback) -> Unsubscribe:
        self._subscribers.setdefault(channel, []).append(callback)

        def unsubscribe() -> None:
            callbacks = self._subscribers.get(channel, [])
            # By identity: two equal callbacks (say, dataclass instances) are two subscribers.
            for i, subscribed in enumerate(callbacks):
                if subscribed is callback:
                    del callbacks[i]
                    break
            if not callbacks:
                self._subscribers.pop(channel, None)

        return unsubscribe

    async def sync(self) -> None:
        return None  # subscriptions and deliveries are immediate

    def outage(self) -> str | None:
        return None  # nothing between publisher and subscribers can fail

    def health(self) -> dict[str, object]:
        return {
            "backend": "memory",
            "channels": len(self._subscribers),
            "published": self.published,
        }
