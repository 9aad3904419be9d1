"""Acting on a run from its page, with real SDK producers: cancel, a user command from the feed,
promotion (and the /promoted page), and the token prompt of a server that needs a token."""

from __future__ import annotations

import hashlib
import itertools
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

import runwatch
from runwatch.tokens import create
from tests.conftest import ARTIFACTS
from tests.e2e.helpers import Producer, create_run, rows
from tests.e2e.widgets import TrainingLoop, open_run, run_info
from tests.servers import ServerProcess

pytestmark = pytest.mark.e2e


def record_states(page: Page, selector: str) -> None:
    """Remember every data-state the element at ``selector`` takes from now on (page side)."""
    page.evaluate(
        """sel => {
            window.__states = [];
            const seen = () => {
                const el = document.querySelector(sel);
                const s = el && !el.hidden && el.dataset.state;
                if (s && window.__states[window.__states.length - 1] !== s) window.__states.push(s);
            };
            new MutationObserver(seen).observe(document.body, {
                subtree: true, attributes: true, childList: true, attributeFilter: ['data-state', 'hidden'],
            });
        }""",
        selector,
    )


def recorded_states(page: Page) -> list[str]:
    states: list[str] = page.evaluate("() => window.__states")
    return states


def in_order(states: list[str]) -> bool:
    rank = {"pending": 0, "delivered": 1, "applied": 2, "failed": 2}
    return all(rank[a] < rank[b] for a, b in itertools.pairwise(states))


def test_cancel_on_the_page_stops_a_live_producer(
    page: Page, server: ServerProcess, tmp_path: Path
) -> None:
    loop = TrainingLoop(server, tmp_path / "run", "cancel-me").start()
    try:
        open_run(page, server, loop.run.id)
        page.evaluate("() => { window.__sameDocument = true; }")
        expect(page.locator("#run-status")).to_have_text("running")
        expect(page.locator('#charts .chart[data-key="loss"]')).to_be_visible()
        record_states(page, "#cancel-state")

        page.locator("#cancel-run").click()  # asks first ...
        expect(page.locator("#cancel-confirm")).to_be_visible()
        page.locator("#cancel-keep").click()  # ... and "keep running" changes nothing
        expect(page.locator("#cancel-run")).to_be_visible()
        assert loop.stopped_at is None
        page.locator("#cancel-run").click()
        confirm = page.locator("#cancel-confirm")
        expect(confirm).to_be_enabled()
        clicked = time.monotonic()
        confirm.click()
        loop.join()  # how soon is a benchmark's question; that it stops, and why, is ours
        assert loop.run.should_stop and not loop.stop.is_set()
        assert loop.stopped_at is not None and loop.stopped_at > clicked

        # The page follows without a reload: status, badge, command state.
        expect(page.locator("#run-status")).to_have_text("cancelled")
        expect(page.locator("#run-status")).to_have_attribute("data-tone", "warn")
        expect(page.locator("#live-badge")).to_have_text("● finished")
        expect(page.locator("#cancel-state")).to_have_attribute("data-state", "applied")
        expect(page.locator("#cancel-state")).to_have_text("cancel applied ✓")
        expect(page.locator("#cancel-run")).to_be_hidden()
        states = recorded_states(page)
        assert states[-1] == "applied" and in_order(states), states
        assert page.evaluate("() => window.__sameDocument") is True
        with server.client() as c:
            assert run_info(c, loop.run.id)["status"] == "cancelled"
            commands = c.get(f"/api/v1/runs/{loop.run.id}/commands").json()["commands"]
            assert [(cmd["kind"], cmd["state"]) for cmd in commands] == [("cancel", "applied")]
        assert page.console_errors == []
    finally:
        loop.close()


