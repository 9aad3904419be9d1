"""The Bus protocol: fan live records out to every server replica subscribed to a channel."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from runwatch.store.base import Record

BusCallback = Callable[[list[Record]], None]
Unsubscribe = Callable[[], None]


def run_channel(run_id: str) -> str:
    """The channel that carries a run's live records, in seq order."""
    return f"run:{run_id}"


# Carries one record per changed run: seq 0, body the run id (UTF-8). Receivers re-read the run.
RUNS_CHANNEL = "runs"


class Bus(Protocol):
    """Publish/subscribe of live records. Callbacks run on the event loop, in publish order.

    A callback may also get an empty list, a *resync*: records may have been missed (a new
    subscription not yet active, a broker restart, a dropped publish queue); the subscriber
    catches up from the store. Records of one run published by different replicas may arrive
    out of seq order or with gaps; subscribers order them (see ``server.fanout``).
    """

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def publish(self, channel: str, records: list[Record]) -> None: ...

    def subscribe(self, channel: str, callback: BusCallback) -> Unsubscribe: ...

    async def sync(self) -> None:
        """Return once every subscription made and record published so far is live."""
        ...

    def health(self) -> dict[str, object]: ...

    def outage(self) -> str | None:
        """Why live records are late right now (its broker unreachable: every subscriber then
        gets a resync every second or so), in words fit for a page; None while they are not."""
        ...
