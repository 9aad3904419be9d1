"""Charts on the run page in a real Chromium: zoom re-queries at a finer resolution, reset,
smoothing / log scale / best so far, and live points folded into the resolution on screen."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Locator, Page, expect

from tests.conftest import ARTIFACTS
from tests.e2e.charts import WINDOW, chart, drag, in_window, inspect, metrics_requests, window_of
from tests.e2e.helpers import Producer, create_run, rows
from tests.servers import ServerProcess

pytestmark = pytest.mark.e2e

MILLION = 1_000_000


def signal(step: int) -> float:
    """A slow trend, a faster wave and deterministic jitter: structure at every zoom level."""
    jitter = ((step * 7919) % 1000) / 1000 - 0.5
    return 1.8 * math.exp(-step / 250_000) + 0.45 + 0.2 * math.sin(step / 2_000) + 0.06 * jitter


@pytest.fixture(scope="module")
def big_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for the module (each test makes its own runs; only ``million`` is shared)."""
    proc = ServerProcess(tmp_path_factory.mktemp("zoom") / "data").start()
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def million(big_server: ServerProcess) -> str:
    """A finished run with 1,000,000 points of "train/loss" (and two sparse keys); its id."""
    with big_server.client() as client:
        run = create_run(client, "e2e", "million", config={"points": MILLION})
        producer = Producer(client, run["id"])
        steps = range(MILLION)
        producer.send_series("train/loss", steps, [signal(s) for s in steps])
        coarse = range(0, MILLION, 1000)
        producer.send_series(
            "val/loss",
            coarse,
            [1.8 * math.exp(-s / 250_000) + 0.6 + signal(s) / 50 for s in coarse],
        )
        producer.send_series(
            "val/acc", coarse, [0.97 - 0.9 * math.exp(-s / 200_000) for s in coarse]
        )
        producer.finish("succeeded", exit_code=0)
    run_id: str = run["id"]
    return run_id


@pytest.fixture
def zoom_api(big_server: ServerProcess) -> Iterator[httpx.Client]:
    with big_server.client() as client:
        yield client


def open_run(page: Page, server: ServerProcess, run_id: str, state: str = "live") -> None:
    page.goto(f"{server.url}/runs/{run_id}")
    expect(page.locator("#conn")).to_have_attribute("data-state", state)


def test_drag_zoom_refetches_the_window_finer_and_double_click_resets(
    page: Page, big_server: ServerProcess, million: str
) -> None:
    requests = metrics_requests(page)
    open_run(page, big_server, million, state="closed")
    loss = chart(page, "train/loss")
    expect(loss).to_have_attribute("data-mode", "buckets")
    expect(loss).to_have_attribute("data-window", "full")
    expect(loss.locator("canvas")).to_have_count(1)
    full = inspect(loss)
    (trace,) = full["traces"]
    assert trace["x"][0] == 0
    assert sum(trace["count"]) == MILLION  # every point is in some bucket
    assert len(trace["x"]) <= 1000
    assert requests == []  # the first view came from /state

    drag(page, loss, 0.40, 0.50)
    expect(loss).to_have_attribute("data-window", WINDOW)
    expect(loss).to_have_attribute("data-loading", "false")
    lo, hi = window_of(loss)
    assert 300_000 < lo < hi < 600_000, (lo, hi)
    expect(loss.locator(".chart-zoom")).to_be_visible()

    zoomed = inspect(loss)
    (ztrace,) = zoomed["traces"]
    assert all(lo <= x <= hi for x in ztrace["x"])
    before, after = in_window(trace["x"], lo, hi), len(ztrace["x"])
    assert after > 2 * before, (before, after)  # a finer resolution inside the window
    assert ztrace["width"] < trace["width"]
    assert sum(ztrace["count"]) == hi - lo + 1  # steps lo..hi inclusive, one point each
    assert zoomed["scales"]["x"]["min"] == lo
    assert zoomed["scales"]["x"]["max"] == hi

    (request,) = requests
    width = loss.locator(".chart-plot").evaluate("e => e.clientWidth")
    assert f"start={lo}" in request.url
    assert f"end={hi}" in request.url
    assert f"max_points={width}" in request.url  # one bucket per pixel
    assert after <= width

    # Best so far inside the window carries the best from before it (the full view knew it).
    loss.locator(".tool-best").click()
    expect(loss).to_have_attribute("data-best", "min")
    best = inspect(loss)["data"][4]
    assert all(b <= a for a, b in itertools.pairwise(best))
    earlier = min(signal(s) for s in range(lo - int(trace["width"])))
    assert best[0] <= earlier
    assert requests[1:] == []  # overlays are drawn from the data on screen

    loss.locator(".tool-slider").fill("0.8")
    expect(loss).to_have_attribute("data-series", "5")
    box = loss.locator(".u-over").bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] * 0.62, box["y"] + box["height"] / 2)
    expect(loss.locator(".chart-where")).not_to_contain_text(
        "999"
    )  # the readout follows the cursor
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "run-page-zoomed.png"))

    loss.locator(".u-over").dblclick()
    expect(loss).to_have_attribute("data-window", "full")
    expect(loss.locator(".chart-zoom")).to_be_hidden()
    assert len(requests) == 2
    assert "start=" not in requests[1].url
    assert "end=" not in requests[1].url
    reset = inspect(loss)
    (rtrace,) = reset["traces"]
    assert rtrace["mode"] == "buckets"
    assert rtrace["width"] >= trace["width"]
    assert sum(rtrace["count"]) == MILLION
    assert in_window(rtrace["x"], lo, hi) <= before + 1  # coarse again
    assert reset["scales"]["x"]["min"] == 0
    assert page.console_errors == []


