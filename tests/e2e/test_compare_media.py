"""The compare page's media in a real Chromium: the runs' images of one key side by side at
one step (one slider) with a heatmap's scale and the value under the cursor, a live image
before the runs' key listings answer, and their distributions overlaid on one chart."""

from __future__ import annotations

import math
import re

import httpx
import pytest
from playwright.sync_api import Page, Route, expect

from tests.e2e.helpers import create_run
from tests.e2e.media import F32, MediaProducer, f32, histogram, png
from tests.e2e.widgets import wait_painted
from tests.servers import ServerProcess, wait_until

pytestmark = pytest.mark.e2e


def test_compare_shows_a_keys_images_side_by_side_at_one_step_and_overlays_distributions(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    ids = []
    for r, name in enumerate(("base", "wide")):
        run = create_run(api, "e2e", name)
        ids.append(run["id"])
        producer = MediaProducer(api, run["id"])
        for step in (0, 10, 20):
            image = png(4, 4, lambda x, y, s=step, r=r: (s * 10, r * 200, x + y))
            producer.image("samples", step + r, image, 4, 4, caption=f"{name} {step}")
        edges = [0.0, 1.0, 2.0, 3.0]
        producer.send_media(
            histograms=[
                histogram("weights", s, [e + r for e in edges], [1, 3, 1]) for s in range(10)
            ]
        )
    page.goto(f"{server.url}/compare?runs={','.join(ids)}")
    row = page.locator('#compare-media .cmp-media-row[data-key="samples"]')
    expect(row).to_have_attribute("data-step", "21")  # the newest step of either run
    cells = row.locator(".cmp-media-cell")
    expect(cells).to_have_count(2)
    expect(cells.nth(0)).to_have_attribute("data-step", "20")
    expect(cells.nth(1)).to_have_attribute("data-step", "21")

    def red(i: int) -> list[int]:
        rgba: list[int] = (
            cells.nth(i)
            .locator("canvas")
            .evaluate("c => [...c.getContext('2d').getImageData(1, 2, 1, 1).data]")
        )
        return rgba

    assert red(0) == [200, 0, 3, 255]
    assert red(1) == [200, 200, 3, 255]
    row.locator("input.media-range").fill("9")  # run 1 keeps 10, run 2 keeps 11 (nearest 9)
    expect(cells.nth(0)).to_have_attribute("data-step", "10")
    expect(cells.nth(1)).to_have_attribute("data-step", "11")
    assert red(0) == [100, 0, 3, 255]
    expect(cells.nth(1).locator(".media-caption")).to_have_text("wide 10")

    chart = page.locator('#compare-media .dist-panel[data-key="weights"]')
    expect(chart).to_have_attribute("data-steps", "10")
    expect(chart.locator(".panel-sub")).to_have_text("20 steps")  # ten kept steps of each run
    wait_painted(page, '#compare-media .dist-panel[data-key="weights"] .dist-canvas', 500)
    chart.scroll_into_view_if_needed()
    box = chart.locator(".dist-canvas").bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    expect(chart.locator(".dist-readout")).to_contain_text("base: step")
    expect(chart.locator(".dist-readout")).to_contain_text("wide: step")
    assert page.console_errors == []


def test_a_run_without_a_key_says_so_quietly_without_asking_for_it(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    ids = []
    for r, (name, key) in enumerate((("base", "samples"), ("other", "masks"))):
        run = create_run(api, "e2e", name)
        ids.append(run["id"])
        producer = MediaProducer(api, run["id"])
        producer.image(key, 5, png(2, 2, lambda x, y, r=r: (r * 100, x, y)), 2, 2)
        if r == 0:
            producer.send_media(
                histograms=[histogram("weights", s, [0.0, 1.0], [2]) for s in (1, 2)]
            )
    failed: list[str] = []
    page.on("response", lambda resp: resp.status >= 400 and failed.append(resp.url))
    page.goto(f"{server.url}/compare?runs={','.join(ids)}")
    for key, has, lacks in (("samples", 0, 1), ("masks", 1, 0)):
        cells = page.locator(f'#compare-media .cmp-media-row[data-key="{key}"] .cmp-media-cell')
        expect(cells.nth(has)).to_have_attribute("data-step", "5")
        expect(cells.nth(lacks).locator(".cmp-media-step")).to_have_text("no images for this key")
    chart = page.locator('#compare-media .dist-panel[data-key="weights"]')
    expect(chart).to_have_attribute("data-steps", "2")
    expect(chart.locator(".panel-sub")).to_have_text("2 steps")
    expect(chart.locator(".dist-status")).to_be_hidden()
    assert failed == []
    assert page.console_errors == []


def test_a_live_image_before_the_listings_answer_keeps_the_keys_history(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    ids, producers = [], []
    for r, name in enumerate(("base", "wide")):
        run = create_run(api, "e2e", name)
        ids.append(run["id"])
        producers.append(MediaProducer(api, run["id"]))
        for step in (0, 10, 20):
            producers[r].image("samples", step, png(2, 2, lambda x, y, s=step: (s, x, y)), 2, 2)
    held: list[Route] = []
    page.route(re.compile(r"/api/v1/runs/[^/]+/media(\?|$)"), lambda route: held.append(route))
    page.goto(f"{server.url}/compare?runs={','.join(ids)}")
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    # page.evaluate lets playwright deliver the held requests to the handler meanwhile.
    wait_until(lambda: len(held) == 2 or page.evaluate("false"), what="the key listings")
    producers[0].image("samples", 30, png(2, 2, lambda x, y: (30, x, y)), 2, 2)
    row = page.locator('#compare-media .cmp-media-row[data-key="samples"]')
    expect(row).to_have_attribute("data-step", "30")  # a row from the live image alone
    for route in held:
        route.continue_()
    slider = row.locator("input.media-range")
    expect(slider).to_have_attribute("min", "0")
    expect(slider).to_have_attribute("max", "30")
    slider.fill("9")
    cells = row.locator(".cmp-media-cell")
    expect(cells.nth(0)).to_have_attribute("data-step", "10")
    expect(cells.nth(1)).to_have_attribute("data-step", "10")
    assert page.console_errors == []


def test_compared_heatmaps_show_their_scales_and_the_value_under_the_cursor(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    # The same pattern at two scales draws the same colours: only the scale tells them apart.
    ids = []
    for name, scale in (("unit", 1.0), ("kilo", 1000.0)):
        run = create_run(api, "e2e", name)
        ids.append(run["id"])
        producer = MediaProducer(api, run["id"])
        values = [v * scale for v in (0.0, 1.0, 2.0, 3.0, 4.0, math.nan)]  # 3 wide, 2 high
        producer.send_media([producer.record("heat", 3, f32(values), F32, 3, 2)])
    page.goto(f"{server.url}/compare?runs={','.join(ids)}")
    cells = page.locator('#compare-media .cmp-media-row[data-key="heat"] .cmp-media-cell')
    expect(cells).to_have_count(2)
    for i, top in enumerate(("4", "4000")):
        expect(cells.nth(i)).to_have_attribute("data-step", "3")
        expect(cells.nth(i).locator(".media-min")).to_have_text("0")
        expect(cells.nth(i).locator(".media-max")).to_have_text(top)
    for i, value in enumerate(("1", "1000")):
        box = cells.nth(i).locator("canvas.media-canvas").bounding_box()
        assert box is not None
        page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.25)
        expect(cells.nth(i).locator(".media-readout")).to_have_text(f"x 1, y 0 · {value}")
    page.mouse.move(0, 0)
    expect(cells.nth(1).locator(".media-readout")).to_have_text("")
    assert page.console_errors == []


def test_compared_keys_past_the_caps_are_counted_in_a_notice(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    ids = []
    for name, keys in (("many", range(52)), ("other", range(51, 53))):
        run = create_run(api, "e2e", name)
        ids.append(run["id"])
        producer = MediaProducer(api, run["id"])
        image = png(2, 2, lambda x, y: (x, y, 0))
        producer.send_media(
            [producer.record(f"img/{i:03d}", 0, image, "image/png", 2, 2) for i in keys],
            histograms=[histogram(f"hist/{i:03d}", 0, [0.0, 1.0], [1]) for i in keys],
        )
    page.goto(f"{server.url}/compare?runs={','.join(ids)}")
    media = page.locator("#compare-media")
    expect(media.locator(".cmp-media-row")).to_have_count(50)
    expect(media.locator(".dist-panel")).to_have_count(50)
    expect(media.locator(".media-capped:visible")).to_have_text(
        [
            "showing 50 of 53 image keys (the first in key order)",
            "showing 50 of 53 histogram keys (the first in key order)",
        ]
    )
    assert page.console_errors == []
