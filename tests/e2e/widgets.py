"""Helpers for the run page widget tests: batches with tables, point sets, snapshots and vitals
(over the real HTTP API), SDK producer loops on threads, and page probes."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
from playwright.sync_api import Page, expect

import runwatch
from tests.e2e.helpers import Producer
from tests.servers import ServerProcess

XSS = '<img src=x onerror="window.__xss=1">'


class ObjectProducer(Producer):
    """A :class:`Producer` that can also send the batch fields the run page's widgets show."""

    def send_objects(self, **fields: Any) -> dict[str, Any]:
        """One batch with any of ``points``, ``events``, ``tables``, ``point_sets``,
        ``snapshots``, ``vitals``, ``commands``."""
        body: dict[str, Any] = {"producer": self.name, "batch_seq": next(self._seq), **fields}
        response = self.client.post(f"/api/v1/runs/{self.run_id}/batches", json=body)
        assert response.status_code == 200, response.text
        ack: dict[str, Any] = response.json()
        return ack


def snapshot(key: str, step: int, value: Any) -> dict[str, Any]:
    return {"key": key, "step": step, "ts": time.time(), "value": value}


def open_run(page: Page, server: ServerProcess, run_id: str, state: str = "live") -> None:
    page.goto(f"{server.url}/runs/{run_id}")
    try:
        expect(page.locator("#conn")).to_have_attribute("data-state", state)
    except AssertionError as exc:
        conn = page.locator("#conn").get_attribute("title")
        errors = getattr(page, "console_errors", [])
        raise AssertionError(f"{exc}\nconnection: {conn}\nconsole: {errors}") from None


def painted_pixels(page: Page, selector: str) -> int:
    """How many pixels of the canvas at ``selector`` are not transparent."""
    count: int = page.locator(selector).evaluate(
        """c => {
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let n = 0;
            for (let i = 3; i < d.length; i += 4) if (d[i]) n++;
            return n;
        }"""
    )
    return count


def wait_painted(page: Page, selector: str, minimum: int = 20) -> None:
    """Wait until the canvas at ``selector`` has been drawn on (it paints on an animation frame)."""
    page.wait_for_function(
        """([sel, min]) => {
            const c = document.querySelector(sel);
            if (!c || !c.width || !c.height) return false;
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let n = 0;
            for (let i = 3; i < d.length; i += 4) if (d[i]) n++;
            return n >= min;
        }""",
        arg=[selector, minimum],
    )


def no_script_ran(page: Page) -> bool:
    """No injected markup executed, and no <img> exists other than the brand mark."""
    ran = page.evaluate("() => window.__xss") is not None
    images = page.locator("img:not(.brand-mark)").count()
    return not ran and images == 0


class TrainingLoop:
    """A real SDK run driven by a loop on a thread: logs a metric every step until told to stop
    or until ``run.should_stop`` (a cancel from the dashboard), then ``finish()``es."""

    def __init__(
        self, server: ServerProcess, run_dir: Any, name: str, pacing: float = 0.01
    ) -> None:
        self.run = runwatch.init(project="e2e", name=name, url=server.url, run_dir=run_dir)
        self.stop = threading.Event()
        self.stopped_at: float | None = None
        self.steps = 0
        self._pacing = pacing
        self._thread = threading.Thread(target=self._loop, name="training-loop", daemon=True)
        self.on_step: Callable[[int], None] | None = None

    def _loop(self) -> None:
        run = self.run
        while not self.stop.is_set() and not run.should_stop:
            run.log({"loss": 1.0 / (self.steps + 1)}, step=self.steps)
            if self.on_step is not None:
                self.on_step(self.steps)
            self.steps += 1
            time.sleep(self._pacing)  # a training step's pacing, not synchronisation
        self.stopped_at = time.monotonic()
        run.finish()

    def start(self) -> TrainingLoop:
        self._thread.start()
        return self

    def join(self, timeout: float = 20) -> None:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the training loop did not stop"

    def close(self) -> None:
        """Stop the loop if a test failed half-way (a finished run ignores this)."""
        self.stop.set()
        if self._thread.is_alive():
            self._thread.join(20)
        self.run.finish()


def run_info(client: httpx.Client, run_id: str) -> dict[str, Any]:
    response = client.get(f"/api/v1/runs/{run_id}")
    assert response.status_code == 200, response.text
    info: dict[str, Any] = response.json()
    return info
