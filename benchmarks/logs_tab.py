"""Logs tab benchmark: does the run page keep up with a worker printing at full speed?

Run from the repo root (about a minute with the defaults)::

    .venv/bin/python benchmarks/logs_tab.py [--lines 200000] [--batch 1000]

A real ``runwatch serve`` on 127.0.0.1. For each tab (Live, then Logs) a fresh running run gets
``--lines`` log lines posted through the batch API as fast as the server takes them, then its
final status. Headless Chromium, on the run page with that tab open, is polled for the last
line's row (Logs tab only) and the header's "succeeded". Then a plain WebSocket client replays
the finished run's live stream from ``since=0``: the rate the socket itself delivers. Printed:
seconds after the first post when the server held every line, when the page showed the last
line and the final status, and the lines per second each kept up with.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common
import httpx
import websockets
from playwright.sync_api import Page, sync_playwright

LAST_ROW_JS = """(n) => {
  const rows = document.querySelectorAll('#logs-view .log-line');
  return rows.length > 0 && rows[rows.length - 1].dataset.line === String(n);
}"""
STATUS_JS = "() => document.querySelector('#run-status')?.textContent === 'succeeded'"


def new_run(http: httpx.Client, name: str) -> str:
    run_id: str = http.post("/api/v1/runs", json={"project": "bench-logs", "name": name}).json()[
        "id"
    ]
    body = {"producer": "bench", "batch_seq": 1, "status": {"state": "running", "ts": time.time()}}
    http.post(f"/api/v1/runs/{run_id}/batches", json=body).raise_for_status()
    return run_id


def burst(http: httpx.Client, run_id: str, lines: int, batch: int) -> float:
    """Post ``lines`` lines and the final status; the seconds the server took to hold them."""
    start = time.monotonic()
    seq = 2
    for at in range(0, lines, batch):
        logs = [
            {"stream": "stdout", "ts": time.time(), "text": f"line {i}"}
            for i in range(at, min(at + batch, lines))
        ]
        body = {"producer": "bench", "batch_seq": seq, "logs": logs}
        http.post(f"/api/v1/runs/{run_id}/batches", json=body).raise_for_status()
        seq += 1
    held = time.monotonic() - start
    status = {"state": "succeeded", "ts": time.time()}
    body = {"producer": "bench", "batch_seq": seq, "status": status}
    http.post(f"/api/v1/runs/{run_id}/batches", json=body).raise_for_status()
    return held


def watch(page: Page, lines: int, logs_tab: bool, start: float) -> tuple[float, float]:
    """Seconds after ``start`` when the page showed the last line and the final status."""
    shown = done = float("nan")
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and (done != done or (logs_tab and shown != shown)):
        now = time.monotonic() - start
        if logs_tab and shown != shown and page.evaluate(LAST_ROW_JS, lines):
            shown = now
        if done != done and page.evaluate(STATUS_JS):
            done = now
        page.wait_for_timeout(50)
    return shown, done


async def replay(url: str, run_id: str) -> float:
    """Seconds a plain WebSocket client takes to replay the run's live stream to its close."""
    ws_url = url.replace("http", "ws", 1) + f"/api/v1/runs/{run_id}/live?since=0"
    start = time.monotonic()
    async with websockets.connect(ws_url, max_size=None, origin=url) as ws:
        async for frame in ws:
            decoded = json.loads(frame)
            for message in decoded if isinstance(decoded, list) else [decoded]:
                if message.get("type") == "run.closed":
                    return time.monotonic() - start
    return float("nan")


def measure(url: str, lines: int, batch: int) -> list[list[Any]]:
    http = httpx.Client(base_url=url, timeout=60)
    rows: list[list[Any]] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=common.CHROMIUM, args=common.CHROMIUM_ARGS, headless=True
        )
        try:
            for tab in ("live", "logs"):
                run_id = new_run(http, tab)
                page = browser.new_page(viewport={"width": 1440, "height": 900})
                page.goto(f"{url}/runs/{run_id}#{tab}")
                page.wait_for_function(
                    "() => document.querySelector('#run-status')?.textContent === 'running'"
                )
                start = time.monotonic()
                held = burst(http, run_id, lines, batch)
                shown, done = watch(page, lines, tab == "logs", start)
                page.close()
                kept_up = lines / (shown if tab == "logs" else done)
                rows.append([tab, held, shown, done, kept_up, run_id])
        finally:
            browser.close()
    # After Playwright's own event loop has ended.
    for row in rows:
        socket = asyncio.run(replay(url, row.pop()))
        row += [socket, lines / socket]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = common.Server(Path(tmp) / "data").start()
        try:
            rows = measure(server.url, args.lines, args.batch)
        finally:
            server.stop()
    print(common.machine_line())
    common.print_table(
        f"{args.lines:,} log lines posted {args.batch:,} a batch (seconds after the first post)",
        [
            "tab open",
            "server held all",
            "page: last line",
            "page: succeeded",
            "page lines/s",
            "socket replay s",
            "socket lines/s",
        ],
        rows,
    )


if __name__ == "__main__":
    main()
