"""Range queries whose buckets would be finer than the pyramid's finest blocks, on every backend:
past a few raw points per bucket asked, level-0 blocks answer, counting every point of the
range and nothing outside it."""

from __future__ import annotations

from typing import Any

from runwatch.protocol import Batch, PointRow, RunCreate
from runwatch.store.base import Store
from runwatch.store.prepare import prepare_batch
from tests.store.aio import run
from tests.store.conftest import StoreMaker


def query(make_store: StoreMaker, rows: list[PointRow], *args: Any) -> Any:
    async def work() -> Any:
        store: Store = make_store()
        await store.open()
        try:
            r = (await store.create_run(RunCreate(project="p"))).id
            await store.ingest(r, prepare_batch(Batch("t", 1, points=rows)))
            return (await store.metrics(r, ["v"], *args)).series["v"]
        finally:
            await store.close()

    return run(work())


def test_many_points_per_bucket_come_from_level_0_blocks(make_store: StoreMaker) -> None:
    rows = [PointRow(s, 1000.0 + s, {"v": float(s)}) for s in range(40_000)]
    s = query(make_store, rows, None, None, 200, "step")
    assert s.mode == "buckets" and s.width == 256 and len(s.x) <= 200
    assert sum(s.count) == 40_000 and s.x[0] == 0 and s.last_x[-1] == 39_999
    assert s.min[0] == 0.0 and s.max[0] == 255.0 and s.last[-1] == 39_999.0


def test_a_dense_range_inside_one_block_counts_only_its_points(make_store: StoreMaker) -> None:
    # 100,000 points a second on the time axis: 0.05 s hold 5,001, inside one 1-second block.
    rows = [PointRow(i, 1000.0 + i / 100_000, {"v": float(i)}) for i in range(20_000)]
    s = query(make_store, rows, 1000.05, 1000.1, 10, "time")
    inside = [i for i in range(20_000) if 1000.05 <= 1000.0 + i / 100_000 <= 1000.1]
    assert s.mode == "buckets" and len(s.x) <= 10
    assert sum(s.count) == len(inside) and s.min[0] == inside[0] and s.max[-1] == inside[-1]
