"""The run page's Media tab in a real Chromium against a real server: images drawn pixel for
pixel (each kind of input ``run.image`` takes, from a real SDK), the newest arriving live, the
step slider (mouse and keys) scrubbing the key's history while fetching only the shown image and
its prefetch window, each item and blob once (and nothing for panels off screen), heatmaps with
their scale and the value under the cursor, label maps whose click picks an entity (its history,
and one deprecate command per click), distributions over steps, captions kept as text, and the
decoded-image cache staying bounded."""

from __future__ import annotations

import hashlib
import io
import math
import threading
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import httpx
import pytest
from playwright.sync_api import Locator, Page, Request, Route, expect

import runwatch
from tests.conftest import missing
from tests.e2e.helpers import create_run
from tests.e2e.media import F32, MediaProducer, f32, histogram, png
from tests.e2e.widgets import XSS, TrainingLoop, open_run, wait_painted
from tests.servers import ServerProcess, wait_until

pytestmark = pytest.mark.e2e


def stepped(step: int):  # type: ignore[no-untyped-def]
    """Step ``step``'s known image: red says the step, green x, blue y."""
    return lambda x, y: (step * 20 % 256, x * 30, y * 60)


def open_media(page: Page, server: ServerProcess, run_id: str) -> None:
    open_run(page, server, run_id)
    page.locator("#tab-media").click()
    expect(page.locator("#media-view")).to_be_visible()


def panel(page: Page, key: str) -> Locator:
    return page.locator(f'#media-view .media-panel[data-key="{key}"]')


def pixel(page: Page, key: str, x: int, y: int) -> list[int]:
    """The RGBA the panel's canvas holds at image pixel (x, y)."""
    rgba: list[int] = (
        panel(page, key)
        .locator("canvas.media-canvas")
        .evaluate("(c, [x, y]) => [...c.getContext('2d').getImageData(x, y, 1, 1).data]", [x, y])
    )
    return rgba


