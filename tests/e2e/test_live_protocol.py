"""The run page's side of the live protocol, with Playwright standing between page and server.

Routing the WebSocket lets a test drop frames, inject a ``reset``, replay an old frame or close
the socket with a given code, which a healthy server would not do on cue.
"""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from playwright.sync_api import LocatorAssertions, Page, WebSocketRoute, expect

from tests.e2e.helpers import Producer, create_run, event, rows
from tests.servers import ServerProcess

pytestmark = pytest.mark.e2e
RUN_SOCKET = re.compile(r"/api/v1/runs/[^/]+/live")


class Proxy:
    """Forwards a run socket to the server, recording (and optionally dropping) its frames."""

    def __init__(self) -> None:
        self.routes: list[WebSocketRoute] = []
        self.frames: list[str] = []
        self.dropping = False

    def __call__(self, route: WebSocketRoute) -> None:
        self.routes.append(route)
        upstream = route.connect_to_server()
        upstream.on_message(lambda message: self._forward(route, message))

    def _forward(self, route: WebSocketRoute, message: str | bytes) -> None:
        text = message if isinstance(message, str) else message.decode()
        self.frames.append(text)
        if not self.dropping:
            route.send(text)

    def since(self, index: int) -> int:
        return int(parse_qs(urlparse(self.routes[index].url).query)["since"][0])


def expect_chart(page: Page, key: str = "loss") -> LocatorAssertions:
    return expect(page.locator(f'#charts .chart[data-key="{key}"]'))


def test_reset_rehydrates_from_state_and_resumes_after_it(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    run = create_run(api, "e2e", "lagging")
    producer = Producer(api, run["id"])
    producer.send(rows(range(10), loss=[1.0] * 10))
    proxy = Proxy()
    page.route_web_socket(RUN_SOCKET, proxy)
    page.goto(f"{server.url}/runs/{run['id']}")
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    expect_chart(page).to_have_attribute("data-points", "10")

    proxy.dropping = True  # what a client too far behind misses...
    ack = producer.send(rows(range(10, 30), loss=[0.5] * 20), events=[event("missed")])
    # ...is made good by a reset: re-fetch /state, then apply only what is newer than it.
    proxy.routes[0].send(json.dumps({"seq": ack["seq_last"], "type": "reset"}))
    expect_chart(page).to_have_attribute("data-points", "30")
    expect(page.locator("#event-feed .event").first).to_have_attribute("data-kind", "missed")

    proxy.dropping = False
    producer.send(rows(range(30, 35), loss=[0.25] * 5))
    expect_chart(page).to_have_attribute("data-points", "35")

    # A frame that arrives twice (seq <= last applied) is dropped, in a coalesced array too.
    old = [json.loads(f) for f in proxy.frames]
    proxy.routes[0].send(json.dumps([m for f in old for m in (f if isinstance(f, list) else [f])]))
    producer.send(rows([35], loss=[0.125]))
    expect_chart(page).to_have_attribute("data-points", "36")
    expect(page.locator("#event-feed .event")).to_have_count(2)
    assert page.console_errors == []


@pytest.mark.parametrize(
    ("code", "reason", "shown"),
    [
        (4401, "missing or invalid token", "missing or invalid token"),
        (4403, "", "forbidden"),
        (4404, "no run with id 'x'", "no run with id"),
    ],
)
def test_a_final_close_code_shows_an_error_and_is_never_retried(
    page: Page, server: ServerProcess, api: httpx.Client, code: int, reason: str, shown: str
) -> None:
    run = create_run(api, "e2e", "refused")
    attempts: list[WebSocketRoute] = []

    def refuse(route: WebSocketRoute) -> None:
        attempts.append(route)
        route.close(code=code, reason=reason)

    page.route_web_socket(RUN_SOCKET, refuse)
    page.clock.install()
    page.goto(f"{server.url}/runs/{run['id']}")
    expect(page.locator("#conn")).to_have_attribute("data-state", "error")
    expect(page.locator("#page-error")).to_be_visible()
    expect(page.locator("#page-error")).to_contain_text(shown)
    page.clock.run_for(120_000)  # any retry timer would have fired by now
    page.evaluate("() => 0")
    assert len(attempts) == 1
    expect(page.locator("#conn")).to_have_attribute("data-state", "error")
    assert page.console_errors == []


def test_an_unexpected_close_reconnects_from_the_last_applied_seq(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    run = create_run(api, "e2e", "flaky")
    producer = Producer(api, run["id"])
    proxy = Proxy()
    page.route_web_socket(RUN_SOCKET, proxy)
    page.clock.install()
    page.goto(f"{server.url}/runs/{run['id']}")
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    ack = producer.send(rows(range(5), loss=[1, 2, 3, 4, 5]))
    expect_chart(page).to_have_attribute("data-points", "5")

    page.clock.pause_at(page.evaluate("() => Date.now()") + 1000)
    proxy.routes[0].close(code=1011, reason="proxy hiccup")
    expect(page.locator("#conn")).to_have_attribute("data-state", "connecting")
    producer.send(rows(range(5, 8), loss=[6, 7, 8]))  # logged while the page is away
    page.clock.run_for(10_000)
    page.clock.resume()
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    assert len(proxy.routes) == 2
    assert proxy.since(0) == 1  # the page was current to the "running" status record
    assert proxy.since(1) == ack["seq_last"]
    expect_chart(page).to_have_attribute("data-points", "8")  # replayed, each point once
    assert page.console_errors == []
