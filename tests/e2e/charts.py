"""Helpers for browser tests of charts: find a chart, read its data, drag across it."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from playwright.sync_api import Locator, Page, Request

# A zoom window as a chart's data-window shows it: "lo,hi" (inclusive steps).
WINDOW = re.compile(r"^\d+,\d+$")


def chart(page: Page, key: str) -> Locator:
    return page.locator(f'#charts .chart[data-key="{key}"]')


def inspect(target: Locator) -> dict[str, Any]:
    """The chart's own view of its data, through its "chart-inspect" event (no globals)."""
    detail: dict[str, Any] = target.evaluate(
        "el => { const d = {}; el.dispatchEvent(new CustomEvent('chart-inspect', {detail: d})); return d; }"
    )
    return detail


def window_of(target: Locator) -> tuple[int, int]:
    lo, hi = (target.get_attribute("data-window") or "").split(",")
    return int(lo), int(hi)


def in_window(xs: list[float], lo: float, hi: float) -> int:
    return sum(1 for x in xs if lo <= x <= hi)


def drag(page: Page, target: Locator, start: float, end: float) -> None:
    """Drag across the plot from ``start`` to ``end`` (fractions of its width), as a person would."""
    over = target.locator(".u-over")
    box = over.bounding_box()
    assert box is not None
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * start, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * (start + end) / 2, y, steps=4)
    page.mouse.move(box["x"] + box["width"] * end, y, steps=4)
    page.mouse.up()


def metrics_requests(page: Page) -> list[Request]:
    """Every /metrics request the page makes from now on (not a module named metrics-…)."""
    seen: list[Request] = []
    page.on("request", lambda r: urlsplit(r.url).path.endswith("/metrics") and seen.append(r))
    return seen
