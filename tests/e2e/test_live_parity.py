"""The run page is the same live or reloaded, in a real Chromium: vitals and chart keys that
first appear after the page opened join it live; the feed holds the same newest 500 events
either way; a kind filter asks the server; the entity drawer stays clear of the feed's actions,
which are offered only on entities the producer can act on and hit the entity clicked."""

from __future__ import annotations

import threading

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.charts import chart
from tests.e2e.helpers import Producer, create_run, event, handles, rows
from tests.e2e.widgets import XSS, ObjectProducer, no_script_ran, open_run
from tests.servers import ServerProcess

pytestmark = pytest.mark.e2e


def card_keys(page: Page) -> list[str]:
    keys: list[str] = page.locator("#vitals .vital").evaluate_all(
        "els => els.map(e => e.dataset.key)"
    )
    return keys


def chart_keys(page: Page) -> list[str]:
    keys: list[str] = page.locator("#charts .chart").evaluate_all(
        "els => els.map(e => e.dataset.key)"
    )
    return keys


def feed_seqs(page: Page) -> list[int]:
    seqs: list[int] = page.locator("#event-feed .event").evaluate_all(
        "els => els.map(e => Number(e.dataset.seq))"
    )
    return seqs


def overlaps(a: dict[str, float], b: dict[str, float]) -> bool:
    return (
        a["x"] < b["x"] + b["width"]
        and b["x"] < a["x"] + a["width"]
        and a["y"] < b["y"] + b["height"]
        and b["y"] < a["y"] + a["height"]
    )


