"""Retry delays: exponential, capped, and jittered so that producers which lost the server
together do not come back in step. The jitter comes from a generator of the SDK's own: the
training program's global ``random`` state (seeded for a reproducible run) is never touched."""

from __future__ import annotations

import random

_rng = random.Random()


def backoff(base: float, cap: float, attempt: int) -> float:
    """The delay before retry ``attempt`` (from 0): ``base * 2**attempt`` up to ``cap``, times a
    factor drawn uniformly from [0.5, 1.5]."""
    return min(cap, base * 2.0**attempt) * _rng.uniform(0.5, 1.5)
