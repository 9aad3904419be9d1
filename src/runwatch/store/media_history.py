"""How much of each media key's history is kept (backend-neutral rules; ``sql/media.py`` runs them).

Images (and heatmaps, label maps): the newest :data:`MEDIA_NEWEST` steps of a key, plus
log-spaced older ones: a step is a *log keeper* when it is the first one at least 1, 2, 4, 8, …
steps after the key's first step, or after its entity's birth when the key names an entity (the
rule of ``store.snapshots``), so a key keeps at most
``MEDIA_NEWEST`` + 64 images whatever its length, and its whole history keeps its shape.

Histograms feed a distribution chart over the whole run, so they are thinned evenly instead:
the newest :data:`HISTOGRAM_NEWEST` steps are all kept, and older ones only on a stride (steps a
multiple of ``stride`` past the key's first step). When a key holds more than
:data:`HISTOGRAM_CAP` steps the stride doubles and the older steps off it go.
"""

from __future__ import annotations

import sys
from array import array

from runwatch.store.snapshots import next_age_after

MEDIA_NEWEST = 32
HISTOGRAM_NEWEST = 256
HISTOGRAM_CAP = 4_096
# Percentiles (as TensorBoard's distributions draw them: ±1, 2, 3 sigma of a normal, and the
# median) computed for each histogram a chart asks for.
PERCENTILES = (0.0, 6.68, 15.87, 30.85, 50.0, 69.15, 84.13, 93.32, 100.0)


def log_keeper(first_step: int, next_age: int, step: int) -> tuple[bool, int]:
    """Whether ``step`` is a later log-spaced keeper of its key (its first step is always
    kept), and the key's next age after it."""
    if step - first_step >= next_age:
        return True, next_age_after(first_step, step, next_age)
    return False, next_age


def on_stride(first_step: int, stride: int, step: int) -> bool:
    """Whether a histogram step older than the newest ones is kept at this stride."""
    return (step - first_step) % stride == 0


def pack_floats(values: list[float]) -> bytes:
    """Little-endian float64s (the stored form of a histogram's edges)."""
    packed = array("d", values)
    if sys.byteorder == "big":
        packed.byteswap()
    return packed.tobytes()


def pack_ints(values: list[int]) -> bytes:
    """Little-endian int64s (the stored form of a histogram's counts)."""
    packed = array("q", values)
    if sys.byteorder == "big":
        packed.byteswap()
    return packed.tobytes()


def unpack_floats(data: bytes) -> list[float]:
    """The values of :func:`pack_floats`."""
    return _unpack("d", data)  # type: ignore[return-value]


def unpack_ints(data: bytes) -> list[int]:
    """The values of :func:`pack_ints`."""
    return _unpack("q", data)  # type: ignore[return-value]


def _unpack(kind: str, data: bytes) -> list[float] | list[int]:
    out = array(kind)
    out.frombytes(data)
    if sys.byteorder == "big":
        out.byteswap()
    return out.tolist()


def percentiles(edges: list[float], counts: list[int]) -> list[float | None]:
    """The values at :data:`PERCENTILES` of a histogram, interpolated linearly inside bins
    (None for an empty histogram)."""
    total = sum(counts)
    if total == 0:
        return [None] * len(PERCENTILES)
    out: list[float | None] = []
    i, below = 0, 0  # the bin the next percentile falls in, and the count before it
    for p in PERCENTILES:
        target = p / 100 * total
        while i < len(counts) - 1 and (below + counts[i] < target or counts[i] == 0):
            below += counts[i]
            i += 1
        inside = (target - below) / counts[i] if counts[i] else 0.0
        out.append(edges[i] + (edges[i + 1] - edges[i]) * min(max(inside, 0.0), 1.0))
    return out


def thin(steps: list[int], max_steps: int) -> list[int]:
    """At most ``max_steps`` indexes into ``steps``, evenly spread, first and last included."""
    n = len(steps)
    if n <= max_steps:
        return list(range(n))
    if max_steps == 1:
        return [n - 1]
    return sorted({round(i * (n - 1) / (max_steps - 1)) for i in range(max_steps)})
