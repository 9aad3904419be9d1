"""Sweep views benchmark: parallel coordinates over 10,000 runs in Chromium.

Run from the repo root (about a minute and a half, most of it making the runs)::

    .venv/bin/python benchmarks/sweep_views.py [--runs 10000] [--brushes 60]

A real ``runwatch serve`` on 127.0.0.1 (SQLite); ``--runs`` finished runs made through the HTTP
API (8 threads), each with 6 config keys (4 numbers, 2 categories) and 3 metrics. Headless
Chromium (``--enable-precise-memory-info``) opens ``/sweep``, which fetches every run (pages of
1,000) and draws 8 axes. Printed:

- load: navigation until the plot shows every run (fetching 10 pages and drawing);
- first draw: the canvas work of the draw with every run (the page's ``data-draw-ms``; goal
  ≤ 300 ms);
- brush step: ``--brushes`` drags along the ``summary.acc`` axis, each mouse move a brush
  change (filter 10,000 runs, redraw, counts): draw and whole-step time, p50 / p95 / max;
- JS heap after a forced GC (CDP), before and after the brushing.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common
import httpx

MB = 2**20


def make_run(client: httpx.Client, i: int) -> None:
    rng = random.Random(i)
    config = {
        "lr": 10 ** rng.uniform(-5, -1),
        "layers": rng.randint(1, 12),
        "width": rng.choice([64, 128, 256, 512, 1024]),
        "dropout": rng.uniform(0, 0.5),
        "opt": rng.choice(["adam", "sgd", "adamw", "lion"]),
        "sched": rng.choice(["cosine", "linear", "none"]),
    }
    made = client.post(
        "/api/v1/runs", json={"project": "sweep", "name": f"trial-{i}", "config": config}
    )
    made.raise_for_status()
    acc = rng.uniform(0.5, 0.95)
    now = time.time()
    points = [
        [s, now, {"acc": acc * (s + 1) / 3, "loss": 1 - acc * (s + 1) / 3, "time": s}]
        for s in range(3)
    ]
    status = {"ts": now, "state": "succeeded", "error": None, "exit_code": 0}
    body = {"producer": "bench", "batch_seq": 1, "points": points, "status": status}
    client.post(f"/api/v1/runs/{made.json()['id']}/batches", json=body).raise_for_status()


def heap(cdp: Any) -> float:
    cdp.send("HeapProfiler.collectGarbage")
    used: float = cdp.send("Runtime.getHeapUsage")["usedSize"]
    return used / MB


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--brushes", type=int, default=60)
    args = parser.parse_args()
    if not Path(common.CHROMIUM).exists():
        sys.exit("needs the playwright package and /usr/bin/chromium")
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        server = common.Server(Path(tmp) / "data").start()
        try:
            t0 = time.perf_counter()
            with (
                httpx.Client(base_url=server.url, timeout=60) as client,
                ThreadPoolExecutor(8) as pool,
            ):
                list(pool.map(lambda i: make_run(client, i), range(args.runs)))
            made = time.perf_counter() - t0
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=common.CHROMIUM, headless=True,
                    args=[*common.CHROMIUM_ARGS, "--enable-precise-memory-info"])  # fmt: skip
                try:
                    rows = measure(browser, server.url, args)
                finally:
                    browser.close()
        finally:
            server.stop()
    print(f"\n{common.machine_line()} · {args.runs:,} runs made in {made:.0f} s")
    common.print_table(f"Sweep views: parallel coordinates over {args.runs:,} runs (8 axes)",
                       ["what", "value", "goal"], rows)  # fmt: skip


def measure(browser: Any, url: str, args: argparse.Namespace) -> list[list[Any]]:
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    cdp = page.context.new_cdp_session(page)
    start = time.perf_counter()
    page.goto(f"{url}/sweep?project=sweep")
    canvas = page.locator(".parcoords-canvas")
    canvas.wait_for()
    page.wait_for_function(
        "n => document.querySelector('.parcoords-canvas').dataset.drawn === String(n)",
        arg=args.runs, timeout=120_000, polling=20,
    )  # fmt: skip
    loaded = (time.perf_counter() - start) * 1000
    first_draw = float(canvas.get_attribute("data-draw-ms") or "nan")
    page.locator("#axis-add").select_option("config.width")  # 6 config keys + acc + loss
    page.wait_for_function(
        "() => JSON.parse(document.querySelector('.parcoords-canvas').dataset.axes).length === 8"
    )
    full_draw = float(canvas.get_attribute("data-draw-ms") or "nan")
    heap_before = heap(cdp)
    axes = page.evaluate(
        "() => JSON.parse(document.querySelector('.parcoords-canvas').dataset.axes)"
    )
    acc = next(a for a in axes if a["name"] == "summary.acc")
    box = canvas.bounding_box()
    assert box is not None
    draws: list[float] = []
    steps: list[float] = []
    rng = random.Random(1)
    for _ in range(args.brushes // 10):
        a = rng.uniform(0.05, 0.5)
        x = box["x"] + acc["x"]
        at = lambda f: box["y"] + acc["bottom"] + (acc["top"] - acc["bottom"]) * f  # noqa: E731
        page.mouse.move(x, at(a))
        page.mouse.down()
        for k in range(1, 11):
            page.mouse.move(x, at(a + k * 0.04))
            draws.append(float(canvas.get_attribute("data-draw-ms") or "nan"))
            steps.append(
                float(page.locator("#brushed-count").get_attribute("data-brush-ms") or "nan")
            )
        page.mouse.up()
    heap_after = heap(cdp)
    kept = canvas.get_attribute("data-kept")
    draws.sort()
    steps.sort()
    p = common.percentile
    draw_ms = f"{p(draws, 0.5):.1f} / {p(draws, 0.95):.1f} / {draws[-1]:.1f}"
    step_ms = f"{p(steps, 0.5):.1f} / {p(steps, 0.95):.1f}"
    if errors:
        print("page errors:", errors)
    return [
        ["runs drawn", args.runs, ""],
        ["load: navigation to every run drawn (ms)", loaded, ""],
        ["first draw, 7 axes (ms)", first_draw, "≤ 300"],
        ["draw, 8 axes (ms)", full_draw, "≤ 300"],
        [f"brush redraw p50 / p95 / max (ms, {len(draws)} steps)", draw_ms, ""],
        ["brush step (filter + redraw + counts) p50 / p95 (ms)", step_ms, ""],
        ["runs kept by the last brush", kept, ""],
        ["JS heap after GC, before / after brushing (MB)", f"{heap_before:.1f} / {heap_after:.1f}", ""],
    ]  # fmt: skip


if __name__ == "__main__":
    main()
