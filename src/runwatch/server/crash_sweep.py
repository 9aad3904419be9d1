"""The crash sweep, counting only the time this server could hear producers.

A run is declared crashed once its producer has been silent for its timeout (3 heartbeat
intervals) *while a server listened*. This server listens from the sweeper's first round after
it starts, and again after any stretch in which the sweep did not complete (the process hung, or
the store failed): producers could not be heard meanwhile, and theirs retry with a backoff of up
to 15 s, so the silence is counted afresh from then. The bound is this process's own: a replica
that restarts delays only its own sweeps, never those of the replicas that stayed up.
"""

from __future__ import annotations

from runwatch.store.base import Store

# A sweep later than this many seconds past its interval means this server was deaf meanwhile
# (an event loop stalled this long could not have taken a heartbeat either).
DEAF_AFTER = 5.0


class CrashSweep:
    """``sweep(now)`` every ``interval`` s: ``store.sweep_crashed`` from when this server has
    been listening without a break."""

    def __init__(self, store: Store, interval: float) -> None:
        self._store = store
        self._gap = interval + DEAF_AFTER
        self._listening_since: float | None = None
        self._last_done: float | None = None

    async def sweep(self, now: float) -> list[str]:
        """Mark the runs silent since both their last heartbeat and the start of this server's
        current listening stretch crashed; return their ids."""
        if self._last_done is None or now - self._last_done > self._gap:
            self._listening_since = now
        assert self._listening_since is not None
        crashed = await self._store.sweep_crashed(now, self._listening_since)
        self._last_done = now  # only a completed sweep: a failing store hears no producer
        return crashed
