"""An entity is one place: clicking it opens its history and the image and snapshot keys logged
for it (`entity=`), each a click away from where the page shows it."""

from __future__ import annotations

import struct
import time
from hashlib import sha256

import httpx
import pytest
from playwright.sync_api import Locator, Page, expect

from tests.e2e.helpers import create_run, event
from tests.e2e.media import F32, I32, MediaProducer, f32, png
from tests.e2e.widgets import XSS, open_run
from tests.servers import ServerProcess

pytestmark = pytest.mark.e2e


def test_the_drawer_lists_an_entitys_images_and_snapshots(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    run = create_run(api, "e2e", "entity-media")
    producer = MediaProducer(api, run["id"])
    red = png(4, 2, lambda x, y: (255, 0, 0))
    producer.send_media(
        [
            producer.record("footprint/47", 1, red, "image/png", 4, 2, entity=47),
            producer.record("footprint/47", 2, red, "image/png", 4, 2, entity=47),
            producer.record("footprint/48", 1, red, "image/png", 4, 2, entity=48),
        ],
        events=[event("birth", entity=47, size=12), event("birth", entity=48, size=3)],
    )
    now = time.time()
    snapshots = [
        {"key": "shape/47", "step": 1, "ts": now, "value": [1, 2], "entity": 47},
        {"key": f"note/{XSS}", "step": 1, "ts": now, "value": {"a": 1}, "entity": 47},
        {"key": "shape/48", "step": 1, "ts": now, "value": [3], "entity": 48},
    ]
    body = {"producer": "e2e", "batch_seq": 90, "snapshots": snapshots}
    assert api.post(f"/api/v1/runs/{run['id']}/batches", json=body).status_code == 200

    open_run(page, server, run["id"])
    page.locator('#event-feed .event[data-entity="47"] .ev-entity').click()
    drawer = page.locator("#entity-panel")
    expect(drawer).to_have_attribute("data-entity", "47")
    expect(drawer.locator(".eh-event")).to_have_count(1)
    images = drawer.locator(".em-images .em-item")
    expect(images).to_have_count(1)
    expect(images.first).to_have_attribute("data-key", "footprint/47")
    expect(images.first.locator(".em-detail")).to_have_text("image · step 2 · 2 kept")
    snaps = drawer.locator(".em-snapshots .em-item")
    expect(snaps).to_have_count(2)
    expect(snaps.locator(".em-key")).to_have_text([f"note/{XSS}", "shape/47"])  # as text

    # A snapshot key opens in the scrubber; an image key's panel in the Media tab.
    snaps.locator(".em-key", has_text="shape/47").click()
    expect(page.locator("#snap-key")).to_have_value("shape/47")
    images.first.locator(".em-key").click()
    expect(page.locator("#media-view")).to_be_visible()
    shown = page.locator('#media-view .media-panel[data-key="footprint/47"]')
    expect(shown).to_have_attribute("data-revealed", "true")
    expect(page.locator('#media-view .media-panel[data-key="footprint/48"]')).not_to_have_attribute(
        "data-revealed", "true"
    )

    # Another entity: its own keys only.
    page.locator("#tab-live").click()
    page.locator('#event-feed .event[data-entity="48"] .ev-entity').click()
    expect(drawer).to_have_attribute("data-entity", "48")
    expect(drawer.locator(".em-images .em-item")).to_have_count(1)
    expect(drawer.locator(".em-images .em-item").first).to_have_attribute(
        "data-key", "footprint/48"
    )
    expect(drawer.locator(".em-snapshots .em-item")).to_have_count(1)
    assert page.evaluate("() => window.__xss") is None
    assert page.console_errors == []


def pixels(canvas: Locator) -> list[list[int]]:
    """The RGBA of a canvas's first two pixels of its top row."""
    rgba: list[list[int]] = canvas.evaluate(
        "c => [0, 1].map((x) => [...c.getContext('2d').getImageData(x, 0, 1, 1).data])"
    )
    return rgba


def test_each_image_key_shows_its_newest_image_and_a_click_on_it_reveals_the_key(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    run = create_run(api, "e2e", "entity-thumbs")
    producer = MediaProducer(api, run["id"])
    blue = png(4, 2, lambda x, y: (0, 0, 255))
    red = png(4, 2, lambda x, y: (255, 0, 0))
    tall = png(300, 600, lambda x, y: (0, 255, 0))
    producer.send_media(
        [
            producer.record("footprint/47", 1, blue, "image/png", 4, 2, entity=47),
            producer.record("footprint/47", 2, red, "image/png", 4, 2, entity=47),
            # 2 wide, 2 high: the older step's first cell is the scale's top, the newest's bottom.
            producer.record("activity/47", 1, f32([1.0, 0.0, 0.0, 0.0]), F32, 2, 2, entity=47),
            producer.record("activity/47", 2, f32([0.0, 1.0, 1.0, 1.0]), F32, 2, 2, entity=47),
            producer.record("tall/47", 1, tall, "image/png", 300, 600, entity=47),
        ],
        events=[event("birth", entity=47)],
    )
    found = api.get(f"/api/v1/runs/{run['id']}/entities/47/media").json()
    newest = {i["key"]: i["newest"]["sha256"] for i in found["images"]}

    open_run(page, server, run["id"])
    page.locator('#event-feed .event[data-entity="47"] .ev-entity').click()
    drawer = page.locator("#entity-panel")
    images = drawer.locator(".em-images .em-item")
    expect(images).to_have_count(3)
    png_thumb = drawer.locator('.em-item[data-key="footprint/47"] .em-thumb')
    raw_thumb = drawer.locator('.em-item[data-key="activity/47"] .em-thumb')
    expect(png_thumb).to_have_attribute("data-sha", newest["footprint/47"])
    expect(raw_thumb).to_have_attribute("data-sha", newest["activity/47"])

    # The PNG: the newest step's image (red), named by its key, 96 px tall, aspect kept.
    canvas = png_thumb.locator("canvas")
    expect(canvas).to_have_attribute("aria-label", "footprint/47")
    expect(canvas).to_have_attribute("data-kind", "image")
    assert pixels(canvas) == [[255, 0, 0, 255], [255, 0, 0, 255]]
    box = canvas.bounding_box()
    assert box is not None and (box["width"], box["height"]) == (192, 96)
    # A large image's thumbnail holds no more than 192 rows of it (twice its CSS height).
    tall_thumb = drawer.locator('.em-item[data-key="tall/47"] .em-thumb canvas')
    tall_thumb.scroll_into_view_if_needed()  # fetched once on screen
    expect(tall_thumb).to_have_attribute("data-kind", "image")
    assert tall_thumb.evaluate("c => [c.width, c.height]") == [96, 192]

    # The heatmap: drawn as the Media tab draws it, from the newest step's values.
    canvas = raw_thumb.locator("canvas")
    expect(canvas).to_have_attribute("aria-label", "activity/47")
    expect(canvas).to_have_attribute("data-kind", "heatmap")
    assert pixels(canvas) == [[68, 1, 84, 255], [253, 231, 37, 255]]  # the ramp's low, high end

    # A thumbnail does what its key does: reveal the key's panel in the Media tab.
    png_thumb.click()
    expect(page.locator("#media-view")).to_be_visible()
    expect(page.locator('#media-view .media-panel[data-key="footprint/47"]')).to_have_attribute(
        "data-revealed", "true"
    )
    raw_thumb.click()
    expect(page.locator('#media-view .media-panel[data-key="activity/47"]')).to_have_attribute(
        "data-revealed", "true"
    )
    expect(page.locator('#media-view .media-panel[data-key="footprint/47"]')).not_to_have_attribute(
        "data-revealed", "true"
    )
    assert page.console_errors == []


def test_an_event_naming_two_entities_is_in_both_drawers(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    run = create_run(api, "e2e", "merge")

    def send(seq: int, *events: dict[str, object]) -> None:
        body = {"producer": "e2e", "batch_seq": seq, "events": list(events)}
        assert api.post(f"/api/v1/runs/{run['id']}/batches", json=body).status_code == 200

    send(1, event("birth", entity=5), event("birth", entity=6))
    send(2, {**event("merged", entity=5, into=5), "entities": [5, 6]})
    open_run(page, server, run["id"])
    merged = page.locator("#event-feed .event", has_text="merged")
    expect(merged.locator(".ev-entity")).to_have_text(["#5", "#6"])
    drawer = page.locator("#entity-panel")
    merged.locator('.ev-entity[data-entity="6"]').click()
    expect(drawer).to_have_attribute("data-entity", "6")
    expect(drawer.locator(".eh-event")).to_have_count(2)  # its birth and the merge
    # Live: a split naming 6 second joins 6's open history.
    send(3, {**event("split", entity=7), "entities": [7, 6]})
    expect(drawer.locator(".eh-event")).to_have_count(3)
    merged.locator('.ev-entity[data-entity="5"]').click()
    expect(drawer).to_have_attribute("data-entity", "5")
    expect(drawer.locator(".eh-event")).to_have_count(2)
    assert page.console_errors == []


def test_the_open_drawer_follows_its_entitys_images_live(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    run = create_run(api, "e2e", "entity-live-media")
    producer = MediaProducer(api, run["id"])
    blue = png(4, 2, lambda x, y: (0, 0, 255))
    red = png(4, 2, lambda x, y: (255, 0, 0))
    producer.send_media(
        [
            producer.record("footprint/47", 1, blue, "image/png", 4, 2, entity=47),
            producer.record("footprint/48", 1, blue, "image/png", 4, 2, entity=48),
        ],
        events=[event("birth", entity=47), event("birth", entity=48)],
    )
    open_run(page, server, run["id"])
    page.locator('#event-feed .event[data-entity="47"] .ev-entity').click()
    drawer = page.locator("#entity-panel")
    images = drawer.locator(".em-images .em-item")
    footprint = drawer.locator('.em-item[data-key="footprint/47"]')
    expect(footprint.locator(".em-thumb")).to_have_attribute("data-sha", sha256(blue).hexdigest())
    footprint.evaluate("li => { li.dataset.mark = 'first'; }")

    # A new key of the entity joins the open drawer; the unchanged entry stays as it was drawn.
    producer.send_media([producer.record("mask/47", 2, red, "image/png", 4, 2, entity=47)])
    expect(images).to_have_count(2)
    expect(images.nth(0)).to_have_attribute("data-key", "footprint/47")
    expect(footprint).to_have_attribute("data-mark", "first")

    # A newer image of a listed key: its thumbnail and detail follow; another entity's do not.
    producer.send_media(
        [
            producer.record("footprint/48", 3, red, "image/png", 4, 2, entity=48),
            producer.record("footprint/47", 3, red, "image/png", 4, 2, entity=47),
        ]
    )
    expect(footprint.locator(".em-thumb")).to_have_attribute("data-sha", sha256(red).hexdigest())
    expect(footprint.locator(".em-detail")).to_have_text("image · step 3 · 2 kept")
    canvas = footprint.locator("canvas")
    expect(canvas).to_have_attribute("data-kind", "image")
    assert pixels(canvas) == [[255, 0, 0, 255], [255, 0, 0, 255]]
    expect(images).to_have_count(2)
    assert page.console_errors == []


def test_escape_closes_the_drawer_and_focus_returns_to_what_opened_it(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    run = create_run(api, "e2e", "entity-escape")
    body = {"producer": "e2e", "batch_seq": 1, "events": [event("birth", entity=5)]}
    assert api.post(f"/api/v1/runs/{run['id']}/batches", json=body).status_code == 200
    open_run(page, server, run["id"])
    drawer = page.locator("#entity-panel")
    link = page.locator('#event-feed .event[data-entity="5"] .ev-entity')
    link.click()
    expect(drawer).to_have_attribute("data-entity", "5")
    expect(drawer.locator(".eh-event")).to_have_count(1)
    # Escape in the feed's search box clears the box and leaves the drawer open.
    search = page.locator("#feed-filter")
    search.fill("birth")
    search.press("Escape")
    expect(search).to_have_value("")
    expect(drawer).to_be_visible()
    link.click()
    page.keyboard.press("Escape")
    expect(drawer).to_be_hidden()
    expect(link).to_be_focused()
    assert page.console_errors == []


def test_escape_closes_the_drawer_a_labelled_pixel_opened(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    run = create_run(api, "e2e", "entity-escape-media")
    producer = MediaProducer(api, run["id"])
    labels = struct.pack("<4i", 5, 5, 0, 0)  # 2 wide, 2 high
    producer.send_media(
        [producer.record("segmentation", 1, labels, I32, 2, 2)], events=[event("birth", entity=5)]
    )
    open_run(page, server, run["id"])
    page.locator("#tab-media").click()
    seg = page.locator('#media-view .media-panel[data-key="segmentation"]')
    expect(seg).to_have_attribute("data-step", "1")
    seg.locator("canvas.media-canvas").click(position={"x": 2, "y": 2})
    drawer = page.locator("#entity-panel")
    expect(drawer).to_have_attribute("data-entity", "5")
    expect(drawer.locator(".eh-event")).to_have_count(1)
    page.keyboard.press("Escape")
    expect(drawer).to_be_hidden()
    # Opened again from the picked entity's History button: Escape hands focus back to it.
    history = seg.locator(".media-entity-history")
    history.click()
    expect(drawer.locator(".eh-event")).to_have_count(1)
    page.keyboard.press("Escape")
    expect(drawer).to_be_hidden()
    expect(history).to_be_focused()
    assert page.console_errors == []
