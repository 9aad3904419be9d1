"""Raw points stored as chunks: per series, packed little-endian arrays of steps, times and values.

A chunk row holds up to :data:`CHUNK_MAX` points, so ingest writes a few rows per batch instead
of one row per point, and NaN and ±inf keep their IEEE-754 bits (SQLite would turn a bare NaN
into NULL). Backend-neutral: the SQL lives with each backend; packing, range selection and
bucketing live here.
"""

from __future__ import annotations

import sys
from array import array
from collections.abc import Iterable
from typing import Literal

import msgspec

from runwatch.protocol import encode_value
from runwatch.store import pyramid
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


RawPoint = tuple[int, float, float | str | None]  # step, wall time, wire value


def raw_page(
    chunks: Iterable[tuple[int, bytes, bytes, bytes]], limit: int
) -> tuple[list[RawPoint], int]:
    """A page of raw points from ``(id, steps, ts, vals)`` chunk rows in ingest order: whole
    chunks until at least ``limit`` points; returns them and the id of the last chunk read as
    the next cursor (0 when no chunk is left). ``chunks`` is read lazily, only as far as needed.
    """
    points: list[RawPoint] = []
    cursor = 0
    for chunk_id, steps, ts, vals in chunks:
        if len(points) >= limit:
            return points, cursor
        chunk = unpack_chunk(steps, ts, vals)
        points += zip(chunk.step, chunk.ts, map(encode_value, chunk.value), strict=True)
        cursor = chunk_id
    return points, 0


def select_range(
    chunks: list[Chunk], x: Literal["step", "time"], start: float, end: float
) -> tuple[list[float], list[float], list[int] | None]:
    """(x, value, step) of every point with start <= x <= end, ordered by x (stable for ties);
    the steps on the time axis only (on the step axis they are the x values). ``chunks``: in
    ingest order."""
    by_time = x == "time"
    xs: list[float] = []
    vs: list[float] = []
    steps: list[int] = []
    for chunk in chunks:
        cx = chunk.ts if by_time else chunk.step
        if cx and start <= min(cx) and max(cx) <= end:
            xs.extend(cx)
            vs.extend(chunk.value)
            if by_time:
                steps.extend(chunk.step)
        else:
            for i, xi in enumerate(cx):
                if start <= xi <= end:
                    xs.append(xi)
                    vs.append(chunk.value[i])
                    if by_time:
                        steps.append(chunk.step[i])
    if xs != sorted(xs):  # late or out-of-order points (the check runs in C)
        order = sorted(range(len(xs)), key=xs.__getitem__)
        xs = [xs[i] for i in order]
        vs = [vs[i] for i in order]
        if by_time:
            steps = [steps[i] for i in order]
    return xs, vs, steps if by_time else None


def last_per_step(xs: list[float], vs: list[float]) -> tuple[list[float], list[float]]:
    """Points by step (ties in ingest order) with one point a step, the one ingested last: a
    logged row replaces the one before it at its step, so a resumed run that goes on from its
    checkpoint draws one line, not a saw between two attempts. Charts by step, raw or
    bucketed, and the pyramid's step axis keep these points only; the time axis (both attempts
    happened) and the raw export keep every point."""
    if len(set(xs)) == len(xs):
        return xs, vs
    last = {x: i for i, x in enumerate(xs)}  # a key keeps its first place, and its last index
    return list(last), [vs[i] for i in last.values()]


def to_series(
    xs: list[float],
    vs: list[float],
    max_points: int,
    x: Literal["step", "time"],
    steps: list[int] | None = None,
) -> Series:
    """Raw points when there are at most ``max_points``, else at most that many aligned buckets;
    by step, of one point a step (:func:`last_per_step`). Raw points by time carry their
    ``steps``: a chart over time still reads a point's step."""
    if x == "step":
        xs, vs = last_per_step(xs, vs)
    if len(xs) <= max_points:
        return Series(mode="raw", x=xs, value=[encode_value(v) for v in vs], step=steps)
    w = pyramid.bucket_width(x, None, xs[0], xs[-1], max_points)
    return pyramid.buckets_from_blocks(pyramid.blocks_of(xs, vs, w), w)
