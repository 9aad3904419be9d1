"""The ``bus`` live message: tells a page its live view is degraded (the bus cannot reach its
broker, so updates are re-read from the store every second) and when that is over.

A connection starts not degraded; each socket's task asks :meth:`BusNotice.update` whenever it
wakes (a bus resync wakes every subscriber, during an outage every second and once after it),
and sends a message only when the answer changed. One reason string per socket: no backlog.
"""

from __future__ import annotations

import msgspec

from runwatch.bus.base import Bus
from runwatch.server.reorder import LiveItem


class BusNotice:
    """What one socket (or one feed, for all of its viewers) last said about the bus."""

    __slots__ = ("_bus", "told")

    def __init__(self, bus: Bus) -> None:
        self._bus = bus
        self.told: str | None = None  # a fresh socket shows plain "live"

    def update(self) -> bool:
        """Whether the bus's state differs from what was last told; if so, it is told now."""
        reason = self._bus.outage()
        if reason == self.told:
            return False
        self.told = reason
        return True

    def message(self, seq: int) -> LiveItem:
        """``{"seq", "type": "bus", "degraded": <reason> | null}``: ``seq`` is the last one the
        socket sent (a control message, like ``run.closed``: it repeats a seq)."""
        body = {"seq": seq, "type": "bus", "degraded": self.told}
        return (seq, msgspec.json.encode(body).decode())
