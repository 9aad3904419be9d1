"""Pages of runs on every backend: a query, a sort on any field (runs without the value last,
either way), keyset pages that stay put while runs are created, and the total."""

from __future__ import annotations

from typing import Any

from runwatch.protocol import RunCreate
from runwatch.runs_query import parse, parse_sort
from runwatch.store.base import RunInfo, RunsQuery, Store
from tests.store.aio import run
from tests.store.conftest import StoreMaker

# lr: numbers, a string, absent; name sorts by code point ("B" < "a").
CONFIGS: list[dict[str, Any]] = [
    {"lr": 0.1, "opt": "adam"},
    {"lr": 0.001, "opt": "sgd"},
    {"lr": "auto", "opt": "adam"},
    {"opt": "adam"},
    {"lr": 0.001, "opt": "adam"},
    {"lr": 1, "opt": "sgd"},
    {"lr": 0.5},
]
NAMES = ["b", "B", "a", "c", "A", "d", "e"]


def expected(runs: list[RunInfo], key: str, descending: bool) -> list[str]:
    """Numbers first, then strings, then the rest (by id), each way; ties by id."""

    def rank(r: RunInfo) -> tuple[int, Any]:
        v = r.config.get(key)
        if isinstance(v, int | float) and not isinstance(v, bool):
            return 0, float(v)
        return (1, v) if isinstance(v, str) else (2, "")

    out: list[str] = []
    for group in (0, 1, 2):
        members = [r for r in runs if rank(r)[0] == group]
        members.sort(key=lambda r: (rank(r)[1], r.id), reverse=descending)
        out += [r.id for r in members]
    return out


async def pages(store: Store, query: RunsQuery) -> tuple[list[list[str]], list[int]]:
    ids: list[list[str]] = []
    totals: list[int] = []
    while True:
        page = await store.query_runs(query)
        ids.append([r.id for r in page.runs])
        totals.append(page.total)
        if page.after is None:
            return ids, totals
        query = RunsQuery(**{**_fields(query), "after": page.after})


def _fields(query: RunsQuery) -> dict[str, Any]:
    return {f: getattr(query, f) for f in query.__struct_fields__}


def test_pages_follow_the_sort_with_missing_values_last(make_store: StoreMaker) -> None:
    async def work() -> tuple[list[RunInfo], dict[str, Any]]:
        store = make_store()
        await store.open()
        try:
            made = [
                await store.create_run(RunCreate(project="p", name=n, config=c))
                for n, c in zip(NAMES, CONFIGS, strict=True)
            ]
            await store.create_run(RunCreate(project="other", config={"lr": 0.2}))
            got: dict[str, Any] = {}
            for text in ("config.lr", "-config.lr", "name", "-name", "-created"):
                sort, descending = parse_sort(text)
                got[text] = await pages(
                    store, RunsQuery(project="p", sort=sort, descending=descending, limit=2)
                )
            where = parse('config.opt == "adam" and config.lr < 1')
            got["where"] = await pages(
                store, RunsQuery(where=where, sort=parse_sort("config.lr")[0], descending=False)
            )
            return made, got
        finally:
            await store.close()

    made, got = run(work())
    for text, descending in (("config.lr", False), ("-config.lr", True)):
        ids, totals = got[text]
        assert [i for page in ids for i in page] == expected(made, "lr", descending)
        assert [len(p) for p in ids] == [2, 2, 2, 1] and set(totals) == {7}
    by_name = sorted(made, key=lambda r: (r.name, r.id))
    assert [i for p in got["name"][0] for i in p] == [r.id for r in by_name]
    assert [i for p in got["-name"][0] for i in p] == [r.id for r in reversed(by_name)]
    newest = sorted(made, key=lambda r: (r.created_at, r.id), reverse=True)
    assert [i for p in got["-created"][0] for i in p] == [r.id for r in newest]
    # lr < 1 and adam: 0.001 (A) then 0.1 (b); "auto" is no number, the absent one is false.
    assert got["where"] == ([[made[4].id, made[0].id]], [2])


