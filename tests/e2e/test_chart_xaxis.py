"""The charts' x axis in a real Chromium: step, time since the run's start and wall time, chosen
once per page and kept in the address; points (logged with known wall times) land at their x on
each axis, live or reloaded, and compared runs started an hour apart overlay from 0."""

from __future__ import annotations

import math
import re
import time
from typing import Any

import httpx
import pytest
from playwright.sync_api import Locator, Page, expect

from tests.e2e.charts import chart, drag, inspect, metrics_requests
from tests.e2e.helpers import Producer, create_run
from tests.servers import ServerProcess

pytestmark = pytest.mark.e2e

NAN = "nan"
# A relative-time tick: "0s", "45s", "1m30s", "2h05m", "1.5s", "-30s".
RELATIVE_TICK = re.compile(r"^-?(\d+d)?(\d+h)?(\d+m)?(\d+(\.\d+)?s)?$")
# A wall-time tick: "May 1 14:05", "14:05:30", "14:05:30.5", "Dec 6", or a full date and time.
WALL_TICK = re.compile(
    r"^([A-Z][a-z]{2} \d{1,2}( \d\d:\d\d(:\d\d(\.\d+)?)?)?|\d\d:\d\d(:\d\d(\.\d+)?)?"
    r"|\d{4}-\d\d-\d\d( \d\d:\d\d(:\d\d(\.\d+)?)?)?( [+-]\d\d:\d\d)?)$"
)


def timed_run(api: httpx.Client, name: str, started: float, **fields: Any) -> tuple[str, Producer]:
    """A running run that started at ``started`` (unix seconds), and its producer."""
    run = create_run(api, "timing", name, started_at=started, **fields)
    producer = Producer(api, run["id"])
    producer.send(status={"state": "running"})
    run_id: str = run["id"]
    return run_id, producer


def loss_points(started: float, steps: range) -> list[list[Any]]:
    """ "loss" at step s is s / 2, logged 90 s + 30 s * s after the start; step 5 is a NaN."""
    return [[s, started + 90 + 30 * s, {"loss": NAN if s == 5 else s / 2}] for s in steps]


def data_x(target: Locator) -> list[float]:
    data = inspect(target)["data"]
    assert data is not None
    xs: list[float] = data[0]
    return xs


def choose(page: Page, name: str) -> None:
    page.locator(f'#x-axis button[data-axis="{name}"]').click()
    expect(page.locator(f'#x-axis button[data-axis="{name}"]')).to_have_attribute(
        "aria-pressed", "true"
    )


def hover_x(page: Page, target: Locator, x: float) -> None:
    """Put the mouse over drawn x ``x`` (the cursor snaps to the nearest point)."""
    scale = inspect(target)["scales"]["x"]
    box = target.locator(".u-over").bounding_box()
    assert box is not None
    frac = (x - scale["min"]) / (scale["max"] - scale["min"])
    page.mouse.move(box["x"] + box["width"] * frac, box["y"] + box["height"] / 2)


def distinct_ticks(target: Locator, pattern: re.Pattern[str]) -> list[str]:
    ticks = [t for t in inspect(target)["ticks"][0] if t]
    assert len(ticks) >= 2, ticks
    assert len(set(ticks)) == len(ticks), ticks
    for t in ticks:
        assert pattern.match(t), (t, ticks)
    return ticks