def test_deprecate_from_the_feed_runs_the_producers_handler_once(
    page: Page, server: ServerProcess, tmp_path: Path
) -> None:
    loop = TrainingLoop(server, tmp_path / "run", "deprecations")
    calls: list[tuple[dict[str, Any], str]] = []

    def deprecate(payload: dict[str, Any]) -> None:
        calls.append((payload, threading.current_thread().name))
        loop.run.event("deprecate", entity=payload["entity"], reason="from the dashboard")

    loop.run.on_command("deprecate", deprecate)
    loop.run.event("birth", entity=47, size=12)
    loop.run.event("birth", entity=48, size=3)
    loop.start()
    try:
        open_run(page, server, loop.run.id)
        row = page.locator('#event-feed .event[data-kind="birth"][data-entity="47"]')
        expect(row).to_be_visible()
        record_states(page, '#event-feed .event[data-entity="47"] .ev-cmd')
        row.hover()
        row.locator(".ev-action").click()

        chip = row.locator(".ev-cmd")
        expect(chip).to_have_attribute("data-state", "applied")
        expect(chip).to_have_text("deprecate applied ✓")
        expect(row.locator(".ev-action")).to_be_hidden()  # sent: the chip replaces the button
        feed = page.locator("#event-feed")
        deprecated = feed.locator('.event[data-kind="deprecate"][data-entity="47"]')
        expect(deprecated).to_have_count(1)
        expect(deprecated).to_contain_text("reason=from the dashboard")
        # Every row of the entity shows its command's state, the new one included.
        expect(deprecated.locator(".ev-cmd")).to_have_attribute("data-state", "applied")
        expect(feed.locator('.event[data-entity="48"] .ev-cmd')).to_be_hidden()
        states = recorded_states(page)
        assert states[-1] == "applied" and in_order(states), states

        loop.stop.set()
        loop.join()
        assert calls == [({"entity": 47}, "training-loop")]  # once, on the training thread
        # Over: the Deprecate action is gone from every row.
        expect(page.locator("#run-status")).to_have_text("succeeded")
        expect(feed.locator('.event[data-entity="48"] .ev-action')).to_be_hidden()
        with server.client() as c:
            commands = c.get(f"/api/v1/runs/{loop.run.id}/commands").json()["commands"]
            assert [(cmd["kind"], cmd["payload"], cmd["state"]) for cmd in commands] == [
                ("deprecate", {"entity": 47}, "applied")
            ]
        assert page.console_errors == []
    finally:
        loop.close()


def test_promote_a_succeeded_run_with_its_artifact_and_list_it(
    page: Page, server: ServerProcess, tmp_path: Path
) -> None:
    run_dir = tmp_path / "run"
    run = runwatch.init(project="vision", name="resnet-final", url=server.url, run_dir=run_dir)
    run.log({"acc": 0.91}, step=0)
    weights = bytes(range(256)) * 4096
    (run_dir / "model.pt").write_bytes(weights)
    run.finish()

    open_run(page, server, run.id, state="closed")
    expect(page.locator("#run-status")).to_have_text("succeeded")
    expect(page.locator("#promote-form")).to_be_visible()
    page.fill("#promote-name", "prod-candidate")
    page.fill("#promote-artifact", "missing.pt")
    page.click("#promote-submit")
    expect(page.locator("#promote-error")).to_have_text("no file 'missing.pt' in the run directory")
    expect(page.locator("#promote-submit")).to_be_enabled()

    page.fill("#promote-artifact", "model.pt")
    page.click("#promote-submit")
    expect(page.locator("#promote-sha")).to_have_text(hashlib.sha256(weights).hexdigest())
    expect(page.locator("#promote-error")).to_be_hidden()
    expect(page.locator("#promote-submit")).to_have_text("✓ promoted")
    expect(page.locator("#promote-submit")).to_be_disabled()
    expect(page.locator("#promote-name")).to_be_disabled()
    expect(page.locator("#promote-artifact")).to_be_disabled()

    # A second promotion without an artifact, so the list shows both kinds.
    with server.client() as c:
        other = create_run(c, "nlp", "bert-small")
        Producer(c, other["id"]).finish("succeeded")
        response = c.post(f"/api/v1/runs/{other['id']}/promote", json={"name": "baseline"})
        assert response.status_code == 201, response.text

    page.click(".promote-link")
    expect(page).to_have_url(f"{server.url}/promoted")
    rows_ = page.locator("#promoted tr")
    expect(rows_).to_have_count(2)
    first = rows_.first  # newest first
    expect(first.locator(".run-link")).to_have_text("bert-small")
    mine = page.locator(f'#promoted tr[data-run="{run.id}"]')
    expect(mine.locator(".run-link")).to_have_text("resnet-final")
    expect(mine.locator(".run-link")).to_have_attribute("href", f"/runs/{run.id}")
    expect(mine.locator(".col-project")).to_have_text("vision")
    expect(mine.locator(".col-name")).to_have_text("prod-candidate")
    expect(mine.locator(".col-artifact")).to_have_text("model.pt")
    expect(mine.locator(".sha")).to_have_text(hashlib.sha256(weights).hexdigest())
    expect(mine.locator(".col-updated")).to_have_text("just now")
    expect(page.locator("#promoted-count")).to_have_text("2 promoted")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "promoted.png"))
    # Chromium reports the 404 for missing.pt itself; nothing else may appear.
    assert all("404" in e for e in page.console_errors), page.console_errors


