"""Unit tests of the run page widgets' pure functions, run in Chromium on the modules as served."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page

from tests.servers import ServerProcess

pytestmark = pytest.mark.e2e


def call(page: Page, module: str, function: str, *args: Any) -> Any:
    """Import /static/js/<module> in the page and call one exported function with ``args``."""
    return page.evaluate(
        "async ([path, name, args]) => (await import(path))[name](...args)",
        [f"/static/js/{module}", function, list(args)],
    )


@pytest.fixture(scope="module")
def static_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for the whole module: these tests only read static files."""
    proc = ServerProcess(tmp_path_factory.mktemp("widget-helpers") / "data").start()
    yield proc
    proc.stop()


@pytest.fixture
def blank(page: Page, static_server: ServerProcess) -> Iterator[Page]:
    page.goto(f"{static_server.url}/promoted")
    yield page
    assert page.console_errors == []


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (42, "42"),
        (-7, "-7"),
        (0, "0"),
        (0.5, "0.5000"),
        (1 / 3, "0.3333"),
        (-2.71828, "-2.7183"),
        (0.0001, "0.0001"),
        (0.00009876, "9.88e-5"),
        (-3e-9, "-3.00e-9"),
        ("text", "text"),
        (True, "true"),
        (None, "—"),
        ({"a": 1}, '{"a":1}'),
    ],
)
def test_format_cell(blank: Page, value: Any, text: str) -> None:
    assert call(blank, "format.js", "formatCell", value) == text


@pytest.mark.parametrize(
    ("key", "value", "text"),
    [
        ("sys/cpu_percent", 42.54, "42.5%"),
        ("sys/cpu_percent", 100, "100%"),
        ("sys/gpu1_util", 7, "7.0%"),
        ("sys/rss_mb", 87.34, "87.3 MB"),
        ("sys/rss_mb", 1234.4, "1,234 MB"),
        ("sys/records_per_s", 123.456, "123/s"),
        ("sys/records_per_s", 45_678, "45.7k/s"),
        ("sys/sdk_queue", 3, "3"),
        ("loss", 0.123456, "0.1235"),
        ("sys/cpu_percent", "nan", "NaN"),
    ],
)
def test_format_vital(blank: Page, key: str, value: Any, text: str) -> None:
    assert call(blank, "format.js", "formatVital", key, value) == text


@pytest.mark.parametrize(
    ("key", "label"),
    [
        ("sys/cpu_percent", "cpu"),
        ("sys/gpu0_mem_mb", "gpu0 mem"),
        ("sys/gpu0_util", "gpu0"),
        ("sys/records_per_s", "records"),
        ("sys/sdk_queue", "sdk queue"),
        ("train/loss", "train/loss"),
        ("sys/_mb", " mb"),
    ],
)
def test_vital_label(blank: Page, key: str, label: str) -> None:
    assert call(blank, "format.js", "vitalLabel", key) == label


def test_sort_rows_numbers_by_value_text_by_locale_and_missing_last(blank: Page) -> None:
    table = [
        {"k": 10, "s": "b"},
        {"k": 9, "s": "B"},
        {"s": "a"},
        {"k": "x", "s": None},
        {"k": 100, "s": "item 10"},
        {"k": -1, "s": "item 9"},
    ]
    desc = call(blank, "leaderboard.js", "sortRows", table, "k", "desc")
    assert [r.get("k") for r in desc] == ["x", 100, 10, 9, -1, None]
    asc = call(blank, "leaderboard.js", "sortRows", table, "k", "asc")
    assert [r.get("k") for r in asc] == [-1, 9, 10, 100, "x", None]
    by_text = call(blank, "leaderboard.js", "sortRows", table, "s", "asc")
    assert [r["s"] for r in by_text] == ["a", "b", "B", "item 9", "item 10", None]
    assert call(blank, "leaderboard.js", "columnsOf", [{"b": 1, "a": 2}, {"c": 3, "a": 1}]) == [
        "b",
        "a",
        "c",
    ]


def test_applying_point_sets_never_holds_more_than_the_cap(blank: Page) -> None:
    held = [{"i": i} for i in range(5)]
    msg = {"points": [{"i": 100 + i} for i in range(4)], "replace": False, "cap": 6}
    after = call(blank, "scatter.js", "applyPointsSet", held, msg)
    assert after["cap"] == 6
    assert [p["i"] for p in after["points"]] == [3, 4, 100, 101, 102, 103]
    flood = {"points": [{"i": i} for i in range(50)], "replace": False, "cap": 10}
    assert len(call(blank, "scatter.js", "applyPointsSet", held, flood)["points"]) == 10
    replaced = call(
        blank, "scatter.js", "applyPointsSet", held, {"points": [{"i": 9}], "replace": True}
    )
    assert replaced == {"points": [{"i": 9}], "cap": 4000}
    greedy = {"points": [], "replace": False, "cap": 10**9}
    assert call(blank, "scatter.js", "applyPointsSet", [], greedy)["cap"] == 50_000
    assert call(blank, "scatter.js", "groupOf", {"cluster": 3, "label": "x"}) == "3"
    assert call(blank, "scatter.js", "groupOf", {"label": "x"}) == "x"
    assert call(blank, "scatter.js", "groupOf", {"x": 1}) is None


@pytest.mark.parametrize(
    ("lo", "hi", "ticks"),
    [
        (-3.581, 11.48, [0, 5, 10]),
        (0, 1, [0, 0.2, 0.4, 0.6, 0.8, 1]),
        (-0.05, 0.05, [-0.04, -0.02, 0, 0.02, 0.04]),
        (3, 3, [3]),
    ],
)
def test_nice_ticks(blank: Page, lo: float, hi: float, ticks: list[float]) -> None:
    assert call(blank, "scatter.js", "niceTicks", lo, hi, 5) == ticks


@pytest.mark.parametrize(
    ("value", "shape"),
    [
        ([1, 2, 3], "line"),
        ([1, None, 3], "line"),
        ([[1, 2], [3, 4]], "heatmap"),
        ([[1, 2], [3]], "heatmap"),
        ([], "tree"),
        ([None, None], "tree"),
        ([1, "a"], "tree"),
        ([[1], "a"], "tree"),
        ({"a": [1, 2]}, "tree"),
        ("text", "tree"),
        ([True, False], "tree"),
    ],
)
def test_snapshot_shape(blank: Page, value: Any, shape: str) -> None:
    assert call(blank, "snapshot-view.js", "shapeOf", value) == shape


def test_json_tree_draws_at_most_its_node_budget(blank: Page) -> None:
    drawn = blank.evaluate(
        """async () => {
            const m = await import('/static/js/json-tree.js');
            const big = Array.from({length: 5000}, (_, i) => ({i}));
            const tree = m.render(big);
            return [Number(tree.dataset.nodes), m.MAX_NODES, tree.querySelectorAll('.jt-more').length];
        }"""
    )
    nodes, budget, more = drawn
    assert nodes <= budget
    assert more >= 1  # each container cut short says so
