"""Unit tests of the dashboard's pure functions, run in Chromium on the modules as served."""

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
    proc = ServerProcess(tmp_path_factory.mktemp("web-modules") / "data").start()
    yield proc
    proc.stop()


@pytest.fixture
def blank(page: Page, static_server: ServerProcess) -> Iterator[Page]:
    """A page on the server's origin (the CSP allows importing our own modules only)."""
    page.goto(f"{static_server.url}/")
    yield page
    assert page.console_errors == []


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        (0.5, "0.5"),
        (1 / 3, "0.3333"),
        (42, "42"),
        (0.1 + 0.2, "0.3"),
        (0.000123, "1.23e-4"),
        (12_345_678.9, "1.23e7"),
        ("nan", "NaN"),
        (None, "NaN"),
        ("inf", "+∞"),
        ("-inf", "\u2212∞"),  # a real minus sign
    ],
)
def test_format_value(blank: Page, raw: Any, text: str) -> None:
    assert call(blank, "format.js", "formatValue", raw) == text


def test_plot_values_turn_non_finite_into_gaps(blank: Page) -> None:
    values = [1.5, "nan", "inf", "-inf", None, 0]
    got = [call(blank, "format.js", "toPlotValue", v) for v in values]
    assert got == [1.5, None, None, None, None, 0]


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (59.9, "59s"), (61, "1m 01s"), (3725, "1h 02m"), (90_000, "1d 01h"), (None, "—")],
)
def test_format_duration(blank: Page, seconds: float | None, text: str) -> None:
    assert call(blank, "format.js", "formatDuration", seconds) == text


@pytest.mark.parametrize(
    ("ago", "text"), [(0.2, "just now"), (3.5, "3 s ago"), (300, "5 min ago"), (7200, "2 h ago")]
)
def test_format_ago(blank: Page, ago: float, text: str) -> None:
    assert call(blank, "format.js", "formatAgo", 1000, 1000 + ago) == text


def test_flatten_config_sorts_and_joins_nested_keys(blank: Page) -> None:
    config = {"opt": {"name": "adam", "betas": [0.9, 0.99]}, "lr": 0.001, "empty": {}, "s": "<b>"}
    assert call(blank, "format.js", "flattenConfig", config) == [
        ["empty", "{}"],
        ["lr", "0.001"],
        ["opt.betas", "[0.9,0.99]"],
        ["opt.name", "adam"],
        ["s", "<b>"],
    ]


def test_describe_payload_skips_nulls_and_truncates(blank: Page) -> None:
    payload = {"a": 1, "b": None, "c": "x y", "d": {"e": 2}}
    assert call(blank, "format.js", "describePayload", payload) == 'a=1  c=x y  d={"e":2}'
    long = call(blank, "format.js", "describePayload", {"k": "v" * 500}, 50)
    assert len(long) == 50
    assert long.endswith("…")


BUCKETS = {
    "mode": "buckets",
    "width": 10,
    "x": [0, 10, 20],
    "min": [1, 2, "nan"],
    "max": [3, 4, "nan"],
    "mean": [2, 3, "nan"],
    "count": [10, 10, 2],
    "last": [2, 3, "nan"],
}


def fold(page: Page, series: dict[str, Any], points: list[list[Any]]) -> Any:
    """columnsFromSeries, then foldPoint for each [x, value], in the page."""
    return page.evaluate(
        """async ([series, points]) => {
            const m = await import('/static/js/series-data.js');
            const cols = m.columnsFromSeries(series);
            for (const [x, v] of points) m.foldPoint(cols, x, v);
            return cols;
        }""",
        [series, points],
    )


def test_live_points_fold_into_aligned_buckets(blank: Page) -> None:
    points = [[25, 7], [29, "inf"], [21, 1], [30, 5], [5, 0.5]]
    cols = fold(blank, BUCKETS, points)
    assert cols["y"][0] == pytest.approx((2 * 10 + 0.5) / 11)
    assert cols == {
        "mode": "buckets",
        "width": 10,
        "x": [0, 10, 20, 30],  # 25, 29 and 21 joined the NaN bucket at 20; 30 opened a new one
        "y": [cols["y"][0], 3, 4, 5],  # means over finite values only
        "lo": [0.5, 2, 1, 5],
        "hi": [3, 4, 7, 5],
        "count": [11, 10, 5, 1],  # inf counts as a point, not as a value
        "nf": [11, 10, 2, 1],
        "last": [2, 3, 1, 5],  # a late point in an old bucket is not its newest
    }


def test_raw_columns_take_live_points_in_step_order(blank: Page) -> None:
    raw = {"mode": "raw", "x": [1, 2, 4], "value": [1, "nan", 4]}
    cols = fold(blank, raw, [[5, 5], [3, 3]])
    assert cols["x"] == [1, 2, 3, 4, 5]
    assert cols["y"] == [1, None, 3, 4, 5]
    assert cols["lo"] == [None] * 5  # no band for raw points


