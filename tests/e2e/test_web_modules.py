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


def test_decimate_merges_the_older_half_pairwise(blank: Page) -> None:
    cols = {
        "x": [0, 1, 2, 3, 4, 5, 6, 7],
        "y": [1, 3, None, None, 5, None, 7, 8],
        "lo": [None] * 8,
        "hi": [None] * 8,
    }
    assert call(blank, "chart.js", "decimate", cols) == {
        "x": [0, 2, 4, 5, 6, 7],
        "y": [2, None, 5, None, 7, 8],
        "lo": [1, None, None, None, None, None],
        "hi": [3, None, None, None, None, None],
    }


def test_decimate_keeps_spikes_in_the_band(blank: Page) -> None:
    n = 5002
    cols = {"x": list(range(n)), "y": [0.0] * n, "lo": [None] * n, "hi": [None] * n}
    cols["y"][11] = 100.0
    out = call(blank, "chart.js", "decimate", cols)
    assert len(out["x"]) == n - 2500 // 2 - (2500 % 2)
    assert out["hi"][5] == 100.0
    assert out["y"][5] == 50.0
    assert out["x"][-1] == n - 1


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
