"""What archives read and write through the store, on every backend: raw points in ingest order,
paged by whole chunks, and an imported run's restored times."""

from __future__ import annotations

from typing import Any

import pytest

from runwatch.protocol import Batch, PointRow, RunCreate
from runwatch.store.base import Store
from runwatch.store.chunks import CHUNK_MAX
from runwatch.store.errors import RunNotFound
from runwatch.store.prepare import prepare_batch
from tests.store.aio import run
from tests.store.conftest import StoreMaker


async def with_store(make_store: StoreMaker, work: Any) -> Any:
    store: Store = make_store()
    await store.open()
    try:
        return await work(store)
    finally:
        await store.close()


async def log(store: Store, run_id: str, seq: int, steps: list[int], key: str = "x") -> None:
    rows = [PointRow(s, 1000.0 + s, {key: float(s)}) for s in steps]
    await store.ingest(run_id, prepare_batch(Batch("t", seq, points=rows)))


def test_raw_points_come_in_ingest_order_even_when_steps_go_back(make_store: StoreMaker) -> None:
    async def work(store: Store) -> Any:
        r = (await store.create_run(RunCreate(project="p"))).id
        await log(store, r, 1, list(range(10)))
        await log(store, r, 2, [3, 4])  # back in steps: a chunk of its own
        await log(store, r, 3, [10, 11])  # forward again, after the points that went back
        await log(store, r, 4, [7], key="nan")
        await store.ingest(
            r, prepare_batch(Batch("t", 5, points=[PointRow(8, 9.0, {"nan": "nan"})]))
        )
        return (
            await store.raw_points(r, "x", 0, 1000),
            await store.raw_points(r, "nan", 0, 1000),
            await store.raw_points(r, "nokey", 0, 1000),
        )

    (x, end), (nan, _), missing = run(with_store(make_store, work))
    assert [p[0] for p in x] == [*range(10), 3, 4, 10, 11] and end == 0
    assert x[0] == (0, 1000.0, 0.0)
    assert [p[2] for p in nan] == [7.0, "nan"]  # wire values
    assert missing == ([], 0)


def test_ingest_order_survives_a_restart_after_steps_went_back(make_store: StoreMaker) -> None:
    """The chunk a batch appends to is the series' newest, whoever wrote it before a restart:
    not an older one with greater steps (its points would then read before the ones that went
    back)."""
    batches = [list(range(10)), [5, 6, 7]], [[10, 11, 12]]

    def rows(seq: int, steps: list[int]) -> list[PointRow]:
        return [PointRow(s, 1000.0 + s, {"x": 100.0 * seq + s}) for s in steps]

    async def before(store: Store) -> str:
        r = (await store.create_run(RunCreate(project="p"))).id
        for seq, steps in enumerate(batches[0], 1):
            await store.ingest(r, prepare_batch(Batch("t", seq, points=rows(seq, steps))))
        return r

    async def after(store: Store) -> Any:
        await store.ingest(r, prepare_batch(Batch("t", 3, points=rows(3, batches[1][0]))))
        series = (await store.metrics(r, ["x"], None, None, 100, "step")).series["x"]
        return await store.raw_points(r, "x", 0, 1000), series

    r = run(with_store(make_store, before))
    (points, end), series = run(with_store(make_store, after))  # a new store on the same data
    logged = [(s, 1000.0 + s, 100.0 * seq + s) for seq, steps in
              enumerate([*batches[0], *batches[1]], 1) for s in steps]  # fmt: skip
    assert points == logged and end == 0
    last = {s: v for s, _, v in logged}  # a step logged again: the point ingested last stays
    assert list(zip(series.x, series.value or [], strict=True)) == sorted(last.items())


def test_raw_points_are_paged_by_whole_chunks(make_store: StoreMaker) -> None:
    total = 3 * CHUNK_MAX + 5

    async def work(store: Store) -> Any:
        r = (await store.create_run(RunCreate(project="p"))).id
        await log(store, r, 1, list(range(total)))
        pages, after = [], 0
        while True:
            points, after = await store.raw_points(r, "x", after, CHUNK_MAX + 1)
            pages.append(points)
            if after == 0:
                return pages

    pages = run(with_store(make_store, work))
    assert [len(p) for p in pages] == [2 * CHUNK_MAX, CHUNK_MAX + 5]
    assert [p[0] for page in pages for p in page] == list(range(total))


def test_restore_times_sets_them_and_an_unknown_run_is_404(make_store: StoreMaker) -> None:
    async def work(store: Store) -> Any:
        r = (await store.create_run(RunCreate(project="p"))).id
        restored = await store.restore_times(r, 1000.0, 1001.5)
        with pytest.raises(RunNotFound) as missing:
            await store.restore_times("nosuchrun", 1.0, None)
        return restored, await store.get_run(r), missing.value

    restored, again, missing = run(with_store(make_store, work))
    assert (restored.created_at, restored.started_at) == (1000.0, 1001.5)
    assert (again.created_at, again.started_at) == (1000.0, 1001.5)
    assert missing.code == "run_not_found" and missing.field == "run"