def ema(values: list[float], weight: float) -> list[float]:
    """TensorBoard's debiased exponential moving average."""
    out, last = [], 0.0
    for n, v in enumerate(values, start=1):
        last = last * weight + (1 - weight) * v
        out.append(last / (1 - weight**n))
    return out


def is_monotone(values: list[float], direction: str) -> bool:
    pairs = itertools.pairwise(values)
    return all(b <= a if direction == "min" else b >= a for a, b in pairs)


def test_smoothing_log_scale_and_best_so_far_change_what_is_drawn(
    page: Page, big_server: ServerProcess, zoom_api: httpx.Client
) -> None:
    run = create_run(zoom_api, "e2e", "controls")
    steps = range(400)
    loss = [2 * math.exp(-s / 120) + 0.1 + 0.15 * math.sin(s * 1.7) for s in steps]
    acc = [0.9 - 0.8 * math.exp(-s / 90) + 0.03 * math.sin(s * 2.3) for s in steps]
    Producer(zoom_api, run["id"]).send(rows(steps, loss=loss, acc=acc))
    open_run(page, big_server, run["id"])
    target = chart(page, "loss")
    expect(target).to_have_attribute("data-series", "3")  # line, band max, band min
    expect(target).to_have_attribute("data-best", "off")
    assert inspect(target)["data"][1] == pytest.approx(loss)

    target.locator(".tool-slider").fill("0.9")
    expect(target).to_have_attribute("data-smoothing", "0.9")
    expect(target).to_have_attribute("data-series", "4")
    expect(target.locator(".tool-amount")).to_have_text("0.90")
    drawn = inspect(target)
    assert drawn["series"][3] == "loss smoothed"
    assert drawn["data"][1] == pytest.approx(loss)  # the raw line stays, faint
    assert drawn["data"][4] == pytest.approx(ema(loss, 0.9))
    wiggle = sum(abs(b - a) for a, b in itertools.pairwise(loss))
    smooth = drawn["data"][4]
    assert sum(abs(b - a) for a, b in itertools.pairwise(smooth)) < wiggle / 3

    target.locator(".tool-log").click()
    expect(target).to_have_attribute("data-log", "true")
    expect(target.locator(".tool-log")).to_have_attribute("aria-pressed", "true")
    assert inspect(target)["scales"]["y"]["distr"] == 3  # uPlot's logarithmic scale
    expect(target.locator("canvas")).to_have_count(1)
    target.locator(".tool-log").click()
    expect(target).to_have_attribute("data-log", "false")
    assert inspect(target)["scales"]["y"]["distr"] == 1

    expect(target.locator(".tool-dir")).to_have_text("min")  # "loss" reads as lower-is-better
    expect(chart(page, "acc").locator(".tool-dir")).to_have_text("max")
    target.locator(".tool-best").click()
    expect(target).to_have_attribute("data-best", "min")
    expect(target).to_have_attribute("data-series", "5")
    drawn = inspect(target)
    assert drawn["series"][4] == "loss best min"
    best = drawn["data"][5]
    assert is_monotone(best, "min")
    assert best == pytest.approx([min(loss[: i + 1]) for i in range(len(loss))])

    target.locator(".tool-dir").click()
    expect(target).to_have_attribute("data-best", "max")
    best = inspect(target)["data"][5]
    assert is_monotone(best, "max")
    assert best[-1] == pytest.approx(max(loss))

    target.locator(".tool-slider").fill("0")
    expect(target).to_have_attribute("data-series", "4")  # line, band, best
    expect(target.locator(".tool-amount")).to_have_text("off")
    # The other chart kept its own settings.
    expect(chart(page, "acc")).to_have_attribute("data-series", "3")
    expect(chart(page, "acc")).to_have_attribute("data-smoothing", "0")
    assert page.console_errors == []


