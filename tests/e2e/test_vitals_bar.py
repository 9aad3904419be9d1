"""The vitals bar in a real Chromium: byte-valued vitals read in KB/MB/GB, ten cards stay
inside the page at 1,440 px, and changing values never change the header's height."""

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


def test_the_header_keeps_its_height_while_vitals_change_width(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    # The SDK's four vitals, alternating between narrow and wide texts: neither the texts nor
    # the sparklines (redrawn at their cards' widths) may move the cards between one row and
    # two, or the page under the header jumps (a click lands on the wrong pixel).
    page.set_viewport_size({"width": 1400, "height": 900})
    run = create_run(api, "e2e", "vitals-jitter")
    producer = ObjectProducer(api, run["id"])
    narrow = {"cpu_percent": 1.2, "records_per_s": 9.98, "rss_mb": 53.3, "sdk_queue": 0.0}
    wide = {"cpu_percent": 99.9, "records_per_s": 123.0, "rss_mb": 98765.0, "sdk_queue": 12345.0}

    def send(step: int, values: dict[str, float]) -> None:
        producer.send_objects(points=rows([step], **{f"sys/{k}": [v] for k, v in values.items()}))

    send(0, narrow)
    open_run(page, server, run["id"])
    cpu = page.locator('#vitals .vital[data-key="sys/cpu_percent"] .vital-value')
    seen = []
    for step in range(1, 9):
        send(step, wide if step % 2 else narrow)
        expect(cpu).to_have_text("99.9%" if step % 2 else "1.2%")
        # Measured once the sparklines redrew (on an animation frame) at their new widths.
        seen.append(
            page.evaluate(
                """() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(() =>
                    done([document.querySelector('.run-header').getBoundingClientRect().height,
                          document.querySelector('#vitals').innerText.replace(/\\n/g, ' ')]))))"""
            )
        )
    assert len({height for height, _ in seen}) == 1, seen