def test_cap_turns_raw_points_into_exact_power_of_two_buckets(blank: Page) -> None:
    n = 5003
    raw = {"mode": "raw", "x": list(range(n)), "value": [float(i % 7) for i in range(n)]}
    cols = blank.evaluate(
        """async (series) => {
            const m = await import('/static/js/series-data.js');
            return m.capColumns(m.columnsFromSeries(series), 5000);
        }""",
        raw,
    )
    assert cols["mode"] == "buckets"
    assert cols["width"] == 2
    assert len(cols["x"]) == 2502
    assert sum(cols["count"]) == n
    assert cols["lo"][:2] == [0, 2]
    assert cols["hi"][:2] == [1, 3]
    assert cols["y"][:2] == [0.5, 2.5]
    assert cols["last"][-1] == (n - 1) % 7


def test_cap_doubles_bucket_width_exactly(blank: Page) -> None:
    cols = blank.evaluate(
        """async (series) => {
            const m = await import('/static/js/series-data.js');
            return m.capColumns(m.columnsFromSeries(series), 2);
        }""",
        BUCKETS,
    )
    assert cols["width"] == 20
    assert cols["x"] == [0, 20]
    assert cols["count"] == [20, 2]
    assert cols["y"] == [2.5, None]  # the all-NaN bucket stays a gap
    assert cols["lo"] == [1, None]
    assert cols["hi"] == [4, None]


def test_ema_matches_tensorboard_and_keeps_gaps(blank: Page) -> None:
    out = call(blank, "series-data.js", "ema", [1, None, 3, 5], 0.5)
    assert out[0] == 1  # debiased: the first value is itself
    assert out[1] is None
    assert out[2] == pytest.approx((0.5 * 0.5 + 0.5 * 3) / (1 - 0.25))
    assert call(blank, "series-data.js", "ema", [1, 2], 0) == [1, 2]


@pytest.mark.parametrize(
    ("key", "direction"),
    [
        ("loss", "min"),
        ("val/Loss", "min"),
        ("error_rate", "min"),
        ("acc", "max"),
        ("reward", "max"),
    ],
)
def test_best_direction_follows_the_key(blank: Page, key: str, direction: str) -> None:
    assert call(blank, "series-data.js", "bestDirection", key) == direction


def test_running_best_uses_the_band_of_buckets(blank: Page) -> None:
    best = blank.evaluate(
        """async (series) => {
            const m = await import('/static/js/series-data.js');
            const cols = m.columnsFromSeries(series);
            return [m.runningBest(cols, 'min'), m.runningBest(cols, 'max', 3.5),
                    m.bestBefore(cols, 'min', 20), m.bestBefore(cols, 'min', 19)];
        }""",
        BUCKETS,
    )
    assert best == [[1, 1, 1], [3.5, 4, 4], 1, 1]


def test_log_scale_values_drop_zero_and_negatives(blank: Page) -> None:
    got = call(blank, "series-data.js", "positiveOnly", [1, 0, -1, None, 2.5])
    assert got == [1, None, None, None, 2.5]


def test_config_diff_rows_mark_changed_and_missing_keys(blank: Page) -> None:
    configs = [
        {"lr": 0.1, "model": {"depth": 4, "act": "relu"}},
        {"lr": 0.01, "model": {"depth": 4}, "warmup": 100},
        None,  # a run without a config
    ]
    assert call(blank, "config-diff.js", "diffRows", configs) == [
        {"key": "lr", "values": ["0.1", "0.01", None], "differs": True},
        {"key": "model.act", "values": ["relu", None, None], "differs": True},
        {"key": "model.depth", "values": ["4", "4", None], "differs": True},
        {"key": "warmup", "values": [None, "100", None], "differs": True},
    ]
    same = call(blank, "config-diff.js", "diffRows", [{"a": [1, 2]}, {"a": [1, 2]}])
    assert same == [{"key": "a", "values": ["[1,2]", "[1,2]"], "differs": False}]


@pytest.mark.parametrize(
    ("event", "tone"),
    [
        ({"kind": "birth", "level": "info"}, "ok"),
        ({"kind": "birth", "level": "error"}, "bad"),
        ({"kind": "anything", "level": "warning"}, "warn"),
        ({"kind": "deprecate", "level": "info"}, "muted"),
        ({"kind": "status", "level": "info", "payload": {"state": "running"}}, "status"),
        ({"kind": "status", "level": "info", "payload": {"state": "cancelled"}}, "warn"),
        ({"kind": "custom", "level": "info"}, "neutral"),
    ],
)
def test_event_tones(blank: Page, event: dict[str, Any], tone: str) -> None:
    assert call(blank, "event-feed.js", "toneOfEvent", event) == tone
