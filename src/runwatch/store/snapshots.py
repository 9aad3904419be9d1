"""Snapshot history retention: which versions of a key are worth keeping (backend-neutral).

A version is kept when its key first appears; then at log-spaced ages (1, 2, 4, 8, … steps after
the first, or after its entity's birth when the key names an entity); and between those
whenever it changed by more than ``epsilon`` since the last kept version (relative L2 change
for numbers, any change for other JSON). At most ``cap`` versions
are kept per key: past that, the oldest change-triggered version goes first (the log-spaced
skeleton stays, so the whole history keeps its shape).
"""

from __future__ import annotations

import math
from typing import Any

EPSILON = 0.05
CAP = 64


def numbers(value: Any) -> list[float] | None:
    """The value flattened to floats, or None when it is not purely numeric."""
    out: list[float] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, bool):
            return None
        if isinstance(item, int | float):
            out.append(float(item))
        elif isinstance(item, list):
            stack.extend(reversed(item))
        else:
            return None
    return out


def changed(previous: Any, value: Any, epsilon: float = EPSILON) -> bool:
    """Relative L2 change over ``epsilon`` for same-shaped numbers; inequality otherwise."""
    a, b = numbers(previous), numbers(value)
    if a is None or b is None or len(a) != len(b):
        return bool(previous != value)
    diff = math.sqrt(sum((x - y) ** 2 for x, y in zip(a, b, strict=True)))
    norm = math.sqrt(sum(x * x for x in a))
    return diff > epsilon * norm if norm > 0 else diff > 0


def reason_to_keep(
    first_step: int | None, next_age: int, previous: Any, step: int, value: Any, epsilon: float
) -> str | None:
    """Why this version is kept ("first", "age", "change"), or None to let it go."""
    if first_step is None:
        return "first"
    if step - first_step >= next_age:
        return "age"
    if changed(previous, value, epsilon):
        return "change"
    return None


def ages_start(birth: int | None, step: int) -> int:
    """The step a new key's log-spaced ages count from: its entity's birth when known and not
    after the key's first step, else that first step."""
    return birth if birth is not None and birth <= step else step


def next_age_after(first_step: int, step: int, next_age: int) -> int:
    """The next log-spaced age after keeping a version at ``step``."""
    while step - first_step >= next_age:
        next_age *= 2
    return next_age


def to_drop(versions: list[tuple[int, str]], cap: int = CAP) -> list[int]:
    """Versions (id, reason), oldest first, to delete so that at most ``cap`` remain."""
    excess = len(versions) - cap
    if excess <= 0:
        return []
    by_preference = [v for v, r in versions if r == "change"] + [
        v for v, r in versions[1:] if r == "age"
    ]
    return by_preference[:excess]