def test_images_draw_their_pixels_follow_live_and_scrub_by_slider_and_keys(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    run = create_run(api, "e2e", "media")
    producer = MediaProducer(api, run["id"])
    for step in range(0, 50, 5):
        producer.image("samples/rec", step, png(8, 4, stepped(step)), 8, 4, caption=f"epoch {step}")
    open_media(page, server, run["id"])

    rec = panel(page, "samples/rec")
    expect(rec).to_have_attribute("data-step", "45")
    canvas = rec.locator("canvas.media-canvas")
    assert canvas.evaluate("c => [c.width, c.height]") == [8, 4]
    assert pixel(page, "samples/rec", 3, 2) == [45 * 20 % 256, 90, 120, 255]
    expect(rec.locator(".media-caption")).to_have_text("epoch 45")
    expect(page.locator("#media-tab-count")).to_have_text("1")

    producer.image("samples/rec", 50, png(8, 4, stepped(50)), 8, 4, caption="epoch 50")
    expect(rec).to_have_attribute("data-step", "50")  # live, the thumb was at the end
    assert pixel(page, "samples/rec", 7, 3) == [50 * 20 % 256, 210, 180, 255]

    slider = rec.locator("input.media-range")
    assert slider.evaluate("s => [s.min, s.max]") == ["0", "50"]
    slider.fill("12")  # the nearest kept step is 10
    expect(rec).to_have_attribute("data-step", "10")
    assert pixel(page, "samples/rec", 0, 0) == [200, 0, 0, 255]
    expect(rec.locator(".media-caption")).to_have_text("epoch 10")
    slider.focus()
    page.keyboard.press("ArrowRight")  # to the kept step after 10
    expect(rec).to_have_attribute("data-step", "15")
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    expect(rec).to_have_attribute("data-step", "5")
    page.keyboard.press("Home")
    expect(rec).to_have_attribute("data-step", "0")

    producer.image("samples/rec", 55, png(8, 4, stepped(55)), 8, 4)
    expect(slider).to_have_attribute("max", "55")
    expect(rec).to_have_attribute("data-step", "0")  # a scrubbed thumb stays where it is
    assert page.console_errors == []


def test_the_slider_rests_on_the_kept_step_it_shows(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    run = create_run(api, "e2e", "media-pages")
    producer = MediaProducer(api, run["id"])
    producer.send_media(
        [
            producer.record("samples/rec", s, png(2, 2, stepped(s)), "image/png", 2, 2)
            for s in range(0, 200, 10)
        ]
    )
    open_media(page, server, run["id"])
    rec = panel(page, "samples/rec")
    slider = rec.locator("input.media-range")
    expect(rec).to_have_attribute("data-step", "190")
    slider.focus()
    page.keyboard.press("End")
    page.keyboard.press("PageDown")  # a tenth of the range back: the nearest kept step
    expect(rec).to_have_attribute("data-step", "170")
    expect(slider).to_have_value("170")
    page.keyboard.press("PageDown")
    expect(rec).to_have_attribute("data-step", "150")
    expect(slider).to_have_value("150")
    page.keyboard.press("PageUp")
    expect(rec).to_have_attribute("data-step", "170")
    expect(slider).to_have_value("170")
    slider.fill("12")  # dragged between kept steps: the thumb goes to the one shown
    expect(rec).to_have_attribute("data-step", "10")
    expect(slider).to_have_value("10")
    page.keyboard.press("ArrowRight")
    expect(rec).to_have_attribute("data-step", "20")
    expect(slider).to_have_value("20")
    assert page.console_errors == []


@pytest.mark.parametrize("listing_read", ["before", "after"])
def test_a_live_image_before_the_key_listing_answers_keeps_the_keys_history(
    page: Page, server: ServerProcess, api: httpx.Client, listing_read: str
) -> None:
    # A live run's page hears a new image while `…/media` is still on its way: the panel that
    # message made must take the listing's kept steps (from step 0), whether the listing was
    # read before that image was logged or after.
    run = create_run(api, "e2e", "media-race")
    producer = MediaProducer(api, run["id"])
    for step in range(10):
        producer.image("seg", step, png(4, 4, stepped(step)), 4, 4)
    edges = [0.0, 1.0, 2.0]
    producer.send_media(histograms=[histogram("acts", s, edges, [1, 2]) for s in range(10)])
    held: list[Route] = []

    def is_listing(url: str) -> bool:
        return urlsplit(url).path == f"/api/v1/runs/{run['id']}/media"

    page.route(is_listing, lambda route: held.append(route))
    open_media(page, server, run["id"])
    # page.evaluate lets playwright deliver the held request to the handler meanwhile.
    wait_until(lambda: bool(held) or page.evaluate("false"), what="the key listing")
    answer = held[0].fetch() if listing_read == "before" else None
    producer.image("seg", 10, png(4, 4, stepped(10)), 4, 4)
    producer.send_media(histograms=[histogram("acts", 10, edges, [2, 1])])
    seg = panel(page, "seg")
    expect(seg).to_have_attribute("data-step", "10")  # a panel from the live message alone
    if answer is None:
        held[0].continue_()
    else:
        held[0].fulfill(response=answer)
    expect(seg.locator(".media-step")).to_have_text("step 10 · 11 kept")
    slider = seg.locator("input.media-range")
    assert slider.evaluate("s => [s.min, s.max]") == ["0", "10"]
    slider.fill("3")
    expect(seg).to_have_attribute("data-step", "3")
    producer.image("seg", 11, png(4, 4, stepped(11)), 4, 4)
    expect(slider).to_have_attribute("max", "11")
    expect(seg.locator(".media-step")).to_have_text("step 3 · 12 kept")
    # A histogram key's chart reads the key's whole history whatever made it.
    chart = page.locator('#media-view .dist-panel[data-key="acts"]')
    expect(chart.locator(".panel-sub")).to_have_text("11 steps")
    assert page.console_errors == []


def test_a_caption_with_markup_stays_text(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    run = create_run(api, "e2e", "media-xss")
    producer = MediaProducer(api, run["id"])
    producer.image(f"k{XSS}", 1, png(2, 2, stepped(1)), 2, 2, caption=XSS)
    open_media(page, server, run["id"])
    card = page.locator("#media-view .media-panel")
    expect(card.locator(".media-caption")).to_have_text(XSS)
    expect(card.locator(".media-key")).to_have_text(f"k{XSS}")
    assert page.evaluate("() => window.__xss") is None
    assert page.locator("#media-view img").count() == 0


def test_a_heatmap_draws_its_scale_and_the_value_under_the_cursor(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    run = create_run(api, "e2e", "heatmap")
    producer = MediaProducer(api, run["id"])
    values = [0.0, 1.0, 2.0, 3.0, 4.0, math.nan]  # 3 wide, 2 high
    producer.send_media([producer.record("footprints/47", 3, f32(values), F32, 3, 2)])
    open_media(page, server, run["id"])
    hm = panel(page, "footprints/47")
    expect(hm).to_have_attribute("data-step", "3")
    expect(hm.locator(".media-min")).to_have_text("0")
    expect(hm.locator(".media-max")).to_have_text("4")
    assert pixel(page, "footprints/47", 0, 0) == [68, 1, 84, 255]  # the ramp's low end
    assert pixel(page, "footprints/47", 1, 1) == [253, 231, 37, 255]  # 4: its high end
    assert pixel(page, "footprints/47", 2, 1) == [40, 44, 52, 255]  # NaN: a grey gap
    box = hm.locator("canvas.media-canvas").bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.25)
    expect(hm.locator(".media-readout")).to_have_text("x 1, y 0 · 1")


def test_clicking_a_labelled_pixel_picks_its_entity_and_its_handler_gets_one_command(
    page: Page, server: ServerProcess, tmp_path: Path
) -> None:
    import numpy as np

    # A real SDK producer whose loop handles deprecate (run.on_command): the page offers it.
    loop = TrainingLoop(server, tmp_path / "run", "labels")
    calls: list[dict[str, Any]] = []
    lock = threading.Lock()

    def deprecate(payload: dict[str, Any]) -> None:
        with lock:
            calls.append(payload)
        if payload["entity"] == 6:
            raise ValueError("entity 6 is busy")

    loop.run.on_command("deprecate", deprecate)
    loop.run.event("neuron.born", entity=5, area=12)
    loop.run.event("neuron.born", entity=6)
    labels = np.array([[0, 5, 5, 0], [6, 6, 0, 0]], dtype=np.int32)  # 4 wide, 2 high
    loop.run.image("segmentation", labels, step=1, labels=True)
    loop.start()
    try:
        open_media(page, server, loop.run.id)
        seg = panel(page, "segmentation")
        expect(seg).to_have_attribute("data-step", "1")
        assert pixel(page, "segmentation", 0, 0)[3] == 0  # background is transparent
        assert pixel(page, "segmentation", 1, 0) == pixel(page, "segmentation", 2, 0)
        assert pixel(page, "segmentation", 1, 0) != pixel(page, "segmentation", 0, 1)
        canvas = seg.locator("canvas.media-canvas")

        def click_cell(col: int, row: int) -> None:
            box = canvas.bounding_box()  # measured each time: the drawer narrows the page
            assert box is not None
            page.mouse.click(
                box["x"] + box["width"] * (col + 0.5) / 4,
                box["y"] + box["height"] * (row + 0.5) / 2,
            )

        click_cell(1, 0)
        drawer = page.locator("#entity-panel")
        expect(drawer).to_be_visible()
        expect(drawer).to_have_attribute("data-entity", "5")
        expect(drawer.locator(".eh-event")).to_have_count(1)
        picked = seg.locator(".media-entity")
        expect(picked).to_have_attribute("data-entity", "5")

        deprecate_button = picked.locator('button[data-kind="deprecate"]')
        expect(deprecate_button).to_be_enabled()
        where = deprecate_button.bounding_box()
        # One intent: the button is disabled while pending, and stays where it is (the chip
        # appearing beside it must not move it), so the second click lands on it disabled.
        deprecate_button.dblclick()
        chip = picked.locator(".cmd-state")
        expect(chip).to_have_attribute("data-state", "applied")  # the handler ran
        assert deprecate_button.bounding_box() == where
        with lock:
            assert calls == [{"entity": 5}]

        click_cell(0, 1)
        expect(drawer).to_have_attribute("data-entity", "6")
        expect(picked).to_have_attribute("data-entity", "6")
        expect(chip).to_be_hidden()  # the applied chip was #5's
        deprecate_button.dblclick()
        # Failed shows failed, with the handler's message; it may be sent again.
        expect(chip).to_have_attribute("data-state", "failed")
        expect(chip).to_contain_text("ValueError: entity 6 is busy")
        expect(deprecate_button).to_be_enabled()

        loop.stop.set()
        loop.join()  # finish(): any command still on its way would have reached the handler
        assert calls == [{"entity": 5}, {"entity": 6}]  # each click once, for the pixel's entity
        with server.client() as client:
            commands = client.get(f"/api/v1/runs/{loop.run.id}/commands").json()["commands"]
        assert sorted((c["kind"], c["payload"]["entity"], c["state"]) for c in commands) == [
            ("deprecate", 5, "applied"),
            ("deprecate", 6, "failed"),
        ]
        assert page.console_errors == []
    finally:
        loop.close()


def test_histograms_draw_as_distributions_with_the_hovered_step_and_follow_live(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    run = create_run(api, "e2e", "dists")
    producer = MediaProducer(api, run["id"])
    edges = [float(e) for e in range(9)]
    producer.send_media(
        histograms=[
            histogram("weights/fc1", s, [e + s / 10 for e in edges], [1, 2, 4, 8, 8, 4, 2, 1])
            for s in range(40)
        ]
    )
    open_media(page, server, run["id"])
    chart = page.locator('#media-view .dist-panel[data-key="weights/fc1"]')
    expect(chart).to_have_attribute("data-steps", "40")
    wait_painted(page, '.dist-panel[data-key="weights/fc1"] .dist-canvas', 500)
    box = chart.locator(".dist-canvas").bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] - 9, box["y"] + box["height"] / 2)
    expect(chart.locator(".dist-readout")).to_have_attribute("data-step", "39")
    expect(chart.locator(".dist-readout")).to_contain_text("n 30")
    expect(chart.locator(".dist-hist")).to_be_visible()
    wait_painted(page, '.dist-panel[data-key="weights/fc1"] .dist-hist', 50)

    producer.send_media(histograms=[histogram("weights/fc1", 40, edges, [0, 0, 0, 30, 0, 0, 0, 0])])
    expect(chart).to_have_attribute("data-steps", "41")
    expect(chart.locator(".panel-sub")).to_have_text("41 steps")


def test_a_distribution_with_nothing_to_band_says_why(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    run = create_run(api, "e2e", "thin dists")
    nan_only = {**histogram("nan_only", 1, [0.0, 1.0], [0]), "nan": 5}
    producer = MediaProducer(api, run["id"])
    producer.send_media(
        histograms=[
            histogram("once", 7, [0.0, 1.0, 2.0], [3, 1]),
            nan_only,
            {**nan_only, "step": 2},
            histogram("twice", 1, [0.0, 1.0], [2]),
            histogram("twice", 2, [0.0, 1.0], [2]),
        ]
    )
    open_media(page, server, run["id"])

    def note(key: str) -> Locator:
        return page.locator(f'#media-view .dist-panel[data-key="{key}"] .dist-note')

    expect(note("once")).to_have_text(
        "one step (7): bands need two or more; hover for its histogram"
    )
    expect(note("nan_only")).to_have_text("no finite values: every step is empty, NaN or ±inf")
    expect(page.locator('#media-view .dist-panel[data-key="twice"]')).to_have_attribute(
        "data-steps", "2"
    )
    expect(note("twice")).to_be_hidden()
    assert page.console_errors == []


def test_the_decoded_image_cache_stays_bounded_while_scrubbing(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    run = create_run(api, "e2e", "cache")
    producer = MediaProducer(api, run["id"])
    for g, key in enumerate(("a", "b", "c")):
        images = [png(4, 4, lambda x, y, s=s, g=g: (s, g, x + y)) for s in range(32)]  # 96 differ
        producer.send_media(
            [producer.record(key, s, images[s], "image/png", 4, 4) for s in range(32)]
        )
    open_media(page, server, run["id"])
    for key in ("a", "b", "c"):
        card = panel(page, key)
        expect(card).to_have_attribute("data-step", "31")
        card.locator("input.media-range").focus()
        for step in range(30, -1, -1):
            page.keyboard.press("ArrowLeft")
            expect(card).to_have_attribute("data-step", str(step))
    stats = page.evaluate("async () => (await import('/static/js/media-images.js')).cacheStats()")
    assert stats["entries"] == stats["max_entries"] == 64  # 96 images seen, the oldest evicted
    assert stats["bytes"] == 64 * 4 * 4 * 4


def test_a_keyboard_scrub_fetches_only_the_shown_image_and_its_prefetch_window(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    # "a" is scrubbed, top left; the "b" keys fill the grid past the bottom of the window.
    run = create_run(api, "e2e", "scrub")
    producer = MediaProducer(api, run["id"])
    keys = {"a": 30, **{f"b{i:02d}": 3 for i in range(24)}}  # key -> steps, all kept (32 are)
    where: dict[str, tuple[str, int]] = {}  # blob sha256 -> (key, step)
    for g, (key, steps) in enumerate(keys.items()):
        records = []
        for step in range(steps):
            data = png(2, 2, lambda x, y, s=step, g=g: (s, g, x + y))  # each differs
            records.append(producer.record(key, step, data, "image/png", 2, 2))
            where[records[-1]["sha256"]] = (key, step)
        producer.send_media(records)

    asked: list[tuple[str, int]] = []  # `…/media/{key}?step=` requests
    fetched: list[tuple[str, int]] = []  # `…/blobs/{sha256}` requests, as (key, step)
    media_path = f"/api/v1/runs/{run['id']}/media/"

    def note(request: Request) -> None:
        url = urlsplit(request.url)
        step = parse_qs(url.query).get("step")
        if url.path.startswith(media_path) and step:
            asked.append((unquote(url.path[len(media_path) :]), int(step[0])))
        elif "/blobs/" in url.path:
            fetched.append(where[url.path.rsplit("/", 1)[1]])

    page.on("request", note)
    open_media(page, server, run["id"])
    card = panel(page, "a")
    expect(card).to_have_attribute("data-step", "29")
    tops = page.locator("#media-view .media-panel").evaluate_all(
        "els => Object.fromEntries(els.map(e => [e.dataset.key, e.getBoundingClientRect().top]))"
    )
    offscreen = [key for key in keys if tops[key] >= 900]
    assert len(offscreen) >= 8, tops  # the grid is taller than the window
    prefetch: int = page.evaluate(
        "async () => (await import('/static/js/media-panel.js')).PREFETCH"
    )

    # Arrows to each kept neighbour, Home and End across the steps between: each a resting place.
    slider = card.locator("input.media-range")
    slider.focus()
    rests = [29]
    for press, step in [("ArrowLeft", s) for s in range(28, 23, -1)] + [
        ("Home", 0),
        *[("ArrowRight", s) for s in (1, 2, 3)],
        ("End", 29),
    ]:
        page.keyboard.press(press)
        expect(card).to_have_attribute("data-step", str(step))
        assert pixel(page, "a", 0, 0)[0] == step
        rests.append(step)

    # Only the shown image and its kept neighbours (PREFETCH each side, media-panel.js) of each
    # resting place: none of the steps the thumb jumped over.
    window = {s + d for s in rests for d in range(-prefetch, prefetch + 1)} & set(range(30))
    assert len(window) < 30  # some steps were jumped over
    a_asked = [s for k, s in asked if k == "a"]
    a_fetched = [s for k, s in fetched if k == "a"]
    assert set(a_asked) <= window, sorted(a_asked)
    assert set(a_fetched) <= window, sorted(a_fetched)
    assert len(a_asked) <= len(rests) * (1 + 2 * prefetch)
    # Each image once: these few fit the decoded-image cache.
    assert sorted(a_fetched) == sorted(set(a_fetched)), sorted(a_fetched)
    # A panel off screen fetches nothing; one on screen, its newest image and its window only.
    for key in keys:
        mine = [s for k, s in asked + fetched if k == key]
        if key in offscreen:
            assert mine == [], (key, mine)
        elif key != "a":
            assert set(mine) <= {2 - d for d in range(prefetch + 1)}, (key, mine)
    assert page.console_errors == []


def test_each_item_and_blob_is_fetched_once_at_open_and_when_a_live_image_arrives(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    # The key listing carries each key's newest item and the kept step before it: a panel
    # opening shows that item without asking `…/media/{key}?step=` for it again. A live image
    # tells the page the answers it remembers gained a next step: none is asked again.
    run = create_run(api, "e2e", "fetch once")
    producer = MediaProducer(api, run["id"])
    image = {step: png(4, 4, stepped(step)) for step in range(0, 55, 5)}  # each differs
    sha_of = {step: hashlib.sha256(data).hexdigest() for step, data in image.items()}
    step_of = {sha: step for step, sha in sha_of.items()}
    for step in range(0, 50, 5):
        producer.image("rec", step, image[step], 4, 4)
    listings: list[str] = []  # `…/media` requests
    asked: list[int] = []  # `…/media/rec?step=` requests
    fetched: list[int] = []  # `…/blobs/{sha256}` requests, as steps
    base = f"/api/v1/runs/{run['id']}"

    def note(request: Request) -> None:
        url = urlsplit(request.url)
        if url.path == f"{base}/media":
            listings.append(url.query)
        elif url.path == f"{base}/media/rec":
            asked.append(int(parse_qs(url.query)["step"][0]))
        elif url.path.startswith(f"{base}/blobs/"):
            fetched.append(step_of[url.path.rsplit("/", 1)[1]])

    def decoded(step: int) -> None:
        wait_until(
            lambda: page.evaluate(
                "async sha => (await import('/static/js/media-images.js')).cached(sha)",
                sha_of[step],
            ),
            what=f"step {step}'s image decoded",
        )

    page.on("request", note)
    open_media(page, server, run["id"])
    rec = panel(page, "rec")
    expect(rec).to_have_attribute("data-step", "45")
    prefetch = page.evaluate("async () => (await import('/static/js/media-panel.js')).PREFETCH")
    assert prefetch == 1, "the counts below are of a window of one kept step each side"
    decoded(40)  # the prefetch window: the kept step before the newest
    assert len(listings) == 1
    assert asked == [40]  # step 45's item came with the listing
    assert fetched == [45, 40]

    asked.clear()
    fetched.clear()
    producer.image("rec", 50, image[50], 4, 4)
    expect(rec).to_have_attribute("data-step", "50")
    rec.locator("input.media-range").focus()
    page.keyboard.press("ArrowLeft")
    expect(rec).to_have_attribute("data-step", "45")
    page.keyboard.press("ArrowLeft")
    expect(rec).to_have_attribute("data-step", "40")
    decoded(35)  # 40's window reaches a step not fetched yet
    assert asked == [35], asked
    assert fetched == [50, 35], fetched
    assert pixel(page, "rec", 0, 0) == [stepped(40)(0, 0)[0], 0, 0, 255]
    assert page.console_errors == []


def test_sdk_images_and_heatmaps_reach_the_page_pixel_for_pixel(
    page: Page, server: ServerProcess, api: httpx.Client, tmp_path: Path
) -> None:
    import numpy as np

    run = runwatch.init(project="e2e", name="sdk-media", url=server.url, run_dir=tmp_path / "run")
    try:
        rgb = np.zeros((6, 5, 3), dtype=np.uint8)
        rgb[2, 3] = (250, 20, 7)  # row 2, column 3
        run.image("sdk/rgb", rgb, step=4, caption="from the SDK")
        run.image("sdk/heat", np.array([[0.0, 0.5], [1.0, 0.25]], dtype=np.float32), step=4)
        run.histogram("sdk/values", np.arange(100, dtype=np.float32), step=4)
        wait_until(
            lambda: len(api.get(f"/api/v1/runs/{run.id}/media").json().get("keys", [])) == 2,
            30,
            what="the SDK's images",
        )
        open_media(page, server, run.id)
        expect(panel(page, "sdk/rgb")).to_have_attribute("data-step", "4")
        canvas = panel(page, "sdk/rgb").locator("canvas.media-canvas")
        assert canvas.evaluate("c => [c.width, c.height]") == [5, 6]
        assert pixel(page, "sdk/rgb", 3, 2) == [250, 20, 7, 255]
        assert pixel(page, "sdk/rgb", 0, 0) == [0, 0, 0, 255]
        expect(panel(page, "sdk/heat")).to_have_attribute("data-step", "4")
        assert pixel(page, "sdk/heat", 0, 1) == [253, 231, 37, 255]  # 1.0: the scale's top
        chart = page.locator('#media-view .dist-panel[data-key="sdk/values"]')
        expect(chart).to_have_attribute("data-steps", "1")
    finally:
        run.finish()


W, H = 6, 4  # not square, and 6 wide: a CxHxW tensor cannot be read as HxWxC


def colour(x: int, y: int) -> tuple[int, int, int]:
    """The known image's pixel (x, y): every pixel differs, so a transposed image shows."""
    return 40 * x + 15, 60 * y + 20, 250 - 35 * x - 10 * y


def alpha(x: int) -> int:
    """The RGBA image's alpha: opaque, then one clear column, then one half-transparent."""
    return 255 if x < 4 else 0 if x == 4 else 128


def rgba_of(x: int, y: int) -> list[int]:
    a = alpha(x)
    return [0, 0, 0, 0] if a == 0 else [*colour(x, y), a]


def jpeg_block(x: int, y: int) -> tuple[int, int, int]:
    """The JPEG's pixel: flat 8x8 blocks (one colour each), which JPEG keeps nearly exact."""
    bx, by = x // 8, y // 8
    return 60 + 80 * bx, 50 + 150 * by, 220 - 90 * bx


def image_input(kind: str) -> tuple[object, dict[str, object], int, int]:
    """``run.image``'s data and keyword arguments for one input kind, and its width and height."""
    import numpy as np

    rgb = np.array([[colour(x, y) for x in range(W)] for y in range(H)], dtype=np.uint8)
    if kind == "png-bytes":
        return png(W, H, colour), {}, W, H
    if kind == "jpeg-bytes":
        from PIL import Image

        out = io.BytesIO()
        blocks = np.array([[jpeg_block(x, y) for x in range(24)] for y in range(16)], np.uint8)
        Image.fromarray(blocks, "RGB").save(out, format="JPEG", quality=95, subsampling=0)
        return out.getvalue(), {}, 24, 16
    if kind == "pil":
        from PIL import Image

        return Image.fromarray(rgb, "RGB"), {}, W, H
    if kind == "torch-chw":
        try:
            import torch
        except ImportError:
            missing("torch (pip install -e '.[test]')")
        return torch.from_numpy(rgb).permute(2, 0, 1).float() / 255, {}, W, H
    if kind == "float-rgb":
        return rgb.astype(np.float32) / 255, {}, W, H
    if kind == "float-rgba":
        a = np.array([[alpha(x) for x in range(W)] for _ in range(H)], dtype=np.uint8)
        return np.dstack([rgb, a]).astype(np.float32) / 255, {}, W, H
    if kind == "grey-uint8":
        return rgb[:, :, 0], {}, W, H
    assert kind == "labels"
    ids = np.array([[(0, 5, 6, 7, 5, 0)[(x + y) % 6] for x in range(W)] for y in range(H)])
    return ids.astype(np.int64), {"labels": True}, W, H


def expected_pixels(page: Page, kind: str, data: object) -> list[int]:
    """The RGBA the page must draw for each pixel of ``data``, row by row."""
    if kind == "jpeg-bytes":
        return [v for y in range(16) for x in range(24) for v in (*jpeg_block(x, y), 255)]
    if kind == "float-rgba":
        return [v for y in range(H) for x in range(W) for v in rgba_of(x, y)]
    if kind == "grey-uint8":
        return [v for y in range(H) for x in range(W) for v in (*[colour(x, y)[0]] * 3, 255)]
    if kind == "labels":
        # The page's colour for each id: what matters is that each id is where it was logged.
        ids = [int(v) for v in data.ravel()]  # type: ignore[attr-defined]
        rgba: list[int] = page.evaluate(
            "async ids => [...(await import('/static/js/media-data.js'))"
            ".labelPixels(new Int32Array(ids))]",
            ids,
        )
        return rgba
    return [v for y in range(H) for x in range(W) for v in (*colour(x, y), 255)]


def tolerance(kind: str, x: int) -> int:
    """How far a drawn channel may be from the logged one: JPEG is lossy; a half-transparent
    pixel goes through the canvas's premultiplied alpha."""
    if kind == "jpeg-bytes":
        return 6
    return 2 if kind == "float-rgba" and alpha(x) == 128 else 0


@pytest.mark.parametrize(
    "kind",
    [
        "jpeg-bytes",
        "png-bytes",
        "pil",
        "torch-chw",
        "float-rgb",
        "float-rgba",
        "grey-uint8",
        "labels",
    ],
)
def test_each_image_input_kind_goes_from_the_sdk_to_the_page(
    page: Page, server: ServerProcess, api: httpx.Client, tmp_path: Path, kind: str
) -> None:
    data, options, width, height = image_input(kind)
    run = runwatch.init(project="e2e", name=kind, url=server.url, run_dir=tmp_path / "run")
    try:
        run.image("sdk/img", data, step=3, caption=kind, **options)  # type: ignore[arg-type]
        wait_until(
            lambda: api.get(f"/api/v1/runs/{run.id}/media").json().get("keys"),
            30,
            what=f"the SDK's {kind} image",
        )
        open_media(page, server, run.id)
        card = panel(page, "sdk/img")
        expect(card).to_have_attribute("data-step", "3")
        expect(card.locator(".media-caption")).to_have_text(kind)
        canvas = card.locator("canvas.media-canvas")
        assert canvas.evaluate("c => [c.width, c.height]") == [width, height]
        drawn: list[int] = canvas.evaluate(
            "c => [...c.getContext('2d').getImageData(0, 0, c.width, c.height).data]"
        )
        want = expected_pixels(page, kind, data)
        assert len(drawn) == len(want) == width * height * 4
        for i in range(0, len(want), 4):
            x, y = (i // 4) % width, (i // 4) // width
            off = max(abs(a - b) for a, b in zip(drawn[i : i + 4], want[i : i + 4], strict=True))
            assert off <= tolerance(kind, x), (kind, (x, y), drawn[i : i + 4], want[i : i + 4])
        if kind == "labels":
            assert drawn[3] == 0  # id 0 is the background: transparent
            assert len({tuple(want[i : i + 4]) for i in range(0, len(want), 4)}) == 4
        assert page.console_errors == []
    finally:
        run.finish()


DOT_KEYS = ("val/../img", "w/./h", "a//b", "pct%2Fslash", "q?x=1#y")


def test_keys_with_dot_segments_and_url_characters_load_their_images_and_histograms(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    run = create_run(api, "e2e", "dot keys")
    producer = MediaProducer(api, run["id"])
    for step in range(3):
        producer.send_media(
            [
                producer.record(k, step, png(2, 2, stepped(step)), "image/png", 2, 2)
                for k in DOT_KEYS
            ],
            histograms=[histogram("h:" + k, step, [0.0, 1.0, 2.0], [1, 2]) for k in DOT_KEYS],
        )
    open_media(page, server, run["id"])
    for key in DOT_KEYS:
        card = panel(page, key)
        expect(card).to_have_attribute("data-step", "2")
        expect(card.locator(".media-status")).to_be_hidden()
        assert pixel(page, key, 0, 0) == [40, 0, 0, 255]  # step 2's red
        chart = page.locator(f'#media-view .dist-panel[data-key="h:{key}"]')
        expect(chart).to_have_attribute("data-steps", "3")
    card = panel(page, "val/../img")
    card.locator("input.media-range").focus()
    page.keyboard.press("ArrowLeft")  # scrubbing asks the server for one step of the key
    expect(card).to_have_attribute("data-step", "1")
    assert pixel(page, "val/../img", 0, 0) == [20, 0, 0, 255]
    assert page.console_errors == []


def test_infinite_heatmap_cells_read_as_inf_and_have_colours_of_their_own(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    run = create_run(api, "e2e", "heat inf")
    producer = MediaProducer(api, run["id"])
    values = [0.0, math.inf, math.nan, -math.inf, 1.0, 0.5]  # 3 wide, 2 high
    producer.send_media([producer.record("acts", 0, f32(values), F32, 3, 2)])
    open_media(page, server, run["id"])
    hm = panel(page, "acts")
    expect(hm).to_have_attribute("data-step", "0")
    plus, nan, minus = (
        pixel(page, "acts", 1, 0),
        pixel(page, "acts", 2, 0),
        pixel(page, "acts", 0, 1),
    )
    ramp = (pixel(page, "acts", 0, 0), pixel(page, "acts", 1, 1))  # the scale's ends
    assert nan == [40, 44, 52, 255]
    assert len({tuple(plus), tuple(minus), tuple(nan), *map(tuple, ramp)}) == 5
    legend = hm.locator(".media-legend .media-offscale")
    expect(legend).to_have_text(["NaN", "+inf", "\N{MINUS SIGN}inf"])
    for kind, rgba in (("nan", nan), ("pos", plus), ("neg", minus)):
        swatch = hm.locator(f'.media-offscale[data-kind="{kind}"] .media-swatch')
        r, g, b = rgba[:3]
        expect(swatch).to_have_css("background-color", f"rgb({r}, {g}, {b})")
    box = hm.locator("canvas.media-canvas").bounding_box()
    assert box is not None
    readout = hm.locator(".media-readout")
    for (col, row), text in (
        ((1, 0), "+inf"),
        ((0, 1), "\N{MINUS SIGN}inf"),
        ((2, 0), "NaN"),
        ((2, 1), "0.5"),
    ):
        page.mouse.move(
            box["x"] + box["width"] * (col + 0.5) / 3, box["y"] + box["height"] * (row + 0.5) / 2
        )
        expect(readout).to_have_text(f"x {col}, y {row} · {text}")
    assert page.console_errors == []


def test_keys_past_the_caps_are_counted_in_the_badge_and_a_notice(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    run = create_run(api, "e2e", "many keys")
    producer = MediaProducer(api, run["id"])
    image = png(2, 2, stepped(1))
    producer.send_media(
        [producer.record(f"img/{i:03d}", 0, image, "image/png", 2, 2) for i in range(205)],
        histograms=[histogram(f"hist/{i:03d}", 0, [0.0, 1.0], [1]) for i in range(103)],
    )
    open_media(page, server, run["id"])
    view = page.locator("#media-view")
    expect(view.locator(".media-panel")).to_have_count(200)
    expect(view.locator(".dist-panel")).to_have_count(100)
    expect(page.locator("#media-tab-count")).to_have_text("308")
    notes = view.locator(".media-capped:visible")
    expect(notes).to_have_text(
        [
            "showing 200 of 205 image keys (the first in key order)",
            "showing 100 of 103 histogram keys (the first in key order)",
        ]
    )
    expect(panel(page, "img/199")).to_have_count(1)
    expect(panel(page, "img/200")).to_have_count(0)

    producer.image("img/zzz", 1, image, 2, 2)  # a new key, live, past the cap
    expect(page.locator("#media-tab-count")).to_have_text("309")
    expect(notes.first).to_have_text("showing 200 of 206 image keys (the first in key order)")
    assert page.console_errors == []
