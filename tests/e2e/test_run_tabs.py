"""The run page's tabs: keyboard use and the address's hash, the analytics-only notice for a
launched worker that never uses the SDK, and the tab modules' pure functions."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.helpers import create_run, rows
from tests.e2e.launched import Launch, finished, log_rows
from tests.e2e.widgets import ObjectProducer, open_run
from tests.servers import ServerProcess

pytestmark = pytest.mark.e2e

NOTICE = "This run reports through its logs and artifacts only"

PLAIN_WORKER = """
    import os, time
    run_dir = os.environ["RUNWATCH_RUN_DIR"]
    os.makedirs(os.path.join(run_dir, "checkpoints"), exist_ok=True)
    with open(os.path.join(run_dir, "checkpoints", "model.bin"), "wb") as f:
        f.write(b"\\0" * 2048)
    print("a worker that only prints", flush=True)
    while not os.path.exists(os.path.join(run_dir, "go")):
        time.sleep(0.05)  # the worker idles until the test says go
    print("bye", flush=True)
"""


def expect_selected(page: Page, name: str) -> None:
    """Wait until tab `name` is the selected one (a hash link selects on the async hashchange)."""
    expect(page.locator('#run-tabs [role="tab"][aria-selected="true"]')).to_have_attribute(
        "data-tab", name
    )


def test_tabs_work_from_the_keyboard_and_the_hash_survives_a_reload(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    run = create_run(api, "e2e", "tabs")
    open_run(page, server, run["id"])
    expect_selected(page, "live")
    expect(page.locator("#live-view")).to_be_visible()
    expect(page.locator("#live-view")).to_have_attribute("role", "tabpanel")
    expect(page.locator("#logs-view")).to_have_attribute("aria-labelledby", "tab-logs")
    expect(page.locator("#tab-live")).to_have_attribute("tabindex", "0")
    expect(page.locator("#tab-logs")).to_have_attribute("tabindex", "-1")

    page.locator("#tab-live").focus()
    page.keyboard.press("ArrowRight")
    expect_selected(page, "logs")
    expect(page.locator("#tab-logs")).to_be_focused()
    expect(page.locator("#logs-view")).to_be_visible()
    expect(page.locator("#live-view")).to_be_hidden()
    assert page.evaluate("() => location.hash") == "#logs"

    page.keyboard.press("End")
    expect_selected(page, "media")
    expect(page.locator("#media-view")).to_be_visible()
    page.keyboard.press("ArrowRight")  # wraps around
    expect_selected(page, "live")
    assert page.evaluate("() => location.hash") == ""
    page.keyboard.press("ArrowLeft")
    expect_selected(page, "media")

    page.reload()
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    expect_selected(page, "media")
    expect(page.locator("#media-view .media-empty")).to_contain_text("No images or histograms")
    page.locator("#tab-live").click()
    assert page.evaluate("() => location.hash") == ""
    expect(page.locator("#live-view")).to_be_visible()
    assert page.console_errors == []


def test_a_launched_worker_without_the_sdk_gets_the_analytics_only_notice(
    page: Page, server: ServerProcess, api: httpx.Client, tmp_path: Path
) -> None:
    launch = Launch(server, tmp_path, PLAIN_WORKER, "plain")
    try:
        run = launch.run(api)
        open_run(page, server, run["id"])
        notice = page.locator("#analytics-notice")
        expect(notice).to_be_visible()  # as soon as its first log line arrives
        expect(notice.locator(".an-title")).to_have_text(NOTICE)
        expect(page.locator("#charts-empty")).to_be_hidden()
        expect(page.locator("#charts .chart")).to_have_count(0)

        notice.get_by_role("link", name="Logs").click()
        expect_selected(page, "logs")
        assert page.evaluate("() => location.hash") == "#logs"
        expect(log_rows(page).first.locator(".log-text")).to_have_text("a worker that only prints")

        page.locator("#tab-live").click()
        notice.get_by_role("link", name="Artifacts").click()
        expect_selected(page, "artifacts")
        (launch.run_dir / "go").touch()
        assert launch.wait() == 0
    finally:
        launch.close()
    finished(api, run["id"])
    expect(page.locator("#run-status")).to_have_text("succeeded")
    expect(page.locator("#artifacts-view .art-table tbody .col-path")).to_have_text(
        ["checkpoints/model.bin"]
    )
    page.locator("#tab-live").click()
    expect(page.locator("#analytics-notice")).to_be_visible()
    assert page.console_errors == []


def test_the_notice_counts_heartbeats_as_no_telemetry_and_sdk_metrics_as_telemetry(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    line = {"stream": "stdout", "ts": time.time(), "text": "hello"}
    quiet = create_run(api, "e2e", "heartbeats")
    ObjectProducer(api, quiet["id"]).send_objects(
        points=rows([1, 2], **{"heartbeat/progress": [0.1, 0.2], "sys/cpu_percent": [5, 6]}),
        logs=[line],
    )
    open_run(page, server, quiet["id"])
    expect(page.locator("#analytics-notice")).to_be_visible()

    chatty = create_run(api, "e2e", "metrics")
    producer = ObjectProducer(api, chatty["id"])
    producer.send_objects(logs=[line])
    open_run(page, server, chatty["id"])
    expect(page.locator("#analytics-notice")).to_be_visible()
    producer.send_objects(points=rows([1], loss=[0.5]))  # the first SDK metric, live
    expect(page.locator('#charts .chart[data-key="loss"]')).to_be_visible()
    expect(page.locator("#analytics-notice")).to_be_hidden()

    silent = create_run(api, "e2e", "nothing-yet")
    open_run(page, server, silent["id"])
    expect(page.locator("#charts-empty")).to_be_visible()
    expect(page.locator("#analytics-notice")).to_be_hidden()
    assert page.console_errors == []