def test_a_vital_and_a_metric_first_logged_after_opening_appear_live(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    run = create_run(api, "e2e", "late-vital")
    producer = ObjectProducer(api, run["id"])
    producer.send_objects(points=rows(range(3), loss=[1.0, 0.5, 0.25]))
    open_run(page, server, run["id"])
    expect(page.locator("#charts .chart")).to_have_count(1)
    expect(page.locator("#vitals")).to_be_hidden()

    # Marked in the same batch as its first points (the SDK's log(..., vital=True)), plus a
    # metric key no chart has yet, and a hostile key that must stay text.
    producer.send_objects(
        points=rows(range(3, 6), throughput=[100.0, 200.0, 300.0], acc=[0.1, 0.2, 0.3]),
        vitals=["throughput"],
    )
    producer.send_objects(points=rows(range(6, 8), **{XSS: [1.0, 2.0]}), vitals=[XSS])
    card = page.locator('#vitals .vital[data-key="throughput"]')
    expect(card).to_be_visible()
    expect(card).to_have_attribute("data-samples", "3")
    expect(chart(page, "acc")).to_be_visible()
    expect(page.locator("#vitals .vital")).to_have_count(2)
    producer.send_objects(points=rows([8], throughput=[400.0]))
    expect(card).to_have_attribute("data-samples", "4")  # and it keeps streaming
    live_cards, live_charts = card_keys(page), chart_keys(page)
    live_value = card.locator(".vital-value").inner_text()
    assert live_cards == ["throughput", XSS]
    assert no_script_ran(page)

    page.reload()
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    expect(page.locator("#vitals .vital")).to_have_count(2)
    assert card_keys(page) == live_cards
    expect(chart(page, "acc")).to_be_visible()
    assert chart_keys(page) == live_charts
    expect(card).to_have_attribute("data-samples", "4")
    expect(card.locator(".vital-value")).to_have_text(live_value)
    assert page.console_errors == []  # type: ignore[attr-defined]


def test_602_events_live_and_reloaded_show_the_same_500_rows_and_count(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    run = create_run(api, "e2e", "chatty")
    producer = Producer(api, run["id"])
    open_run(page, server, run["id"])
    for at in range(0, 602, 100):
        producer.send(events=[event("tick", i=i) for i in range(at, min(at + 100, 602))])
    items = page.locator("#event-feed .event")
    expect(items.first).to_contain_text("i=601")
    expect(items).to_have_count(500)
    expect(page.locator("#feed-count")).to_have_text("latest 500")
    live = feed_seqs(page)
    assert live == sorted(live, reverse=True) and len(set(live)) == 500

    page.reload()
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    expect(items).to_have_count(500)
    expect(page.locator("#feed-count")).to_have_text("latest 500")
    assert feed_seqs(page) == live
    assert page.console_errors == []  # type: ignore[attr-defined]


def test_a_kind_filter_asks_the_server_for_events_beyond_the_loaded_500(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    run = create_run(api, "e2e", "old-kind")
    producer = Producer(api, run["id"])
    producer.send(events=[event("checkpoint", n=0)])
    for at in range(0, 600, 100):
        producer.send(events=[event("tick", i=i) for i in range(at, at + 100)])
    producer.send(events=[event("checkpoint", n=1)])
    open_run(page, server, run["id"])
    feed = page.locator("#event-feed")
    expect(feed.locator(".event")).to_have_count(500)
    expect(feed.locator('.event[data-kind="checkpoint"]')).to_have_count(1)  # only the new one

    with page.expect_request(
        lambda r: f"/api/v1/runs/{run['id']}/events?" in r.url and "kind=checkpoint" in r.url
    ):
        page.select_option("#feed-kind", "checkpoint")
    rows_shown = feed.locator(".event:visible")
    expect(rows_shown).to_have_count(2)
    expect(rows_shown.nth(0)).to_contain_text("n=1")
    expect(rows_shown.nth(1)).to_contain_text("n=0")  # older than the 500 the page loaded
    expect(page.locator("#feed-count")).to_have_text("2")

    producer.send(events=[event("checkpoint", n=2), event("tick", i=600)])
    expect(rows_shown).to_have_count(3)  # live rows of the kind join; the tick does not
    expect(rows_shown.first).to_contain_text("n=2")
    page.select_option("#feed-kind", "")
    expect(feed.locator(".event")).to_have_count(500)
    expect(feed.locator(".event").first).to_contain_text("i=600")
    assert page.console_errors == []  # type: ignore[attr-defined]


def test_the_entity_drawer_does_not_cover_the_feeds_actions(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    page.set_viewport_size({"width": 1400, "height": 900})
    run = create_run(api, "e2e", "drawer")
    handles(api, run["id"], "deprecate")
    Producer(api, run["id"]).send(events=[event("birth", entity=k, size=k) for k in range(1, 13)])
    open_run(page, server, run["id"])
    feed = page.locator("#event-feed")
    expect(feed).to_have_attribute("data-actions", "on")
    feed.locator('.event[data-entity="3"] .ev-entity').click()
    drawer = page.locator("#entity-panel")
    expect(drawer).to_be_visible()
    expect(drawer.locator(".eh-event")).to_have_count(1)
    box = drawer.bounding_box()
    assert box is not None and box["width"] > 300

    actions = feed.locator(".event .ev-action")
    expect(actions).to_have_count(12)
    for k in range(12):
        button = actions.nth(k)
        button.scroll_into_view_if_needed()
        target = button.bounding_box()
        assert target is not None and target["width"] > 0, k
        assert not overlaps(target, box), (k, target, box)
    # And the one under the pointer takes the click (nothing lies over it).
    row = feed.locator('.event[data-entity="7"]')
    row.hover()
    row.locator(".ev-action").click(trial=True)
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 1400
    page.keyboard.press("Escape")
    expect(drawer).to_be_hidden()
    assert page.console_errors == []  # type: ignore[attr-defined]


def test_actions_are_offered_only_on_entities_not_rejected(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    run = create_run(api, "e2e", "candidates")
    handles(api, run["id"], "deprecate")
    producer = Producer(api, run["id"])
    producer.send(
        events=[
            event("birth", entity=47),
            event("candidate.proposed", entity=99),
            event("candidate.rejected", entity=99, reason="duplicate"),
            event("reject", entity=98),
        ]
    )
    open_run(page, server, run["id"])
    feed = page.locator("#event-feed")
    expect(feed).to_have_attribute("data-actions", "on")
    alive = feed.locator('.event[data-entity="47"]')
    alive.hover()
    expect(alive.locator(".ev-action")).to_be_visible()
    for entity in ("99", "98"):
        for k in range(feed.locator(f'.event[data-entity="{entity}"]').count()):
            row = feed.locator(f'.event[data-entity="{entity}"]').nth(k)
            row.hover()
            expect(row.locator(".ev-action")).to_be_hidden()
    # Rejected live: every row of the entity loses its action, the older ones too.
    producer.send(events=[event("candidate.rejected", entity=47)])
    expect(feed.locator('.event[data-entity="47"]')).to_have_count(2)
    expect(feed.locator('.event[data-entity="47"][data-actionable="false"]')).to_have_count(2)
    alive.last.hover()
    expect(alive.last.locator(".ev-action")).to_be_hidden()
    assert page.console_errors == []  # type: ignore[attr-defined]


def test_an_action_clicked_while_rows_stream_in_targets_the_clicked_entity(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    run = create_run(api, "e2e", "streaming")
    handles(api, run["id"], "deprecate")
    producer = Producer(api, run["id"])
    producer.send(events=[event("birth", entity=k) for k in range(1, 21)])
    open_run(page, server, run["id"])
    feed = page.locator("#event-feed")
    expect(feed).to_have_attribute("data-actions", "on")
    target = feed.locator('.event[data-entity="18"] .ev-action')
    feed.locator('.event[data-entity="18"]').hover()
    before = target.bounding_box()
    assert before is not None
    x, y = before["x"] + before["width"] / 2, before["y"] + before["height"] / 2
    page.mouse.move(x, y)

    # New rows arrive above while the pointer rests on #18's Deprecate.
    producer.send(events=[event("birth", entity=1000 + k) for k in range(10)])
    expect(feed.locator(".event").first).to_have_attribute("data-entity", "1009")
    stop = threading.Event()

    def stream() -> None:
        with server.client() as client:
            more = Producer(client, run["id"], name="stream")
            k = 0
            while not stop.is_set() and k < 200:
                more.send(events=[event("birth", entity=2000 + k)])
                k += 1

    streamer = threading.Thread(target=stream, name="stream", daemon=True)
    streamer.start()
    try:
        expect(feed.locator(".event").first).not_to_have_attribute("data-entity", "1009")
        page.mouse.down()
        page.mouse.up()
    finally:
        stop.set()
        streamer.join(20)
    # The row stayed under the pointer (its button gave way to the command's state).
    after = feed.locator('.event[data-entity="18"]').bounding_box()
    assert after is not None and after["y"] <= y <= after["y"] + after["height"], (y, after)

    expect(feed.locator('.event[data-entity="18"] .ev-cmd')).to_be_visible()
    commands = api.get(f"/api/v1/runs/{run['id']}/commands").json()["commands"]
    assert [(c["kind"], c["payload"]) for c in commands] == [("deprecate", {"entity": 18})]
    assert page.console_errors == []  # type: ignore[attr-defined]


def test_charts_are_capped_at_the_first_200_keys_live_or_reloaded(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    run = create_run(api, "e2e", "many-keys")
    producer = ObjectProducer(api, run["id"])
    keys = [f"m{k:03d}" for k in range(201)]
    producer.send_objects(points=rows([0], **{key: [1.0] for key in keys}))
    open_run(page, server, run["id"])
    charts = page.locator("#charts .chart")
    expect(charts).to_have_count(200)
    expect(page.locator("#chart-count")).to_have_text("200 charts (the first 200 keys)")
    assert chart_keys(page) == keys[:200]

    # A key that sorts first joins live and takes the last key's place; a later one does not.
    producer.send_objects(points=rows([1], a000=[2.0], z999=[3.0]))
    expect(chart(page, "a000")).to_be_visible()
    expect(charts).to_have_count(200)
    live = chart_keys(page)
    assert live == ["a000", *keys[:199]]

    page.reload()
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    expect(charts).to_have_count(200)
    assert chart_keys(page) == live
    assert page.console_errors == []  # type: ignore[attr-defined]


def test_a_config_change_after_the_start_shows_live_as_text(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    run = create_run(api, "e2e", "late-config")
    producer = ObjectProducer(api, run["id"])
    open_run(page, server, run["id"])
    producer.send_objects(config=[{"lr": 0.01}, {XSS: "<b>x</b>", "batch": 32}])
    config = page.locator("#config")
    expect(config).to_contain_text("0.01")
    expect(config).to_contain_text("batch")
    expect(page.locator("#config-count")).to_have_text("3")
    assert no_script_ran(page)
    page.reload()
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    expect(page.locator("#config-count")).to_have_text("3")
    assert page.console_errors == []  # type: ignore[attr-defined]
