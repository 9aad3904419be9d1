"""Per-caller ingest rate limit: a token bucket per token (or client address when open)."""

from __future__ import annotations

import math
import time
from collections import OrderedDict

# Callers remembered at most; the least recently seen is forgotten first (it starts full again).
CALLERS_CAP = 10_000


class RateLimiter:
    """``rate`` requests per second on average, bursts of up to ``max(1, rate)``."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.burst = max(1.0, rate)
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def retry_after(self, caller: str, now: float | None = None) -> int | None:
        """None when the caller may go ahead (and is charged one); else seconds to wait."""
        now = time.monotonic() if now is None else now
        tokens, last = self._buckets.pop(caller, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if tokens >= 1.0:
            self._remember(caller, tokens - 1.0, now)
            return None
        self._remember(caller, tokens, now)
        return max(1, math.ceil((1.0 - tokens) / self.rate))

    def _remember(self, caller: str, tokens: float, now: float) -> None:
        self._buckets[caller] = (tokens, now)
        if len(self._buckets) > CALLERS_CAP:
            self._buckets.popitem(last=False)