def test_a_page_stays_put_while_runs_are_created(make_store: StoreMaker) -> None:
    async def work() -> tuple[list[str], list[str], list[str], int]:
        store = make_store()
        await store.open()
        try:
            old = [(await store.create_run(RunCreate(project="p"))).id for _ in range(5)]
            first = await store.query_runs(RunsQuery(project="p", limit=3))
            new = [(await store.create_run(RunCreate(project="p"))).id for _ in range(2)]
            rest = await store.query_runs(RunsQuery(project="p", limit=3, after=first.after))
            assert rest.after is None
            return old, [r.id for r in first.runs + rest.runs], new, rest.total
        finally:
            await store.close()

    old, seen, new, total = run(work())
    assert seen == list(reversed(old)) and total == 7 and not set(new) & set(seen)


def test_a_cursor_past_the_last_match_gives_no_runs_and_the_total(
    make_store: StoreMaker,
) -> None:
    async def work() -> tuple[list[str], int, Any, float | None, float]:
        store = make_store()
        await store.open()
        try:
            made = [
                await store.create_run(RunCreate(project="p", config={"lr": lr}))
                for lr in (0.1, 0.2, 0.3)
            ]
            await store.create_run(RunCreate(project="q", config={"lr": 0.4}))
            sort, _ = parse_sort("config.lr")
            # After the largest lr (and any id): what a cursor sees once the runs it
            # was given before have changed their lr or gone.
            past = await store.query_runs(
                RunsQuery(project="p", sort=sort, descending=False, after=(0, 0.3, None, "\uffff"))
            )
            newest = max(r.created_at for r in made)
            return [r.id for r in past.runs], past.total, past.after, past.newest, newest
        finally:
            await store.close()

    ids, total, after, newest, expected_newest = run(work())
    assert (ids, total, after) == ([], 3, None) and newest == expected_newest


def test_groups_count_runs_and_summarise_numbers(make_store: StoreMaker) -> None:
    async def work() -> list[Any]:
        store = make_store()
        await store.open()
        try:
            for n, c in zip(NAMES, CONFIGS, strict=True):
                await store.create_run(RunCreate(project="p", name=n, config=c))
            await store.create_run(RunCreate(project="other", config={"opt": "adam"}))
            by = parse_sort("config.opt")[0]
            values = [parse_sort("config.lr")[0], parse_sort('config["no such"]')[0]]
            return await store.group_runs(RunsQuery(project="p"), by, values)
        finally:
            await store.close()

    groups = run(work())
    assert [(g.value, g.runs) for g in groups] == [("adam", 4), ("sgd", 2), (None, 1)]
    adam = groups[0].fields["config.lr"]
    assert (adam.count, adam.min, adam.max) == (2, 0.001, 0.1)
    assert abs(adam.mean - 0.0505) < 1e-12 and abs(adam.std - 0.0495) < 1e-9
    assert groups[2].fields["config.lr"].mean == 0.5
    missing = groups[1].fields['config["no such"]']
    assert (missing.count, missing.mean, missing.std) == (0, None, None)


def test_each_metrics_finite_extremes_are_kept_and_queried(make_store: StoreMaker) -> None:
    from runwatch.protocol import Batch, PointRow
    from runwatch.store.prepare import prepare_batch

    async def work() -> tuple[RunInfo | None, list[str], list[str]]:
        store = make_store()
        await store.open()
        try:
            a = await store.create_run(RunCreate(project="p", name="a"))
            b = await store.create_run(RunCreate(project="p", name="b"))
            first = [PointRow(0, 1.0, {"x": "nan", "y": "inf"}), PointRow(1, 2.0, {"x": 3.0})]
            second = [PointRow(2, 3.0, {"x": -2.5}), PointRow(3, 4.0, {"x": "-inf"})]
            await store.ingest(a.id, prepare_batch(Batch("p", 1, points=first)))
            await store.ingest(a.id, prepare_batch(Batch("p", 2, points=second)))
            await store.ingest(
                b.id, prepare_batch(Batch("p", 1, points=[PointRow(0, 1.0, {"x": 9.0})]))
            )
            found = []
            for q in ("summary.x.max > 5", "summary.x.min < 0 and summary.y.max == null"):
                page = await store.query_runs(RunsQuery(where=parse(q)))
                found.append(sorted(r.name for r in page.runs))
            return await store.get_run(a.id), *found
        finally:
            await store.close()

    info, big, negative = run(work())
    assert info is not None and info.extremes == {"x": {"min": -2.5, "max": 3.0}}
    assert info.summary["x"] == "-inf"  # the last value, as logged
    assert (big, negative) == (["b"], ["a"])  # y was never finite: it has no extremes
