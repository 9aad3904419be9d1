"""Two replicas sharing PostgreSQL and Redis, as docs/deployment.md runs them.

A producer (the real SDK, ``url="A,B"``) logs to replica A; a real Chromium page on replica B
sees every point live, in order; A is SIGKILLed mid-stream; the producer fails over to B;
nothing is lost or duplicated.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Page, WebSocket, expect

import runwatch
from tests.e2e.charts import chart, inspect
from tests.servers import ServerProcess, wait_until

pytestmark = pytest.mark.e2e
KILL_AT = 150  # points B has shown when A is killed


def record_run_socket(page: Page) -> list[dict[str, Any]]:
    """Every message the page receives on its run socket, in arrival order."""
    received: list[dict[str, Any]] = []

    def on_socket(ws: WebSocket) -> None:
        path = urlsplit(ws.url).path
        if not (path.startswith("/api/v1/runs/") and path.endswith("/live")):
            return  # not the run's stream (a finished run's page also follows its runs feed)

        def on_frame(payload: str | bytes) -> None:
            data = json.loads(payload)
            received.extend(data if isinstance(data, list) else [data])

        ws.on("framereceived", on_frame)

    page.on("websocket", on_socket)
    return received


def test_a_viewer_on_b_sees_everything_logged_to_a_and_survives_a_killed_by_failover(
    page: Page, replicas: tuple[ServerProcess, ServerProcess], tmp_path: Path
) -> None:
    a, b = replicas
    run = runwatch.init(
        project="scale", name="failover", url=f"{a.url},{b.url}", run_dir=tmp_path / "run"
    )
    for step in range(100):
        run.log({"loss": float(step)}, step=step)
    with httpx.Client(base_url=b.url, timeout=10) as api_b:
        wait_until(
            lambda: api_b.get(f"/api/v1/runs/{run.id}").status_code == 200,
            what="the run (created on A) to be visible on B",
        )
        received = record_run_socket(page)
        page.goto(f"{b.url}/runs/{run.id}")
        expect(page.locator("#conn")).to_have_attribute("data-state", "live")
        loss = chart(page, "loss")
        expect(loss).to_have_attribute("data-points", "100")

        logged = 100

        def log_to(end: int) -> None:  # a training loop: log() returns at once, come what may
            nonlocal logged
            for step in range(logged, end):
                run.log({"loss": float(step)}, step=step)
            logged = end

        def shown() -> int:
            return int(loss.get_attribute("data-points") or 0)

        log_to(KILL_AT)
        wait_until(lambda: shown() >= KILL_AT, timeout=60, what=f"{KILL_AT} points on B")
        log_to(KILL_AT + 25)  # queued or in flight to A when it dies
        a.kill()  # SIGKILL: what A acknowledged is in PostgreSQL; the rest is retried on B
        log_to(KILL_AT + 75)
        # Points logged after the kill reach B's page live, through B alone.
        wait_until(lambda: shown() >= logged, timeout=60, what="points after the kill")
        steps = logged
        run.finish(timeout=60)

        expect(loss).to_have_attribute("data-points", str(steps), timeout=60_000)
        # The final status came live too (and with it, the last recorded frame).
        expect(page.locator("#run-status")).to_have_attribute("data-status", "succeeded")
        traces = inspect(loss)["traces"]
        stored = api_b.get(
            f"/api/v1/runs/{run.id}/metrics", params={"keys": "loss", "max_points": 10_000}
        ).json()
        info = api_b.get(f"/api/v1/runs/{run.id}").json()

    assert a.proc is not None and a.proc.poll() is not None  # A really died mid-stream
    # The page drew every point once, in step order, with the logged values.
    assert [t["x"] for t in traces] == [list(range(steps))]
    assert traces[0]["y"] == [float(s) for s in range(steps)]
    # It got them live on one socket, each record once and in seq order, with no gap.
    seqs = [m["seq"] for m in received if m["type"] not in ("reset", "run.closed")]
    assert seqs == list(range(seqs[0], seqs[-1] + 1))
    assert not [m for m in received if m["type"] == "reset"]
    # The store holds exactly what was logged, once, and the run finished normally.
    series = stored["series"]["loss"]
    assert series["mode"] == "raw" and series["x"] == list(range(steps))
    assert info["status"] == "succeeded" and info["seq"] == seqs[-1]
    assert page.console_errors == []