def test_each_axis_puts_a_known_point_at_its_x_and_the_address_keeps_the_choice(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    started = float(int(time.time()) - 7200)
    run_id, producer = timed_run(api, "timed", started)
    producer.send(loss_points(started, range(10)))
    producer.finish("succeeded", exit_code=0)

    page.goto(f"{server.url}/runs/{run_id}")
    expect(page.locator("#conn")).to_have_attribute("data-state", "closed")
    loss = chart(page, "loss")
    expect(loss).to_have_attribute("data-points", "10")
    expect(page.locator('#x-axis button[data-axis="step"]')).to_have_attribute(
        "aria-pressed", "true"
    )
    assert data_x(loss) == list(range(10))
    expect(loss.locator(".chart-gaps")).to_have_text("1 gap")

    choose(page, "relative")
    expect(page).to_have_url(f"{server.url}/runs/{run_id}?x=relative")
    expect(loss).to_have_attribute("data-axis", "relative")
    expect(loss).to_have_attribute("data-points", "10")
    assert data_x(loss) == [90 + 30 * s for s in range(10)]
    expect(loss.locator(".chart-gaps")).to_have_text("1 gap")
    distinct_ticks(loss, RELATIVE_TICK)
    hover_x(page, loss, 180)
    expect(loss.locator(".chart-where")).to_have_text("t 3m · step 3")
    expect(loss.locator(".chart-value")).to_have_text("1.5")

    page.reload()
    expect(page.locator('#x-axis button[data-axis="relative"]')).to_have_attribute(
        "aria-pressed", "true"
    )
    expect(loss).to_have_attribute("data-axis", "relative")
    expect(loss).to_have_attribute("data-points", "10")
    assert data_x(loss) == [90 + 30 * s for s in range(10)]

    choose(page, "wall")
    expect(page).to_have_url(f"{server.url}/runs/{run_id}?x=wall")
    expect(loss).to_have_attribute("data-axis", "wall")
    expect(loss).to_have_attribute("data-points", "10")
    assert data_x(loss) == [started + 90 + 30 * s for s in range(10)]
    distinct_ticks(loss, WALL_TICK)
    hover_x(page, loss, started + 180)
    clock = page.evaluate(
        "t => { const d = new Date(t * 1000), p = n => String(n).padStart(2, '0');"
        " return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} `"
        " + `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`; }",
        started + 180,
    )
    expect(loss.locator(".chart-where")).to_have_text(f"{clock} · step 3")

    choose(page, "step")
    expect(page).to_have_url(f"{server.url}/runs/{run_id}")
    expect(loss).to_have_attribute("data-axis", "step")
    expect(loss).to_have_attribute("data-points", "10")
    assert data_x(loss) == list(range(10))
    assert page.console_errors == []  # type: ignore[attr-defined]


def test_time_axes_keep_tick_labels_distinct_zoomed_in_and_bands_on_buckets(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    """20,000 points 10 ms apart: bucketed over time with a min/max band; zoomed in to a few
    hundred milliseconds, the ticks still differ, on both time axes."""
    started = float(int(time.time()) - 3600)
    run_id, producer = timed_run(api, "dense", started)
    points = [[s, started + 5 + s * 0.01, {"wave": math.sin(s / 50)}] for s in range(20_000)]
    producer.send(points)
    producer.finish("succeeded", exit_code=0)

    for name, pattern in (("relative", RELATIVE_TICK), ("wall", WALL_TICK)):
        page.goto(f"{server.url}/runs/{run_id}?x={name}")
        wave = chart(page, "wave")
        expect(wave).to_have_attribute("data-mode", "buckets")
        full = inspect(wave)
        assert full["bands"][0], "the min/max band is drawn over time"
        origin = started if name == "relative" else 0.0
        xs = full["data"][0]
        assert xs[0] == pytest.approx(started + 5 - origin, abs=1e-6)
        distinct_ticks(wave, pattern)
        for _ in range(3):  # each drag zooms to a tenth of the window
            before = inspect(wave)["scales"]["x"]
            shown = wave.get_attribute("data-window") or ""
            drag(page, wave, 0.45, 0.55)
            expect(wave).not_to_have_attribute("data-window", shown)  # the new window's data came
            expect(wave).to_have_attribute("data-loading", "false")
            after = inspect(wave)["scales"]["x"]
            assert after["max"] - after["min"] < (before["max"] - before["min"]) / 5
            distinct_ticks(wave, pattern)
        expect(wave).to_have_attribute("data-mode", "raw")
        expect(wave.locator(".chart-zoom")).to_be_visible()
        chip = wave.locator(".chart-zoom").text_content() or ""
        a, b = chip.rstrip(" \N{MULTIPLICATION SIGN}").split(" \N{EN DASH} ")
        assert a != b
    assert page.console_errors == []  # type: ignore[attr-defined]


def test_live_points_land_at_their_time_and_match_a_reload(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    started = float(int(time.time()) - 600)
    run_id, producer = timed_run(api, "live", started)
    producer.send(loss_points(started, range(4)))

    page.goto(f"{server.url}/runs/{run_id}?x=relative")
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    loss = chart(page, "loss")
    expect(loss).to_have_attribute("data-points", "4")
    assert data_x(loss) == [90, 120, 150, 180]

    producer.send(loss_points(started, range(4, 8)))
    expect(loss).to_have_attribute("data-points", "8")
    live = inspect(loss)
    assert live["data"][0] == [90 + 30 * s for s in range(8)]
    assert live["traces"][0]["step"] == list(range(8))
    expect(loss.locator(".chart-gaps")).to_have_text("1 gap")
    hover_x(page, loss, 90 + 30 * 6)  # the newest point, 7, is on the plot's right edge
    expect(loss.locator(".chart-where")).to_have_text("t 4m30s · step 6")

    page.reload()
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    expect(loss).to_have_attribute("data-points", "8")
    reloaded = inspect(loss)
    assert reloaded["data"] == live["data"]
    assert reloaded["traces"][0]["step"] == live["traces"][0]["step"]
    assert page.console_errors == []  # type: ignore[attr-defined]


def test_a_time_axis_brings_every_chart_in_one_request(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    """On a time axis the charts' full ranges come in one /metrics request, as /state brings the
    step axis's: switching to it, or opening the page on it, asks once, not once per chart."""
    started = float(int(time.time()) - 600)
    run_id, producer = timed_run(api, "many", started)
    keys = ["acc", "f1,macro", "loss", "lr", "train/loss", "val loss", "val/acc"]
    producer.send(
        [[s, started + 10 * s, {k: s * (i + 1) for i, k in enumerate(keys)}] for s in range(5)]
    )
    producer.finish("succeeded", exit_code=0)

    def shown_on(axis: str, origin: float) -> None:
        xs = [started - origin + 10 * s for s in range(5)]
        for i, key in enumerate(keys):
            target = chart(page, key)
            expect(target).to_have_attribute("data-axis", axis)
            target.scroll_into_view_if_needed()  # a chart off screen redraws once it is seen
            # Drawn on a later frame: until then the chart shows the last axis's data.
            page.wait_for_function(
                "([key, xs]) => { const d = {};"
                ' document.querySelector(`#charts .chart[data-key="${CSS.escape(key)}"]`)'
                "   .dispatchEvent(new CustomEvent('chart-inspect', {detail: d}));"
                " return d.data && JSON.stringify(d.data[0]) === JSON.stringify(xs); }",
                arg=[key, xs],
                polling="raf",
            )
            assert inspect(target)["data"][1] == [s * (i + 1) for s in range(5)], key

    page.goto(f"{server.url}/runs/{run_id}")
    expect(chart(page, keys[-1])).to_have_attribute("data-points", "5")
    asked = metrics_requests(page)
    choose(page, "relative")
    shown_on("relative", started)
    page.reload()
    shown_on("relative", started)
    choose(page, "wall")
    shown_on("wall", 0.0)
    assert len(asked) == 3, [r.url for r in asked]
    for request in asked:
        sent = httpx.URL(request.url).params
        assert sorted(sent.get_list("key")) == keys  # each whole: a key may hold a comma
        assert sent["x"] == "time"
    assert page.console_errors == []  # type: ignore[attr-defined]


def test_compare_overlays_runs_started_an_hour_apart_from_relative_zero(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    now = float(int(time.time()))
    early, early_producer = timed_run(api, "early", now - 7200)
    late, late_producer = timed_run(api, "late", now - 3600)
    early_producer.send(loss_points(now - 7200, range(5)))
    late_producer.send(loss_points(now - 3600, range(5)))
    for producer, started in ((early_producer, now - 7200), (late_producer, now - 3600)):
        producer.send([[0, started + 60, {"gpu,0": 0.5}]])  # a key may hold a comma

    page.goto(f"{server.url}/compare?runs={early},{late}&x=relative")
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    loss = chart(page, "loss")
    expect(loss).to_have_attribute("data-points", "10")
    seen = inspect(loss)
    # One shared x column: both runs have their points at the same relative times.
    assert seen["data"][0] == [90, 120, 150, 180, 210]
    lines = [seen["series"].index(name) + 1 for name in ("early", "late")]
    for line in lines:
        assert seen["data"][line] == [0, 0.5, 1, 1.5, 2]

    late_producer.send(loss_points(now - 3600, range(5, 7)))
    expect(loss).to_have_attribute("data-points", "12")
    assert inspect(loss)["data"][0] == [90, 120, 150, 180, 210, 240, 270]
    hover_x(page, loss, 150)
    expect(loss.locator(f'.legend-item[data-run="{early}"] .legend-value')).to_have_text(
        "1 · step 2"
    )
    expect(loss.locator(f'.legend-item[data-run="{late}"] .legend-value')).to_have_text(
        "1 · step 2"
    )

    asked = metrics_requests(page)
    choose(page, "wall")
    expect(page).to_have_url(f"{server.url}/compare?runs={early},{late}&x=wall")
    expect(loss).to_have_attribute("data-axis", "wall")
    expect(loss).to_have_attribute("data-points", "12")
    xs = inspect(loss)["data"][0]
    assert xs[:5] == [now - 7200 + 90 + 30 * s for s in range(5)]
    assert xs[5:] == [now - 3600 + 90 + 30 * s for s in range(7)]
    # Every chart's range of a run came in one request: one per run, not one per run and chart.
    expect(chart(page, "gpu,0")).to_have_attribute("data-axis", "wall")
    by_run = sorted((r.url.split("/runs/")[1].split("/")[0], r.url) for r in asked)
    assert [run for run, _ in by_run] == sorted([early, late]), by_run
    for _, url in by_run:
        assert sorted(httpx.URL(url).params.get_list("key")) == ["gpu,0", "loss"]
    assert page.console_errors == []  # type: ignore[attr-defined]
