"""log() -> browser latency, measured in headless Chromium (used by ``ingest.py``).

Opens the run page ``/runs/{id}`` (its UI is not relied on), and in the page its own WebSocket to
``/api/v1/runs/{id}/live?since=<state seq>``, which timestamps every ``lat_probe`` value it
receives with ``performance.timeOrigin + performance.now()``. Python logs the probes through the
SDK at 20 Hz, noting ``time.time()`` just before each ``log()``; the browser/Python clock offset
(fastest of 9 ``page.evaluate`` round trips) is subtracted. Latency = arrival - log() time.
"""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path
from typing import Any

import common
import httpx
import psutil

CPUS = psutil.cpu_count() or 1

_OPEN_SOCKET = """([url, key]) => new Promise((resolve, reject) => {
  window.__arrivals = {};
  const ws = new WebSocket(url);
  ws.onmessage = (e) => {
    const t = performance.timeOrigin + performance.now();
    const data = JSON.parse(e.data);
    for (const m of Array.isArray(data) ? data : [data]) {
      const s = m.type === "points" && m.points[key];
      if (s) for (const v of s.value) window.__arrivals[String(v)] = t;
    }
  };
  ws.onopen = () => resolve(true);
  ws.onerror = () => reject(new Error("websocket error"));
  window.__ws = ws;
})"""


def measure(url: str, probes: int, tmp: Path) -> dict[str, Any]:
    """Log ``probes`` points at 20 Hz; Chromium, on the run page, timestamps each one's arrival
    over its own /live socket (the page's own UI may be unfinished: it is not relied on)."""
    if importlib.util.find_spec("playwright") is None or not Path(common.CHROMIUM).exists():
        return {"skipped": "skipped: playwright or /usr/bin/chromium missing"}
    from playwright.sync_api import sync_playwright

    import runwatch

    run = runwatch.init(project="bench-latency", name="latency", url=url, run_dir=tmp / "latency")
    http = httpx.Client(base_url=url, timeout=10)
    common.wait_for(lambda: http.get(f"/api/v1/runs/{run.id}").status_code == 200, 30, "the run")
    sent: dict[str, float] = {}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=common.CHROMIUM, args=common.CHROMIUM_ARGS, headless=True
        )
        try:
            page = browser.new_page()
            page.goto(f"{url}/runs/{run.id}", wait_until="domcontentloaded", timeout=30_000)
            seq = http.get(f"/api/v1/runs/{run.id}/state").json()["seq"]
            ws_url = url.replace("http", "ws", 1) + f"/api/v1/runs/{run.id}/live?since={seq}"
            page.evaluate(_OPEN_SOCKET, [ws_url, "lat_probe"])
            offset = clock_offset_ms(page)
            start, busy0 = time.monotonic(), machine_busy_s()
            for i in range(probes):
                time.sleep(max(0.0, start + i * 0.05 - time.monotonic()))
                sent[str(float(i))] = time.time() * 1000
                run.log({"lat_probe": float(i)}, step=i)
            deadline = time.monotonic() + 10  # then count what is missing
            while time.monotonic() < deadline:
                if page.evaluate("Object.keys(window.__arrivals).length") >= probes:
                    break
                time.sleep(0.05)
            arrivals: dict[str, float] = page.evaluate("window.__arrivals")
            busy = 100 * (machine_busy_s() - busy0) / (time.monotonic() - start) / CPUS
        finally:
            browser.close()
            run.finish(timeout=30)
    # JS prints whole floats without ".0": normalise both sides through float().
    got = {str(float(k)): v - offset for k, v in arrivals.items()}
    lat = [got[k] - t for k, t in sent.items() if k in got]
    return {"latency_ms": common.summary(lat), "received": len(lat), "probes": probes,
            "offset_ms": offset, "machine_busy_pct": busy}  # fmt: skip


def machine_busy_s() -> float:
    """CPU seconds the whole machine has been busy (all processes, all cores)."""
    t = psutil.cpu_times()
    return float(t.user + t.nice + t.system + getattr(t, "irq", 0) + getattr(t, "softirq", 0))


def clock_offset_ms(page: Any) -> float:
    """Browser clock minus Python's ``time.time()`` in ms, from the fastest of 9 round trips."""
    best = (float("inf"), 0.0)
    for _ in range(9):
        t0 = time.time() * 1000
        browser = page.evaluate("performance.timeOrigin + performance.now()")
        t1 = time.time() * 1000
        best = min(best, (t1 - t0, browser - (t0 + t1) / 2))
    return best[1]