def expected_buckets(values: dict[int, float], width: int) -> dict[int, dict[str, float]]:
    """Aligned buckets [b * width, (b + 1) * width) of step -> value, as the server builds them."""
    out: dict[int, dict[str, float]] = {}
    for step in sorted(values):
        v = values[step]
        b = out.setdefault(step // width, {"min": v, "max": v, "sum": 0.0, "count": 0, "last": v})
        b["min"], b["max"] = min(b["min"], v), max(b["max"], v)
        b["sum"] += v
        b["count"] += 1
        b["last"] = v
    return out


def wait_for_total(page: Page, target: Locator, total: int) -> None:
    page.wait_for_function(
        """([el, total]) => {
            const d = {};
            el.dispatchEvent(new CustomEvent('chart-inspect', {detail: d}));
            return d.traces[0].count.reduce((a, b) => a + b, 0) === total;
        }""",
        arg=[target.element_handle(), total],
    )


def test_live_points_fold_into_the_buckets_on_screen_without_a_refetch(
    page: Page, big_server: ServerProcess, zoom_api: httpx.Client
) -> None:
    run = create_run(zoom_api, "e2e", "live-buckets")
    producer = Producer(zoom_api, run["id"])
    values = {s: 1 + math.sin(s / 700) + 0.1 * math.sin(s * 3.1) for s in range(20_000)}
    producer.send_series("v", list(values), list(values.values()))
    requests = metrics_requests(page)
    open_run(page, big_server, run["id"])
    target = chart(page, "v")
    expect(target).to_have_attribute("data-mode", "buckets")
    before = inspect(target)["traces"][0]
    width = int(before["width"])
    assert sum(before["count"]) == 20_000

    # Enough live points to fill the last bucket and open new ones, in three messages.
    new = {s: 5 + math.cos(s) for s in range(20_000, 20_000 + width + 7)}
    steps = list(new)
    for part in (steps[:3], steps[3:width], steps[width:]):
        producer.send(rows(part, v=[new[s] for s in part]))
        values.update({s: new[s] for s in part})
    wait_for_total(page, target, len(values))
    expect(page.locator('#run-meta [data-meta="step"] dd')).to_have_text(f"{steps[-1]:,}")
    assert requests == [], "live points must not refetch the series"

    after = inspect(target)["traces"][0]
    assert after["mode"] == "buckets"
    assert after["width"] == width
    expected = expected_buckets(values, width)
    assert len(after["x"]) == len(expected)
    for i, x in enumerate(after["x"]):
        b = expected[int(x) // width]
        assert after["count"][i] == b["count"]
        assert after["lo"][i] == pytest.approx(b["min"])
        assert after["hi"][i] == pytest.approx(b["max"])
        assert after["y"][i] == pytest.approx(b["sum"] / b["count"])
        assert after["last"][i] == pytest.approx(b["last"])
    expect(target).to_have_attribute("data-points", str(len(expected)))
    expect(target.locator(".chart-value")).to_have_text(f"{new[steps[-1]]:.4g}")
    assert page.console_errors == []


def test_zoomed_charts_ignore_live_points_outside_the_window_until_reset(
    page: Page, big_server: ServerProcess, zoom_api: httpx.Client
) -> None:
    run = create_run(zoom_api, "e2e", "live-zoom")
    producer = Producer(zoom_api, run["id"])
    steps = list(range(10_000))
    producer.send_series("v", steps, [math.sin(s / 300) for s in steps])
    requests = metrics_requests(page)
    open_run(page, big_server, run["id"])
    target = chart(page, "v")
    expect(target.locator("canvas")).to_have_count(1)

    drag(page, target, 0.30, 0.33)
    expect(target).to_have_attribute("data-window", WINDOW)
    lo, hi = window_of(target)
    zoomed = inspect(target)["traces"][0]
    assert zoomed["mode"] == "raw"  # a narrow enough window comes back as raw points
    assert zoomed["x"] == list(range(lo, hi + 1))

    producer.send(rows(range(10_000, 10_050), v=[2.0] * 50))
    expect(page.locator('#run-meta [data-meta="step"] dd')).to_have_text("10,049")
    expect(target.locator(".chart-value")).to_have_text("2")  # the readout still follows
    assert inspect(target)["traces"][0]["x"] == zoomed["x"]  # the window's data did not
    assert len(requests) == 1

    target.locator(".u-over").dblclick()
    expect(target).to_have_attribute("data-window", "full")
    assert len(requests) == 2
    wait_for_total(page, target, 10_050)  # the reset view includes what arrived meanwhile
    assert page.console_errors == []
