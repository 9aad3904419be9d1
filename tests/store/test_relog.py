"""A run resumed from a checkpoint logs steps again: on every backend, its buckets by step
aggregate one point a step, the one ingested last (as its raw points do), whichever way the
range is answered (pyramid blocks, raw edges, or buckets built from raw points); by time, where
both attempts happened, every point counts."""

from __future__ import annotations

import math
from typing import Any

from runwatch.protocol import Batch, PointRow, Retention, RunCreate
from runwatch.store.base import Series, Store
from runwatch.store.prepare import prepare_batch
from tests.store.aio import run
from tests.store.conftest import StoreMaker

N = 40_000  # steps 0..N-1: a whole-range query of a few buckets reads level-2 blocks


def batches() -> list[list[tuple[int, float]]]:
    """First attempt, then re-logs: in several batches, with the same step twice in a batch,
    across a level-1 block boundary, and new steps past the end twice in one batch."""
    out = [[(s, 1.0) for s in range(a, a + 5000)] for a in range(0, N, 5000)]
    out += [[(s, 3.0) for s in range(a, a + 250)] for a in range(1000, 2000, 250)]
    out.append(
        [(s, 5.0) for s in range(16_300, 16_500)] + [(s, 6.0) for s in range(16_380, 16_390)]
    )
    out.append([(s, 2.0) for s in range(N, N + 300)] + [(s, 4.0) for s in range(N, N + 300)])
    out.append([(7, 9.0), (7, 8.0)])  # one point again, twice, inside an existing block
    return out


def ts(step: int) -> float:
    return 1000.0 + step


def query(make_store: StoreMaker, queries: list[tuple[Any, ...]], keep_steps: int = 0) -> Any:
    async def work() -> list[Series]:
        store: Store = make_store()
        await store.open()
        try:
            if keep_steps:
                await store.set_retention("p", Retention(raw_keep_steps=keep_steps))
            r = (await store.create_run(RunCreate(project="p"))).id
            for i, b in enumerate(batches()):
                rows = [PointRow(s, ts(s), {"v": v}) for s, v in b]
                await store.ingest(r, prepare_batch(Batch("t", i + 1, points=rows)))
                if keep_steps and i == 7:  # the first attempt's old raw points are dropped
                    await store.apply_retention(1e12)
            return [(await store.metrics(r, ["v"], *q)).series["v"] for q in queries]
        finally:
            await store.close()

    return run(work())


def expected(lo: float, hi: float, width: float) -> list[tuple[float, int, float, float, float]]:
    """(x, count, min, max, mean) of each bucket, by brute force over the last point a step."""
    last = {s: v for b in batches() for s, v in b}
    groups: dict[int, list[tuple[int, float]]] = {}
    for s in sorted(last):
        if lo <= s <= hi:
            groups.setdefault(math.floor(s / width), []).append((s, last[s]))
    return [
        (pts[0][0], len(pts), min(v for _, v in pts), max(v for _, v in pts),
         sum(v for _, v in pts) / len(pts))
        for _, pts in sorted(groups.items())
    ]  # fmt: skip


def got(s: Series) -> list[tuple[float, int, float, float, float]]:
    assert s.mode == "buckets" and s.count is not None and s.mean is not None
    return list(zip(s.x, s.count, s.min or [], s.max or [], s.mean, strict=True))


def test_buckets_by_step_count_one_point_a_step(make_store: StoreMaker) -> None:
    queries = [
        (None, None, 4, "step"),  # level-2 blocks
        (None, None, 12, "step"),  # level-1 blocks
        (None, None, 150, "step"),  # level-0 blocks
        (100, 30_000, 60, "step"),  # level-0 blocks and raw edges
        (0, 3000, 100, "step"),  # buckets built from raw points
    ]
    series = query(make_store, queries)
    for (lo, hi, _, _), s in zip(queries, series, strict=True):
        want = expected(lo or 0, N + 299 if hi is None else hi, s.width or 0)
        assert got(s) == want, (lo, hi, s.width)
    assert series[4].count and series[4].max and series[4].max[0] == 8.0  # step 7's last value


def test_buckets_by_time_count_both_attempts(make_store: StoreMaker) -> None:
    (s,) = query(make_store, [(None, None, 12, "time")])
    assert s.count and sum(s.count) == sum(len(b) for b in batches())


def test_relogged_steps_whose_raw_retention_dropped_still_count(make_store: StoreMaker) -> None:
    # Raw points up to step 8,191 (two whole chunks) are dropped before the re-logs: there, the
    # re-logged points add to the blocks (no raw point is left to tell what they replace);
    # above, they replace, as without retention.
    series = query(make_store, [(None, None, 12, "step"), (8192, N + 299, 12, "step")], 30_000)
    whole, above = (got(s) for s in series)
    assert sum(b[1] for b in whole) == N + 300 + 1000 + 1  # steps 1000..1999 and 7 twice
    assert above == expected(8192, N + 299, series[1].width or 0)


def test_a_step_logged_over_and_over_merges_past_the_bound(make_store: StoreMaker) -> None:
    """A series that logs one step again and again (``step=epoch`` on every iteration) would
    have each batch reread all its points: past RELOG_PER_STEP stored points a step, a block
    merges the batch as it comes (every point counts there) rather than recompute it."""
    from runwatch.store.sql.points import RELOG_PER_STEP

    steps, per_batch = 4096, 100  # two level-1 blocks: a query of 3 buckets reads them
    relogs = 2 * RELOG_PER_STEP * 256 // per_batch  # twice the bound of step 5's level-0 block
    batches = [[(s, 1.0) for s in range(steps)]]  # the first attempt: one point a step
    batches += [[(5, float(i))] * per_batch for i in range(relogs)]

    async def work() -> list[int]:
        store: Store = make_store()
        await store.open()
        try:
            r = (await store.create_run(RunCreate(project="p"))).id
            counts = []
            for i, b in enumerate(batches):
                rows = [PointRow(s, ts(s), {"v": v}) for s, v in b]
                await store.ingest(r, prepare_batch(Batch("t", i + 1, points=rows)))
                series = (await store.metrics(r, ["v"], None, None, 3, "step")).series["v"]
                counts.append(sum(bucket[1] for bucket in got(series)))
            return counts
        finally:
            await store.close()

    counts = run(work())
    # Well under the bound a batch is recomputed: one point a step. Past it, each batch's one
    # point a step (step 5) adds to the count.
    assert counts[: relogs // 4] == [steps] * (relogs // 4)
    assert counts[-1] > steps and counts[-1] - counts[-2] == 1