def test_a_failed_run_is_not_offered_promote(
    page: Page, server: ServerProcess, api: httpx.Client, tmp_path: Path
) -> None:
    with (
        pytest.raises(RuntimeError),
        runwatch.init(
            project="e2e", name="diverged", url=server.url, run_dir=tmp_path / "run"
        ) as run,
    ):
        run.log({"loss": 1.0}, step=0)
        raise RuntimeError("loss diverged at step 0")

    open_run(page, server, run.id, state="closed")
    expect(page.locator("#run-status")).to_have_text("failed")
    expect(page.locator("#run-error")).to_contain_text("Traceback (most recent call last)")
    expect(page.locator("#run-error")).to_contain_text("RuntimeError: loss diverged at step 0")
    expect(page.locator("#cancel-run")).to_be_hidden()
    # The server would refuse it, so the page does not offer it.
    expect(page.locator(".control-promote")).to_be_hidden()
    expect(page.locator("#promote-submit")).to_be_hidden()
    expect(page.get_by_role("button", name="Promote")).to_have_count(0)
    refused = api.post(f"/api/v1/runs/{run.id}/promote", json={"name": "hopeful"})
    assert refused.status_code == 409
    assert page.console_errors == []


def test_token_prompt_stores_the_token_for_the_tab_and_loads_the_run(
    page: Page, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    # `create` runs its own event loop: on another thread than Playwright's.
    with ThreadPoolExecutor(1) as pool:
        token, _ = pool.submit(create, data, "admin", None, None, "t").result()
    proc = ServerProcess(data).start()
    try:
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=proc.url, headers=headers, timeout=10) as client:
            run = create_run(client, "e2e", "guarded")
            Producer(client, run["id"]).send(rows(range(3), loss=[3.0, 2.0, 1.0]))

        page.goto(f"{proc.url}/runs/{run['id']}")
        prompt = page.locator("#token-prompt")
        expect(prompt).to_be_visible()
        expect(page.locator("#token-error")).to_be_hidden()
        page.fill("#token-input", "not-the-token")
        with page.expect_navigation():
            page.click("#token-submit")
        expect(prompt).to_be_visible()
        expect(page.locator("#token-error")).to_contain_text("refused this token")

        page.fill("#token-input", token)
        with page.expect_navigation():
            page.click("#token-submit")
        expect(page.locator("#conn")).to_have_attribute("data-state", "live")
        expect(prompt).to_be_hidden()
        expect(page.locator('#charts .chart[data-key="loss"]')).to_have_attribute(
            "data-points", "3"
        )
        expect(page.locator("#run-name")).to_have_text("guarded")
        stored = page.evaluate(
            "() => [sessionStorage.getItem('runwatch_token'), localStorage.length, document.cookie]"
        )
        assert stored == [token, 0, ""]
        # Chromium logs the refused requests itself; nothing else may appear.
        assert all("401" in e for e in page.console_errors), page.console_errors
    finally:
        proc.stop()
