"""Queries over runs a real store made (created, logged to, finished): the summary and config
JSON the stores write is what the query reads."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from runwatch.protocol import Batch, PointRow, RunCreate, RunStatus, StatusIn, Value
from runwatch.runs_query import matches, parse, parse_sort
from runwatch.store.base import RunsQuery, Store
from runwatch.store.factory import open_store
from runwatch.store.prepare import prepare_batch
from tests.pg import fresh_database
from tests.runs_query.backends import Runs, postgres_runs, sqlite_runs
from tests.store.aio import run


@pytest.fixture(params=["sqlite", "postgresql"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield str(tmp_path / "data")
    else:
        with fresh_database() as url:
            yield url


async def make_runs(store: Store) -> dict[str, str]:
    """Three runs of a sweep; their ids by name."""
    ids: dict[str, str] = {}
    trials: list[tuple[float, Value, RunStatus]] = [
        (1e-4, 0.2, "succeeded"),
        (1e-2, "nan", "failed"),  # NaN on the wire, as the SDK sends it
        (1e-4, 0.9, "succeeded"),
    ]
    for i, (lr, loss, state) in enumerate(trials):
        spec = RunCreate(
            project="sweeps",
            name=f"trial-{40 + i}",
            tags=["sweep"] if i < 2 else [],
            config={"optim": {"lr": lr, "name": "adam"}, "layers": [64, 64]},
        )
        created = await store.create_run(spec)
        points = [PointRow(1, 10.0, {"train/loss": 1.0}), PointRow(2, 11.0, {"train/loss": loss})]
        await store.ingest(created.id, prepare_batch(Batch("p", 1, points=points)))
        await store.ingest(created.id, prepare_batch(Batch("p", 2, status=StatusIn(state, 12.0))))
        ids[spec.name or ""] = created.id
    return ids


def test_queries_read_what_the_store_wrote(location: str) -> None:
    async def fill() -> tuple[dict[str, str], list[dict[str, object]]]:
        store = open_store(location)
        await store.open()
        try:
            ids = await make_runs(store)
            return ids, [
                {f: getattr(r, f) for f in r.__struct_fields__} for r in await store.list_runs()
            ]
        finally:
            await store.close()

    ids, infos = run(fill())
    opened = (
        postgres_runs(location)
        if location.startswith("postgresql://")
        else sqlite_runs(Path(location))
    )
    with opened as table:
        check(table, ids, infos)


def check(table: Runs, ids: dict[str, str], infos: list[dict[str, object]]) -> None:
    cases = {
        'config.optim.lr < 1e-3 and summary["train/loss"] < 0.5 and status == "succeeded"'
        ' and "sweep" in tags': {"trial-40"},
        'summary["train/loss"] == "nan"': {"trial-41"},  # a NaN's last value is its wire form
        'name ~ "^trial-4[12]$"': {"trial-41", "trial-42"},
        'config.optim.name == "adam" and not "sweep" in tags': {"trial-42"},
        'config.layers["0"] == 64 or config.layers == 64': set(),  # keys never index arrays
        'project == "sweeps" and created > "2020-01-01" and ended != null': set(ids),
        "started == null": set(),
    }
    for query, names in cases.items():
        node = parse(query)
        wanted = {ids[n] for n in names}
        assert table.select(node) == wanted, query
        assert {str(r["id"]) for r in infos if matches(node, r)} == wanted, query


def test_runs_sort_by_a_metrics_last_min_and_max_in_keyset_pages(location: str) -> None:
    async def sorted_names(store: Store, ids: dict[str, str], sort: str) -> list[str]:
        names = {v: k for k, v in ids.items()}
        field, descending = parse_sort(sort)
        out: list[str] = []
        after = None
        while True:  # pages of two: the cursor carries the extremes' sort key
            query = RunsQuery(sort=field, descending=descending, limit=2, after=after)
            page = await store.query_runs(query)
            out += [names[r.id] for r in page.runs]
            if page.after is None:
                return out
            after = page.after

    async def sorts() -> tuple[dict[str, str], dict[str, list[str]]]:
        store = open_store(location)
        await store.open()
        try:
            ids = await make_runs(store)
            wanted = ['summary["train/loss"].min', '-summary["train/loss"].min',
                      'summary["train/loss"].last', 'summary["train/loss"].max']  # fmt: skip
            return ids, {s: await sorted_names(store, ids, s) for s in wanted}
        finally:
            await store.close()

    ids, got = run(sorts())
    # Logged 1.0 then 0.2, NaN and 0.9: the min skips the NaN, the last value is its "nan".
    assert got['summary["train/loss"].min'] == ["trial-40", "trial-42", "trial-41"]
    assert got['-summary["train/loss"].min'] == ["trial-41", "trial-42", "trial-40"]
    assert got['summary["train/loss"].last'] == ["trial-40", "trial-42", "trial-41"]
    by_id = sorted(ids, key=lambda n: ids[n])  # every max is 1.0: ties by id
    assert got['summary["train/loss"].max'] == by_id
