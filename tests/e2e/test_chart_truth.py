"""Charts tell the truth at every zoom in a real Chromium: a one-step spike, up or down, is drawn
as an opaque bar at full range (the last, partial bucket included), and tick labels stay
distinct when zoomed in narrowly."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.e2e.charts import WINDOW, chart, drag, inspect, window_of
from tests.e2e.helpers import Producer, create_run
from tests.servers import ServerProcess

pytestmark = pytest.mark.e2e

POINTS = 200_000
SPIKES = {50_000: 100.0, 120_000: -80.0, POINTS - 1: 90.0}  # the last one: the partial bucket


def value(step: int) -> float:
    return SPIKES.get(step, 0.5 * math.sin(step / 3_000))


@pytest.fixture(scope="module")
def spiky(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, str]]:
    """A server with one finished run of 200,000 points with three single-step spikes."""
    proc = ServerProcess(tmp_path_factory.mktemp("spikes") / "data").start()
    try:
        with proc.client() as client:
            run = create_run(client, "e2e", "spikes")
            producer = Producer(client, run["id"])
            steps = range(POINTS)
            producer.send_series("spiky", steps, [value(s) for s in steps])
            producer.finish("succeeded", exit_code=0)
        yield proc, run["id"]
    finally:
        proc.stop()


def open_spiky(page: Page, spiky: tuple[ServerProcess, str]) -> Locator:
    proc, run_id = spiky
    page.goto(f"{proc.url}/runs/{run_id}")
    expect(page.locator("#conn")).to_have_attribute("data-state", "closed")
    target = chart(page, "spiky")
    expect(target).to_have_attribute("data-mode", "buckets")
    expect(target.locator("canvas")).to_have_count(1)
    return target


def opaque_fraction(target: Locator, x: int, y0: int, y1: int) -> float:
    """The share of fully opaque canvas pixels in column ``x`` between rows y0 and y1."""
    share: float = target.locator("canvas").evaluate(
        """(c, [x, y0, y1]) => {
            const top = Math.min(y0, y1), h = Math.max(1, Math.abs(y1 - y0));
            const px = c.getContext('2d').getImageData(x, top, 1, h).data;
            let n = 0;
            for (let i = 3; i < px.length; i += 4) if (px[i] === 255) n++;
            return n / h;
        }""",
        [x, y0, y1],
    )
    return share


def test_one_step_spikes_up_and_down_are_drawn_at_full_range(
    page: Page, spiky: tuple[ServerProcess, str]
) -> None:
    target = open_spiky(page, spiky)
    detail: dict[str, Any] = inspect(target)
    (trace,) = detail["traces"]
    width = trace["width"]
    xs, lo, hi = trace["x"], trace["lo"], trace["hi"]
    # The server's buckets carry every spike, the partial last bucket's included.
    spike_at = {}
    for step, v in SPIKES.items():
        i = max(k for k, x in enumerate(xs) if x <= step)
        assert math.floor(xs[i] / width) == math.floor(step / width)
        assert (hi[i] if v > 0 else lo[i]) == v
        spike_at[step] = i
    scales, box = detail["scales"], detail["bbox"]
    assert scales["x"]["max"] >= POINTS - 1  # the full range reaches the newest point

    def px_x(x: float) -> float:
        lo_x, hi_x = scales["x"]["min"], scales["x"]["max"]
        return float(box["left"] + (x - lo_x) / (hi_x - lo_x) * box["width"])

    def px_y(y: float) -> float:
        lo_y, hi_y = scales["y"]["min"], scales["y"]["max"]
        return float(box["top"] + (hi_y - y) / (hi_y - lo_y) * box["height"])

    (bars,) = detail["bands"]
    assert len(bars) == len(xs)  # one bar per bucket, in order
    for step, v in SPIKES.items():
        bar = bars[spike_at[step]]
        left, top, w, h = bar
        assert w >= 1 and left + w <= box["left"] + box["width"]
        assert left - 1 <= px_x(step) <= left + w + 1, (step, bar)
        if v > 0:
            assert top <= px_y(v) + 1, (step, bar)
        else:
            assert top + h >= px_y(v) - 1, (step, bar)
        # Read the pixels: the column is solid from near the baseline out to the spike.
        share = opaque_fraction(target, left, round(px_y(0.6 * v)), round(px_y(0.95 * v)))
        assert share >= 0.9, (step, share)
    # Between spikes the band is only as tall as the data (no spurious bars out there).
    tall = [i for i, b in enumerate(bars) if b[1] < px_y(5)]
    assert tall == sorted(spike_at[s] for s in SPIKES if SPIKES[s] > 0)


def test_tick_labels_stay_distinct_at_a_narrow_zoom(
    page: Page, spiky: tuple[ServerProcess, str]
) -> None:
    target = open_spiky(page, spiky)
    full = inspect(target)
    x_labels = full["ticks"][0]
    assert len(set(x_labels)) == len(x_labels)
    drag(page, target, 0.5, 0.512)
    expect(target).to_have_attribute("data-window", WINDOW)
    expect(target).to_have_attribute("data-loading", "false")
    lo, hi = window_of(target)
    assert hi - lo < 4_000
    chip = target.locator(".chart-zoom").text_content() or ""
    start, end = (
        chip.split()[0],
        chip.split()[2],
    )  # "776.0k \N{EN DASH} 779.0k  \N{MULTIPLICATION SIGN}"
    assert start != end, chip
    detail = inspect(target)
    for labels in detail["ticks"]:
        shown = [t for t in labels if t]
        assert len(shown) >= 3, labels
        assert len(set(shown)) == len(shown), labels


def test_log_scale_tick_labels_stay_distinct(page: Page, spiky: tuple[ServerProcess, str]) -> None:
    target = open_spiky(page, spiky)
    target.locator(".tool-log").click()
    expect(target).to_have_attribute("data-log", "true")
    detail = inspect(target)
    assert detail["scales"]["y"]["distr"] == 3
    shown = [t for t in detail["ticks"][1] if t]
    assert len(shown) >= 2, detail["ticks"]
    assert len(set(shown)) == len(shown), shown
