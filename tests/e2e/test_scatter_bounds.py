"""The point-set leak scenario, end to end: a producer that republishes the same 600 points every
cycle with ``replace=False`` must not grow the page or the server past the set's cap."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

import runwatch
from tests.e2e.widgets import open_run
from tests.servers import ServerProcess, wait_until

pytestmark = pytest.mark.e2e
CAP = 4000  # the server's default FIFO cap for an appended point set
PER_CYCLE = 600
CYCLES = 200


def watch_count(page: Page) -> None:
    """Record, page side, the largest data-count the scatter ever shows."""
    page.evaluate(
        """() => {
            const el = document.getElementById('scatter');
            window.__maxCount = Number(el.dataset.count || 0);
            new MutationObserver(() => {
                window.__maxCount = Math.max(window.__maxCount, Number(el.dataset.count || 0));
            }).observe(el, { attributes: true, attributeFilter: ['data-count'] });
        }"""
    )


def test_republishing_points_without_replace_stays_at_the_cap(
    page: Page, server: ServerProcess, tmp_path: Path
) -> None:
    run = runwatch.init(project="e2e", name="leaky", url=server.url, run_dir=tmp_path / "run")
    try:
        open_run(page, server, run.id)
        watch_count(page)
        points = [
            {
                "x": math.cos(i / 20) * (1 + i % 7),
                "y": math.sin(i / 20) * (1 + i % 7),
                "cluster": i % 6,
            }
            for i in range(PER_CYCLE)
        ]
        stored: list[int] = []
        with server.client() as client:

            def stored_set(at_least: int) -> dict | None:  # type: ignore[type-arg]
                answer = client.get(f"/api/v1/runs/{run.id}/points/embedding")
                if answer.status_code != 200 or answer.json()["version"] < at_least:
                    return None
                found: dict = answer.json()  # type: ignore[type-arg]
                return found

            for cycle in range(1, CYCLES + 1):
                run.points("embedding", points, replace=False)  # the bug: append, every cycle
                if cycle % 50 == 0:  # mid-run, the server's copy is already at most the cap
                    found = wait_until(lambda c=cycle: stored_set(c), 30, what=f"cycle {cycle}")
                    stored.append(len(found["points"]))
            scatter = page.locator("#scatter")
            expect(scatter).to_have_attribute("data-version", str(CYCLES), timeout=30_000)
            expect(scatter).to_have_attribute("data-count", str(CAP))
            assert page.evaluate("() => window.__maxCount") == CAP
            final = client.get(f"/api/v1/runs/{run.id}/points/embedding").json()
            assert len(final["points"]) == CAP
            assert stored == [CAP] * 4, stored  # 50 cycles are 30,000 points already

            # The fix: replace=True. The page holds exactly one cycle's points.
            run.points("embedding", points, replace=True)
            expect(scatter).to_have_attribute("data-version", str(CYCLES + 1))
            expect(scatter).to_have_attribute("data-count", str(PER_CYCLE))
            final = client.get(f"/api/v1/runs/{run.id}/points/embedding").json()
            assert len(final["points"]) == PER_CYCLE
        assert page.evaluate("() => window.__maxCount") == CAP
        held = page.evaluate("() => document.querySelectorAll('#scatter .scatter-key').length")
        assert held == 6
        assert page.console_errors == []
    finally:
        run.finish()
