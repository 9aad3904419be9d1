"""The command kinds a real SDK producer registers (`run.on_command`) are offered on its run page:
on each feed row naming an entity the producer can act on, in the entity drawer, and on the
newest entity; each click is one command (a double-click too), received once by the handler
with the entity clicked."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.widgets import TrainingLoop, open_run
from tests.servers import ServerProcess, wait_until

pytestmark = pytest.mark.e2e


def test_a_registered_kind_is_offered_and_each_click_is_one_command(
    page: Page, server: ServerProcess, tmp_path: Path
) -> None:
    loop = TrainingLoop(server, tmp_path / "run", "kinds")
    calls: list[dict[str, Any]] = []
    lock = threading.Lock()

    def split(payload: dict[str, Any]) -> None:
        with lock:
            calls.append(payload)
        if payload["entity"] == 50:
            raise ValueError("entity 50 is too small to split")
        loop.run.event("split", entity=payload["entity"], into=2)

    loop.run.on_command("split", split)
    loop.run.event("birth", entity=47, size=12)
    loop.run.event("birth", entity=48, size=3)
    loop.run.event("birth", entity=50, size=1)
    loop.run.event("reject", entity=49, reason="<b>too small</b>")  # a rejected candidate
    loop.start()
    try:
        open_run(page, server, loop.run.id)
        feed = page.locator("#event-feed")
        row47 = feed.locator('.event[data-kind="birth"][data-entity="47"]')
        expect(row47.locator('.ev-action[data-action="split"]')).to_have_count(1)
        # Only what the producer handles is offered: no Deprecate, no Cancel per entity.
        expect(row47.locator(".ev-action")).to_have_count(1)
        expect(row47.locator(".ev-action")).to_have_text("Split")
        rejected = feed.locator('.event[data-entity="49"] .ev-action')
        expect(rejected).to_be_hidden()

        # The newest entity the producer can act on: #50 (#49 was rejected).
        bar = page.locator("#feed-newest-bar")
        expect(bar).to_be_visible()
        newest = page.locator("#feed-newest")
        expect(newest).to_have_attribute("data-entity", "50")
        newest_split = newest.locator('button[data-kind="split"]')
        expect(newest_split).to_have_text("Split newest")
        newest_split.dblclick()  # one intent: one command
        chip = newest.locator(".cmd-state")
        expect(chip).to_have_attribute("data-state", "failed")
        # Failed shows failed, with the handler's message (as text).
        expect(chip).to_contain_text("ValueError: entity 50 is too small to split")
        expect(newest_split).to_be_enabled()

        # A feed row: a double-click is one command for the row's own entity.
        row47.hover()
        row47.locator('.ev-action[data-action="split"]').dblclick()
        row_chip = row47.locator(".ev-cmd")
        expect(row_chip).to_have_attribute("data-state", "applied")
        expect(row_chip).to_have_text("split applied ✓")
        expect(feed.locator('.event[data-kind="split"][data-entity="47"]')).to_have_count(1)

        # The drawer offers the same commands for the entity it shows.
        feed.locator('.event[data-kind="birth"][data-entity="48"] .ev-entity').click()
        drawer = page.locator("#entity-panel")
        expect(drawer).to_have_attribute("data-entity", "48")
        drawer_split = drawer.locator('.eh-actions button[data-kind="split"]')
        expect(drawer_split).to_be_visible()
        drawer_split.dblclick()
        expect(drawer.locator(".eh-actions .cmd-state")).to_have_attribute("data-state", "applied")
        expect(drawer.locator('.eh-event[data-kind="split"]')).to_have_count(1)

        wait_until(lambda: len(calls) == 3, timeout=10)
        loop.stop.set()
        loop.join()
        assert sorted(c["entity"] for c in calls) == [47, 48, 50]  # each once, as clicked
        with server.client() as c:
            commands = c.get(f"/api/v1/runs/{loop.run.id}/commands").json()["commands"]
        assert sorted((cmd["payload"]["entity"], cmd["state"]) for cmd in commands) == [
            (47, "applied"),
            (48, "applied"),
            (50, "failed"),
        ]
        expect(bar).to_be_hidden()  # the run is over: nothing to command
        assert page.evaluate("() => document.querySelector('b') === null")
        assert page.console_errors == []
    finally:
        loop.close()
