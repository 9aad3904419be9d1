"""The aggregate pyramid: per series and axis, aligned blocks of x with min/max/sum/count/last.

Level k groups x into blocks ``[b * W_k, (b + 1) * W_k)`` with ``W_k = BASE * FACTOR**k``,
on two axes: step (widths 256, 2048, 16384, …) and wall time (1 s, 8 s, 64 s, …). Aggregates
merge exactly (min of mins, sum of sums, …), so blocks are updated incrementally by every batch,
late and out-of-order ones included, and a range query reads at most a few thousand block rows
however long the series is. Backend-neutral: backends store :class:`Block` rows and merge them
with an upsert; this module computes them and turns them into buckets.

The step axis aggregates one point a step, the one ingested last, as raw reads by step do
(:func:`runwatch.store.chunks.last_per_step`): a batch that logs a step again (a run resumed
from a checkpoint) has the blocks it touches recomputed and replaced rather than merged
(:func:`runwatch.store.sql.points.relogged_blocks`; where retention dropped the raw points
they would be recomputed from, its points are merged). The time axis aggregates every point:
both attempts happened.

Non-finite values: ``n`` counts every point; ``nf`` (finite count), ``min``, ``max`` and ``sum``
cover finite values only, so NaN and ±inf show as gaps but are never lost from the count.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from typing import Literal

import msgspec

from runwatch.protocol import encode_value
from runwatch.store.base import Series

FACTOR = 8
LEVELS = 8
AXES: dict[str, tuple[int, float]] = {"step": (0, 256.0), "time": (1, 1.0)}  # id, level-0 width


def width(axis: Literal["step", "time"], level: int) -> float:
    return float(AXES[axis][1] * FACTOR**level)


class Block(msgspec.Struct, array_like=True):
    """One aligned block's aggregates; ``last_x``/``last`` is the point with the greatest x
    (ties: the one that arrived last)."""

    level: int
    block: int
    n: int
    nf: int
    min: float
    max: float
    sum: float
    first_x: float
    last_x: float
    last: float

    def merge(self, other: Block) -> None:
        """Fold ``other`` (which arrived later) into this block."""
        self.n += other.n
        self.nf += other.nf
        self.min = min(self.min, other.min)
        self.max = max(self.max, other.max)
        self.sum += other.sum
        self.first_x = min(self.first_x, other.first_x)
        if other.last_x >= self.last_x:
            self.last_x, self.last = other.last_x, other.last


def _aggregate(level: int, block: int, xs: list[float], vs: list[float]) -> Block:
    """Aggregate one block's points (x-sorted, arrival order kept for ties)."""
    total = sum(vs)
    if -math.inf < total < math.inf:  # every value finite: C-speed builtins do the work
        lo, hi, nf, s = min(vs), max(vs), len(vs), total
    else:
        finite = [v for v in vs if -math.inf < v < math.inf]
        nf = len(finite)
        if finite:
            lo, hi, s = min(finite), max(finite), sum(finite)
        else:
            lo, hi, s = math.inf, -math.inf, 0.0
    return Block(level, block, len(vs), nf, lo, hi, s, xs[0], xs[-1], vs[-1])


def build_blocks(axis: Literal["step", "time"], xs: list[float], vs: list[float]) -> list[Block]:
    """Every level's blocks for one batch of one series' points (any order)."""
    if not xs:
        return []
    if xs != sorted(xs):  # late or out-of-order points (the check runs in C)
        order = sorted(range(len(xs)), key=xs.__getitem__)
        xs = [xs[i] for i in order]
        vs = [vs[i] for i in order]
    blocks = blocks_of(xs, vs, width(axis, 0))
    level_blocks = blocks
    for level in range(1, LEVELS):  # coarser levels: merge the finer level's blocks
        merged: dict[int, Block] = {}
        for child in level_blocks:
            b = child.block // FACTOR
            parent = merged.get(b)
            if parent is None:
                merged[b] = msgspec.structs.replace(child, level=level, block=b)
            else:
                parent.merge(child)
        level_blocks = list(merged.values())
        blocks.extend(level_blocks)
    return blocks


def choose_level(
    axis: Literal["step", "time"], lo: float, hi: float, max_points: int
) -> int | None:
    """The coarsest level whose blocks are no wider than a bucket; None when raw is finer."""
    wanted = (hi - lo) / max(max_points - 2, 1)
    level = None
    for k in range(LEVELS):
        if width(axis, k) <= wanted:
            level = k
    return level


def bucket_width(
    axis: Literal["step", "time"], level: int | None, lo: float, hi: float, max_points: int
) -> float:
    """The width of aligned buckets (``[b * w, (b + 1) * w)``) that cover [lo, hi] in at most
    ``max_points`` buckets: a multiple of the level's block width, or of 1 step when raw."""
    wanted = (hi - lo) / max(max_points - 2, 1)
    unit = width(axis, level) if level is not None else (1.0 if axis == "step" else 0.0)
    if unit == 0.0:
        return wanted or 1.0
    return unit * max(1, math.ceil(wanted / unit))


def buckets_from_blocks(blocks: list[Block], bucket: float) -> Series:
    """Merge x-sorted blocks (edge blocks already trimmed to the range) into aligned buckets."""
    merged: dict[int, Block] = {}
    for blk in blocks:
        b = math.floor(blk.first_x / bucket)
        current = merged.get(b)
        if current is None:
            merged[b] = msgspec.structs.replace(blk)
        else:
            current.merge(blk)
    rows = [merged[b] for b in sorted(merged)]
    return Series(
        mode="buckets",
        width=bucket,
        x=[r.first_x for r in rows],
        min=[r.min if r.nf else "nan" for r in rows],
        max=[r.max if r.nf else "nan" for r in rows],
        mean=[r.sum / r.nf if r.nf else "nan" for r in rows],
        count=[r.n for r in rows],
        last=[encode_value(r.last) for r in rows],
        finite=[r.nf for r in rows],
        last_x=[r.last_x for r in rows],
    )


def blocks_of(xs: list[float], vs: list[float], w: float, level: int = 0) -> list[Block]:
    """Aggregates of x-sorted points per aligned block of width ``w`` (slices found by bisection,
    so the per-point work runs in C)."""
    out: list[Block] = []
    start = 0
    while start < len(xs):
        b = math.floor(xs[start] / w)
        end = bisect_left(xs, (b + 1) * w, start)
        while (end < len(xs) and math.floor(xs[end] / w) == b) or end == start:
            end += 1  # float rounding put the boundary on this block's own points
        out.append(_aggregate(level, b, xs[start:end], vs[start:end]))
        start = end
    return out
