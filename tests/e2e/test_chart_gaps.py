"""Charts of awkward data in a real Chromium: the gaps chip counts every NaN once a key is
bucketed, a finite value between two gaps is drawn, a key whose points all sit at one step gets
a chart, and a bucketed chart's readout names the newest step (not its bucket's first)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.e2e.charts import chart, inspect
from tests.e2e.helpers import Producer, create_run
from tests.servers import ServerProcess

pytestmark = pytest.mark.e2e

NAN = "nan"  # a non-finite value as the wire spells it


def nan_every_100(steps: int) -> list[Any]:
    return [NAN if s % 100 == 50 else float(s % 7) for s in range(steps)]


def alternating(steps: int) -> list[Any]:
    return [NAN if s % 2 else 1.0 + s / steps for s in range(steps)]


# run name -> (key, steps, values)
RUNS: dict[str, tuple[str, list[int], list[Any]]] = {
    "gaps-900": ("x", list(range(900)), nan_every_100(900)),
    "gaps-5000": ("x", list(range(5000)), nan_every_100(5000)),
    "lone": ("alt", list(range(200)), alternating(200)),
    "same-step": ("same", [5, 5, 5], [1.0, 2.0, 3.0]),
    "long": ("m", list(range(5000)), [float(s % 10) for s in range(5000)]),
}


@pytest.fixture(scope="module")
def awkward(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[ServerProcess, dict[str, str]]]:
    """A server with one finished run per case in RUNS; yields it and run name -> run id."""
    proc = ServerProcess(tmp_path_factory.mktemp("gaps") / "data").start()
    try:
        ids = {}
        with proc.client() as client:
            for name, (key, steps, values) in RUNS.items():
                run = create_run(client, "e2e", name)
                producer = Producer(client, run["id"])
                producer.send_series(key, steps, values)
                producer.finish("succeeded", exit_code=0)
                ids[name] = run["id"]
        yield proc, ids
    finally:
        proc.stop()


def drawn(page: Page, url: str, key: str) -> tuple[Locator, dict[str, Any]]:
    """Open ``url`` and wait until the chart of ``key`` has drawn its data."""
    page.goto(url)
    target = chart(page, key)
    expect(target.locator("canvas")).to_have_count(1)
    expect(target).to_have_attribute("data-loading", "false")
    detail = inspect(target)
    assert detail["data"] is not None
    return target, detail


def painted(target: Locator, detail: dict[str, Any], points: list[tuple[float, float]]) -> int:
    """How many of ``points`` (x, y in data units) have the chart's series colour drawn on the
    canvas within 2 device pixels of where they fall."""
    scales, bbox = detail["scales"], detail["bbox"]
    spots = []
    for x, y in points:
        fx = (x - scales["x"]["min"]) / (scales["x"]["max"] - scales["x"]["min"])
        fy = (y - scales["y"]["min"]) / (scales["y"]["max"] - scales["y"]["min"])
        spots.append([bbox["left"] + fx * bbox["width"], bbox["top"] + (1 - fy) * bbox["height"]])
    hits: int = target.evaluate(
        """(el, spots) => {
            const hex = getComputedStyle(el).getPropertyValue('--series-color').trim();
            const want = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
            const ctx = el.querySelector('canvas').getContext('2d');
            let hits = 0;
            for (const [x, y] of spots) {
                const px = ctx.getImageData(Math.round(x) - 2, Math.round(y) - 2, 5, 5).data;
                for (let i = 0; i < px.length; i += 4) {
                    let off = 0;
                    for (let c = 0; c < 3; c++) off += Math.abs(px[i + c] - want[c]);
                    if (px[i + 3] > 200 && off < 60) { hits++; break; }
                }
            }
            return hits;
        }""",
        spots,
    )
    return hits


def test_the_gaps_chip_counts_every_nan_raw_or_bucketed(
    page: Page, awkward: tuple[ServerProcess, dict[str, str]]
) -> None:
    proc, ids = awkward
    for name, mode, nans in (("gaps-900", "raw", 9), ("gaps-5000", "buckets", 50)):
        target, _ = drawn(page, f"{proc.url}/runs/{ids[name]}", "x")
        expect(target).to_have_attribute("data-mode", mode)
        gaps = target.locator(".chart-gaps")
        expect(gaps).to_be_visible()
        expect(gaps).to_have_text(f"{nans} gaps")


def test_finite_values_between_gaps_are_each_drawn(
    page: Page, awkward: tuple[ServerProcess, dict[str, str]]
) -> None:
    proc, ids = awkward
    _, steps, values = RUNS["lone"]
    target, detail = drawn(page, f"{proc.url}/runs/{ids['lone']}", "alt")
    expect(target).to_have_attribute("data-mode", "raw")
    finite = [(s, v) for s, v in zip(steps, values, strict=True) if v != NAN]
    assert painted(target, detail, finite) == len(finite) == 100


def test_a_key_logged_again_and_again_at_one_step_gets_axes_and_its_last_value(
    page: Page, awkward: tuple[ServerProcess, dict[str, str]]
) -> None:
    """Each row logged at a step replaces the one before it there: one point, the last, drawn
    on axes that span it (one x and one y value are no range to scale to)."""
    proc, ids = awkward
    target, detail = drawn(page, f"{proc.url}/runs/{ids['same-step']}", "same")
    x, y = detail["scales"]["x"], detail["scales"]["y"]
    assert x["min"] < 5 < x["max"] and y["min"] < 3.0 < y["max"]
    assert [t for t in detail["ticks"][0] if t], detail["ticks"]
    assert [t for t in detail["ticks"][1] if t], detail["ticks"]
    assert painted(target, detail, [(5, 3.0)]) == 1


def test_the_compare_readout_names_the_newest_step_of_a_bucketed_run(
    page: Page, awkward: tuple[ServerProcess, dict[str, str]]
) -> None:
    proc, ids = awkward
    target, _ = drawn(page, f"{proc.url}/compare?runs={ids['long']}", "m")
    expect(target).to_have_attribute("data-mode", "buckets")
    expect(target.locator(".chart-where")).to_have_text("step 4,999")
