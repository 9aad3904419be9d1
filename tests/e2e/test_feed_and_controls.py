"""The run page's feed, leaderboard and header in a real Chromium: kinds tone-coded by their
verb, durations shortened, long kinds readable, every column of a ten-column leaderboard in view
at 1,400 px, Promote only on succeeded runs, and no "● live" badge on a page that failed to
load."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.helpers import Producer, create_run, event
from tests.e2e.widgets import XSS, ObjectProducer, open_run
from tests.servers import ServerProcess

pytestmark = pytest.mark.e2e

LONG_KIND = "data.pipeline.shard_0042.tokenizer.vocabulary_rebuild.started"
# The tones' colours in style.css (--running, --ok, --bad), as computed styles read them.
TEAL, GREEN, RED = "rgb(45, 212, 191)", "rgb(74, 222, 128)", "rgb(248, 113, 113)"


def feed_row(page: Page, kind: str):  # type: ignore[no-untyped-def]
    return page.locator("#event-feed .event").filter(has=page.locator(".ev-kind", has_text=kind))


def test_feed_tones_kinds_by_verb_and_shortens_durations(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    run = create_run(api, "e2e", "feed")
    Producer(api, run["id"]).send(
        events=[
            event("setup.started"),
            event("model.fitted", duration_ms=3500),
            event("x.failed", step_ms=850),
            event(LONG_KIND),
            event(f"{XSS}.created", note=XSS),
        ]
    )
    open_run(page, server, run["id"])
    expect(page.locator("#event-feed .event")).to_have_count(6)  # with the "running" status

    for kind, tone, colour in [
        ("setup.started", "start", TEAL),
        ("model.fitted", "ok", GREEN),
        ("x.failed", "bad", RED),
    ]:
        row = feed_row(page, kind)
        expect(row).to_have_attribute("data-tone", tone)
        expect(row.locator(".ev-kind")).to_have_css("color", colour)
        expect(row.locator(".ev-kind")).to_have_text(kind)  # whole, not cut short
    expect(feed_row(page, "model.fitted").locator(".ev-desc")).to_have_text("duration=3.5s")
    expect(feed_row(page, "x.failed").locator(".ev-desc")).to_have_text("step=850ms")

    # A long kind stays inside its column, and its title holds it whole.
    long = feed_row(page, LONG_KIND).locator(".ev-kind")
    expect(long).to_have_attribute("title", LONG_KIND)
    fits = long.evaluate("e => e.scrollWidth <= e.clientWidth")
    assert fits
    # User-supplied kinds and payloads reach the page as text, never as HTML.
    hostile = page.locator("#event-feed .event[data-tone='ok']").filter(has_text="onerror")
    expect(hostile.locator(".ev-kind")).to_have_text(f"{XSS}.created")
    expect(page.locator("#event-feed img")).to_have_count(0)
    assert page.evaluate("() => window.__xss") is None


def test_promote_is_offered_only_on_a_succeeded_run(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    failed = create_run(api, "e2e", "failed")
    Producer(api, failed["id"]).finish("failed", error="boom", exit_code=1)
    won = create_run(api, "e2e", "won")
    Producer(api, won["id"]).finish("succeeded", exit_code=0)

    open_run(page, server, failed["id"], state="closed")
    expect(page.locator("#run-status")).to_have_text("failed")
    expect(page.locator("#run-controls")).to_be_hidden()
    expect(page.locator(".control-promote")).to_be_hidden()
    expect(page.get_by_role("button", name="Promote")).to_have_count(0)

    open_run(page, server, won["id"], state="closed")
    expect(page.locator("#run-status")).to_have_text("succeeded")
    expect(page.locator("#promote-submit")).to_be_visible()


def test_no_live_badge_on_a_page_that_failed_to_load(page: Page, server: ServerProcess) -> None:
    page.goto(f"{server.url}/runs/nosuchrun")
    expect(page.locator("#page-error")).to_have_text("No run with id “nosuchrun”.")
    expect(page.locator("#conn")).to_have_attribute("data-state", "error")
    expect(page.locator("#live-badge")).to_be_hidden()
    expect(page.get_by_text("● live")).to_have_count(0)


def test_no_live_badge_when_the_state_request_fails(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    run = create_run(api, "e2e", "unreachable")
    page.route("**/state", lambda route: route.abort())
    page.goto(f"{server.url}/runs/{run['id']}")
    expect(page.locator("#page-error")).to_be_visible()
    expect(page.locator("#conn")).to_have_attribute("data-state", "error")
    expect(page.locator("#live-badge")).to_be_hidden()
    page.unroute("**/state")
    page.reload()
    expect(page.locator("#live-badge")).to_have_text("● live")  # and it shows once loaded


def box_of(page: Page, selector: str) -> dict[str, float]:
    box = page.locator(selector).bounding_box()
    assert box is not None, selector
    return box


def test_a_ten_column_leaderboard_shows_every_column_at_1400_px(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    page.set_viewport_size({"width": 1400, "height": 900})
    run = create_run(api, "e2e", "wide")
    producer = ObjectProducer(api, run["id"])
    # A narrow table stays beside the feed, in the side column.
    producer.send_objects(tables=[{"name": "leaderboard", "rows": [{"genome": "g1", "fit": 0.5}]}])
    open_run(page, server, run["id"])
    panel = page.locator("#leaderboard-panel")
    expect(page.locator("#leaderboard th")).to_have_count(2)
    expect(panel).to_have_attribute("data-wide", "false")
    side = box_of(page, ".side")
    assert abs(box_of(page, "#leaderboard-panel")["x"] - side["x"]) <= 1
    assert box_of(page, "#leaderboard-panel")["width"] <= side["width"] + 1

    # Replaced live by ten long-named columns (while another tab shows: it is measured once the
    # live view is back): every header is whole and in view, with no scrolling.
    page.locator("#tab-logs").click()
    columns = [f"metric_number_{k}" for k in range(10)]
    rows = [{c: round(k * 1.2345 + i, 4) for k, c in enumerate(columns)} for i in range(3)]
    producer.send_objects(tables=[{"name": "leaderboard", "rows": rows}])
    expect(page.locator("#lb-count")).to_have_text("3 rows")
    page.locator("#tab-live").click()
    heads = page.locator("#leaderboard th")
    expect(heads).to_have_count(10)
    expect(panel).to_have_attribute("data-wide", "true")
    scroller = page.locator("#leaderboard .lb-scroll")
    assert scroller.evaluate("e => e.scrollWidth <= e.clientWidth"), "scrolls sideways"
    view = box_of(page, "#leaderboard .lb-scroll")
    assert view["x"] >= 0 and view["x"] + view["width"] <= 1400, view
    assert view["y"] >= 0 and view["y"] + view["height"] <= 900, view
    for k in range(10):
        head = heads.nth(k)
        expect(head).to_have_text(columns[k])
        box = head.bounding_box()
        assert box is not None
        assert view["x"] - 1 <= box["x"], (k, box, view)
        assert box["x"] + box["width"] <= view["x"] + view["width"] + 1, (k, box, view)
        assert view["y"] - 1 <= box["y"], (k, box, view)
        assert box["y"] + box["height"] <= view["y"] + view["height"] + 1, (k, box, view)
        # Readable: neither the name nor a value is cut short.
        assert head.locator(".lb-sort").evaluate("e => e.scrollWidth <= e.clientWidth"), k
    clipped = page.locator("#leaderboard td").evaluate_all(
        "cells => cells.filter(c => c.scrollWidth > c.clientWidth).length"
    )
    assert clipped == 0
    # Below the charts and the feed, not over them; the page itself does not scroll.
    assert view["y"] >= box_of(page, ".feed-panel")["y"] + box_of(page, ".feed-panel")["height"]
    assert view["y"] >= box_of(page, ".charts-panel")["y"] + box_of(page, ".charts-panel")["height"]
    size = page.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.scrollHeight]"
    )
    assert size == [1400, 900]
