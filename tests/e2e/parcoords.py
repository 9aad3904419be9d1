"""Brushing the sweep page's parallel coordinates in a browser test: its canvas tells where
each axis is (``data-axes``), and a drag along one brushes it."""

from __future__ import annotations

import json

from playwright.sync_api import Page


def axis(page: Page, name: str) -> dict[str, float]:
    """The axis ``name``'s place on the canvas: ``x``, ``top`` and ``bottom`` in pixels."""
    axes = json.loads(page.locator(".parcoords-canvas").get_attribute("data-axes") or "[]")
    found: dict[str, float] = next(a for a in axes if a["name"] == name)
    return found


def drag(page: Page, name: str, frm: float, to: float) -> None:
    """Drag along an axis from `frm` to `to` (0 = its bottom, 1 = its top)."""
    box = page.locator(".parcoords-canvas").bounding_box()
    assert box is not None
    a = axis(page, name)
    at = lambda f: box["y"] + a["bottom"] + (a["top"] - a["bottom"]) * f  # noqa: E731
    page.mouse.move(box["x"] + a["x"], at(frm))
    page.mouse.down()
    page.mouse.move(box["x"] + a["x"], at((frm + to) / 2))
    page.mouse.move(box["x"] + a["x"], at(to))
    page.mouse.up()
