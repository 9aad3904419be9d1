"""Raw points stored as chunks: per series, packed little-endian arrays of steps, times and values.

A chunk row holds up to :data:`CHUNK_MAX` points, so ingest writes a few rows per batch instead
of one row per point, and NaN and ±inf keep their IEEE-754 bits (SQLite would turn a bare NaN
into NULL). Backend-neutral: the SQL lives with each backend; packing, range selection and
bucketing live here.
"""

from __future__ import annotations

import math
import sys
from array import array
from collections.abc import Iterable
from itertools import pairwise
from typing import Literal

import msgspec

from runwatch.protocol import encode_value
from runwatch.store.base import Series

CHUNK_MAX = 4096  # points per chunk; an open chunk is appended to until it reaches this
_SWAP = sys.byteorder != "little"


class Chunk(msgspec.Struct):
    """Unpacked points of one chunk, in arrival order."""

    step: array  # type: ignore[type-arg]
    ts: array  # type: ignore[type-arg]
    value: array  # type: ignore[type-arg]


def pack(typecode: str, values: Iterable[float] | Iterable[int]) -> bytes:
    data = array(typecode, values)
    if _SWAP:
        data.byteswap()
    return data.tobytes()


def unpack(typecode: str, blob: bytes) -> array:  # type: ignore[type-arg]
    data = array(typecode)
    data.frombytes(blob)
    if _SWAP:
        data.byteswap()
    return data


def unpack_chunk(steps: bytes, ts: bytes, values: bytes) -> Chunk:
    return Chunk(unpack("q", steps), unpack("d", ts), unpack("d", values))


def select_range(
    chunks: list[Chunk], x: Literal["step", "time"], start: float, end: float
) -> tuple[list[float], list[float]]:
    """(x, value) of every point with start <= x <= end, ordered by x (stable for ties)."""
    xs: list[float] = []
    vs: list[float] = []
    for chunk in chunks:
        cx = chunk.step if x == "step" else chunk.ts
        if cx and start <= min(cx) and max(cx) <= end:
            xs.extend(cx)
            vs.extend(chunk.value)
        else:
            for xi, vi in zip(cx, chunk.value, strict=True):
                if start <= xi <= end:
                    xs.append(xi)
                    vs.append(vi)
    if any(b < a for a, b in pairwise(xs)):  # late or out-of-order points
        order = sorted(range(len(xs)), key=xs.__getitem__)
        xs = [xs[i] for i in order]
        vs = [vs[i] for i in order]
    return xs, vs


def to_series(xs: list[float], vs: list[float], max_points: int, x: str) -> Series:
    """Raw points when there are at most ``max_points``, else ``max_points`` buckets."""
    if len(xs) <= max_points:
        return Series(mode="raw", x=xs, value=[encode_value(v) for v in vs])
    return bucketize(xs, vs, max_points, integer_x=x == "step")


def bucketize(xs: list[float], vs: list[float], max_points: int, integer_x: bool) -> Series:
    """Equal-width buckets over [xs[0], xs[-1]]; min/max/mean over finite values, count of all.

    ``xs`` must be sorted. Empty buckets are left out, so a sparse series yields fewer.
    """
    lo, hi = xs[0], xs[-1]
    width = (hi - lo + 1) / max_points if integer_x else (hi - lo) / max_points or 1.0
    if integer_x:
        width = math.ceil(width)
    out_x: list[float] = []
    mins: list[float] = []
    maxs: list[float] = []
    sums: list[float] = []
    finite: list[int] = []
    counts: list[int] = []
    lasts: list[float] = []
    current = -1
    for xi, v in zip(xs, vs, strict=True):
        b = min(int((xi - lo) / width), max_points - 1)
        if b != current:
            current = b
            out_x.append(xi)
            mins.append(math.inf)
            maxs.append(-math.inf)
            sums.append(0.0)
            finite.append(0)
            counts.append(0)
            lasts.append(v)
        counts[-1] += 1
        lasts[-1] = v
        if -math.inf < v < math.inf:
            finite[-1] += 1
            sums[-1] += v
            if v < mins[-1]:
                mins[-1] = v
            if v > maxs[-1]:
                maxs[-1] = v
    nan = "nan"
    return Series(
        mode="buckets",
        x=out_x,
        min=[m if f else nan for m, f in zip(mins, finite, strict=True)],
        max=[m if f else nan for m, f in zip(maxs, finite, strict=True)],
        mean=[s / f if f else nan for s, f in zip(sums, finite, strict=True)],
        count=counts,
        last=[encode_value(v) for v in lasts],
    )
