"""Every page with a live socket says so while the Redis bus is unreachable.

Two replicas share PostgreSQL and a private redis-server; real Chromium shows replica A's run
page, runs list, compare page and alerts page while a producer writes to replica B. Redis is
killed: each page's connection indicator reads "live (bus unreachable: …)", as a warning, while
what B ingests still reaches A's pages (read again from the store each second), an alert fired
on B included. Redis is started again: each indicator reads plain "live" again.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Locator, Page, expect

from tests.bus.conftest import PrivateRedis, redis_url
from tests.e2e.charts import chart
from tests.scaleout.conftest import two_replicas
from tests.server.test_live import post_points, start_run

pytestmark = pytest.mark.e2e
DEGRADED = "live (bus unreachable: updates re-read every 1 s)"
SLOW = 20_000  # ms: Redis lost or back, the bus's reconnect, then a resync's notice


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    (tmp_path / "redis").mkdir()
    redis = PrivateRedis(tmp_path / "redis")
    redis.start()
    yield redis
    redis.kill()


def open_page(first: Page, url: str) -> Page:
    """Another page of the test's browser context, its console errors collected as ``page``'s."""
    other = first.context.new_page()
    other.on("console", lambda m: m.type == "error" and first.console_errors.append(m.text))  # type: ignore[attr-defined]
    other.on("pageerror", lambda e: first.console_errors.append(str(e)))  # type: ignore[attr-defined]
    other.goto(url)
    return other


def warns(conn: Locator) -> bool:
    """Whether the indicator is drawn in the theme's warning colour."""
    colours: list[str] = conn.evaluate(
        """el => {
            const probe = document.createElement("span");
            probe.style.color = "var(--warn)";
            document.body.append(probe);
            const want = getComputedStyle(probe).color;
            probe.remove();
            return [getComputedStyle(el).color, want];
        }"""
    )
    return colours[0] == colours[1]


def nan_point(c: httpx.Client, run_id: str, batch_seq: int) -> None:
    body = {"producer": "t", "batch_seq": batch_seq, "points": [[9, time.time(), {"x": "nan"}]]}
    assert c.post(f"/api/v1/runs/{run_id}/batches", json=body).status_code == 200


def test_every_live_page_says_while_the_bus_is_unreachable_and_then_live_again(
    page: Page, private_redis: PrivateRedis, tmp_path: Path
) -> None:
    bus = redis_url(private_redis.port)
    with two_replicas(tmp_path, bus=bus) as (a, b), b.client() as on_b:
        rule = {
            "name": "x diverged",
            "condition": {"type": "nonfinite", "key": "x"},
            "actions": [{"type": "event", "level": "error"}],
        }
        assert on_b.post("/api/v1/projects/live/rules", json=rule).status_code == 201
        first, second = start_run(on_b), start_run(on_b)
        post_points(on_b, first, 1, 1)

        page.goto(f"{a.url}/runs/{first}")
        pages = {
            "run": page,
            "runs list": open_page(page, f"{a.url}/?project=live"),
            "compare": open_page(page, f"{a.url}/compare?runs={first},{second}"),
            "alerts": open_page(page, f"{a.url}/alerts?project=live"),
        }
        indicators = {name: p.locator("#conn") for name, p in pages.items()}
        for conn in indicators.values():
            expect(conn).to_have_attribute("data-state", "live")
            expect(conn).to_have_text("live")
        points = chart(page, "x")
        expect(points).to_have_attribute("data-points", "1")

        private_redis.kill()
        for name, conn in indicators.items():
            expect(conn, f"the {name} page").to_have_text(DEGRADED, timeout=SLOW)
            expect(conn).to_have_attribute("data-state", "live")
            expect(conn).to_have_attribute("data-degraded", "true")
            assert warns(conn), f"the {name} page's indicator is not a warning"
        # Degraded, still live: B's points and B's alert reach A's pages from the store.
        post_points(on_b, first, 2, 2)
        nan_point(on_b, second, 1)
        expect(points).to_have_attribute("data-points", "2", timeout=SLOW)
        expect(pages["alerts"].locator("#alerts .alert-row")).to_have_count(1, timeout=SLOW)

        private_redis.start()
        for name, conn in indicators.items():
            expect(conn, f"the {name} page").to_have_text("live", timeout=SLOW)
            expect(conn).not_to_have_attribute("data-degraded", "true")
            expect(conn).to_have_attribute("data-state", "live")
            assert not warns(conn)
        post_points(on_b, first, 3, 3)  # pushed over the bus again
        expect(points).to_have_attribute("data-points", "3", timeout=SLOW)
    assert page.console_errors == []  # type: ignore[attr-defined]
