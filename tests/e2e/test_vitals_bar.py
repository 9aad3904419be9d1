"""The vitals bar in a real Chromium: byte-valued vitals read in KB/MB/GB, and ten cards stay
inside the page at 1,440 px."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.helpers import create_run, rows
from tests.e2e.widgets import ObjectProducer, open_run
from tests.servers import ServerProcess

pytestmark = pytest.mark.e2e

TEN = {
    "sys/cpu_percent": 41.0,
    "sys/gpu0_util": 50.0,
    "sys/gpu0_mem_mb": 1234.0,
    "sys/mem_bytes": 3.2e9,
    "sys/disk_read_bytes": 12_345_678.0,
    "sys/net_rx_bytes": 2048.0,
    "sys/rss": 123_456_789.0,
    "sys/rss_mb": 800.0,
    "sys/records_per_s": 1000.0,
    "sys/sdk_queue": 3.0,
}


def test_ten_vitals_fit_the_page_and_bytes_read_in_units(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    page.set_viewport_size({"width": 1440, "height": 900})
    run = create_run(api, "e2e", "vitals")
    steps = range(5)
    ObjectProducer(api, run["id"]).send_objects(
        points=rows(steps, **{key: [v] * 5 for key, v in TEN.items()})
    )
    open_run(page, server, run["id"])
    cards = page.locator("#vitals .vital")
    expect(cards).to_have_count(10)
    value = lambda key: page.locator(f'#vitals .vital[data-key="{key}"] .vital-value')  # noqa: E731
    expect(value("sys/mem_bytes")).to_have_text("3.0 GB")
    expect(value("sys/disk_read_bytes")).to_have_text("11.8 MB")
    expect(value("sys/net_rx_bytes")).to_have_text("2.0 KB")
    expect(value("sys/rss")).to_have_text("118 MB")
    expect(value("sys/rss_mb")).to_have_text("800 MB")
    # Every card wholly inside the viewport, and the page does not scroll sideways.
    boxes = cards.evaluate_all(
        "els => els.map(e => { const r = e.getBoundingClientRect(); return [r.left, r.right]; })"
    )
    assert all(left >= 0 and right <= 1440 for left, right in boxes), boxes
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 1440
