"""The run page's Latest values panel in a real Chromium: text values from log() as text."""

from __future__ import annotations

import math
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

import runwatch
from tests.servers import ServerProcess, wait_until

pytestmark = pytest.mark.e2e

XSS = '<img src=x onerror="window.__xss=1">'


def test_text_values_show_as_text_hydrated_and_live(
    page: Page, server: ServerProcess, api: httpx.Client, tmp_path: Path
) -> None:
    run = runwatch.init(project="e2e", url=server.url, run_dir=tmp_path / "run")
    run.log({"loss": 0.5, "model": XSS}, step=0)
    wait_until(
        lambda: api.get(f"/api/v1/runs/{run.id}").json()["summary"].get("model") == XSS,
        what="the first text in the summary",
    )
    page.goto(f"{server.url}/runs/{run.id}")
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    model = page.locator('#latest-values dd[data-key="model"]')
    expect(model).to_have_text(XSS)
    expect(model).to_have_attribute("data-kind", "text")
    expect(page.locator('#latest-values dd[data-key="loss"]')).to_have_text("0.5")
    expect(page.locator("#latest-count")).to_have_text("2")

    run.log({"loss": 0.25, "model": "gpt-4o", "program_id": "p-17"}, step=1)
    expect(model).to_have_text("gpt-4o")
    expect(page.locator('#latest-values dd[data-key="program_id"]')).to_have_text("p-17")
    expect(page.locator('#latest-values dd[data-key="loss"]')).to_have_text("0.25")
    run.log({"note": "nan", "gap": math.nan}, step=2)  # the three letters, and a NaN point
    expect(page.locator('#latest-values dd[data-key="note"]')).to_have_text("nan")
    run.finish()

    page.reload()
    expect(page.locator('#latest-values dd[data-key="model"]')).to_have_text("gpt-4o")
    expect(page.locator("#latest-count")).to_have_text("5")
    # Reloaded, the summary holds "nan" for both: only the key with points reads as a number.
    note = page.locator('#latest-values dd[data-key="note"]')
    expect(note).to_have_text("nan")
    expect(note).to_have_attribute("data-kind", "text")
    expect(page.locator('#latest-values dd[data-key="gap"]')).to_have_attribute(
        "data-kind", "number"
    )
    assert page.locator("#latest-values img").count() == 0
    assert page.evaluate("() => window.__xss") is None
    assert page.console_errors == []
