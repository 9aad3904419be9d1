"""Sweep views benchmark: parallel coordinates and every run's curve over 10,000 runs in Chromium.

Run from the repo root (about five minutes, most of it making the runs)::

    .venv/bin/python benchmarks/sweep_views.py [--runs 10000] [--brushes 60] [--steps 100]

A real ``runwatch serve`` on 127.0.0.1 (SQLite); ``--runs`` finished runs made through the HTTP
API (8 threads), each with 6 config keys (4 numbers, 2 categories) and 3 metrics of ``--steps``
points (a noisy learning curve). Headless Chromium (``--enable-precise-memory-info``, no GPU: a
software rasterizer) opens ``/sweep``, which fetches every run (pages of 1,000), draws 8 axes,
then every run's curve of a metric (``GET /run-curves``, 100 runs a request). Printed:

- load: navigation until the plot shows every run (fetching 10 pages and drawing), and until
  every run's curve is drawn;
- first draw: the canvas work of the draw with every run (the page's ``data-draw-ms``; goal
  ≤ 300 ms);
- brush step: ``--brushes`` drags along the ``summary.acc`` axis, each mouse move a brush
  change (filter 10,000 runs, redraw, counts): draw and whole-step time, p50 / p95 / max;
- JS heap after a forced GC (CDP), before and after the brushing;
- curves: another metric chosen until its every curve is drawn (fetched and rasterized), the
  requests it took, and the best-so-far toggle until the canvas's pixels are redrawn (goal
  ≤ 300 ms; a canvas's strokes are rasterized after its commands, and cost most of it);
- server: ``GET /run-curves`` of 100 runs, one request at a time, and its size per run.
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


def make_run(client: httpx.Client, i: int, steps: int) -> None:
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
    # A noisy learning curve: acc rises to its final value, loss falls.
    points = []
    for s in range(steps):
        done = (s + 1) / steps
        noise = rng.gauss(0, 0.02) * (1 - done)
        points.append(
            [s, now, {"acc": acc * done + noise, "loss": 1 - acc * done - noise, "time": s}]
        )
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
    parser.add_argument("--steps", type=int, default=100, help="points per metric per run")
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
                list(pool.map(lambda i: make_run(client, i, args.steps), range(args.runs)))
            made = time.perf_counter() - t0
            server_rows = measure_server(server.url)
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=common.CHROMIUM, headless=True,
                    args=[*common.CHROMIUM_ARGS, "--enable-precise-memory-info"])  # fmt: skip
                try:
                    rows = [*measure(browser, server.url, args), *server_rows]
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
    # The curves load after the runs: brushing starts once they are in (they would share the
    # page's thread).
    page.wait_for_function(_CURVES_IN, timeout=900_000, polling=20)
    curves_loaded = (time.perf_counter() - start) * 1000
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
    page.locator("#clear-brushes").click()  # the curves of every run, not the brushed ones
    curve_rows = measure_curves(page, cdp)
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
        ["load: navigation to every run's curve drawn (ms)", curves_loaded, ""],
        ["first draw, 7 axes (ms)", first_draw, "≤ 300"],
        ["draw, 8 axes (ms)", full_draw, "≤ 300"],
        [f"brush redraw p50 / p95 / max (ms, {len(draws)} steps)", draw_ms, ""],
        ["brush step (filter + redraw + counts) p50 / p95 (ms)", step_ms, ""],
        ["runs kept by the last brush", kept, ""],
        ["JS heap after GC, before / after brushing (MB)", f"{heap_before:.1f} / {heap_after:.1f}", ""],
        *curve_rows,
    ]  # fmt: skip


def measure_server(url: str) -> list[list[Any]]:
    """What the curves' endpoint costs: GET /run-curves of 100 runs (the page's batch) over the
    newest 1,000 runs, one request at a time, at 50 points a curve (the page's at 10,000 runs:
    buckets) and at 200 (its most)."""
    rows: list[list[Any]] = []
    with httpx.Client(base_url=url, timeout=60) as client:
        ids = [r["id"] for r in client.get("/api/v1/runs", params={"limit": 1000}).json()["runs"]]
        for points in (50, 200):
            times: list[float] = []
            size = 0
            for k in range(0, len(ids), 100):
                params = {"key": "loss", "ids": ",".join(ids[k : k + 100]), "max_points": points}
                t0 = time.perf_counter()
                answer = client.get("/api/v1/run-curves", params=params)
                times.append((time.perf_counter() - t0) * 1000)
                answer.raise_for_status()
                size += len(answer.content)
            times.sort()
            took = f"{common.percentile(times, 0.5):.0f} / {times[-1]:.0f}"
            rows.append(
                [f"server: GET /run-curves, 100 runs, {points} points, p50 / max (ms)", took, ""]
            )
            rows.append(
                [
                    f"server: its answer per run, {points} points (KB)",
                    f"{size / 1024 / len(ids):.1f}",
                    "",
                ]
            )
    return rows


# Toggle "best so far" and return how long until the curves were drawn again, pixels and all
# (the curves draw in the next frame; reading a pixel waits for the canvas to be rasterized),
# and that draw's canvas commands alone.
_TOGGLE = """async () => {
  const box = document.querySelector('#curve-best');
  const canvas = document.querySelector('.curves-canvas');
  const t0 = performance.now();
  box.checked = !box.checked;
  box.dispatchEvent(new Event('change'));
  await new Promise((r) => requestAnimationFrame(r));
  await new Promise((r) => setTimeout(r, 0)); // after the frame's callbacks: the draw ran
  canvas.getContext('2d').getImageData(0, 0, 1, 1);
  return [performance.now() - t0, Number(canvas.dataset.drawMs)];
}"""
# Every curve wanted is drawn: none waits for its series.
_CURVES_IN = """() => { const c = document.querySelector('.curves-canvas');
  return c && c.dataset.wanted !== undefined && c.dataset.waiting === '0'
    && c.dataset.drawn === c.dataset.wanted; }"""
# Choose another metric for the curves; return the ms until every curve of it is drawn.
_SWITCH = """async (metric) => {
  const select = document.querySelector('#curve-metric');
  const canvas = document.querySelector('.curves-canvas');
  const t0 = performance.now();
  select.value = metric;
  select.dispatchEvent(new Event('change'));
  for (;;) {
    await new Promise((r) => setTimeout(r, 20));
    if (canvas.dataset.waiting === '0' && canvas.dataset.drawn === canvas.dataset.wanted) break;
  }
  canvas.getContext('2d').getImageData(0, 0, 1, 1); // the pixels too: rasterizing is the cost
  return performance.now() - t0;
}"""


def measure_curves(page: Any, cdp: Any) -> list[list[Any]]:
    """Switch the curves to another metric (nothing cached): fetched and drawn; then toggle
    best so far and back, each a redraw of every curve."""
    fetches: list[str] = []
    page.on("request", lambda r: "/run-curves?" in r.url and fetches.append(r.url))
    curves = page.locator(".curves-canvas")
    page.evaluate("() => document.querySelector('.curves-canvas').scrollIntoView()")
    fetched = page.evaluate(_SWITCH, "loss") / 1000
    wanted = int(curves.get_attribute("data-wanted") or "0")
    draw = float(curves.get_attribute("data-draw-ms") or "nan")
    toggles = [page.evaluate(_TOGGLE) for _ in range(6)]
    whole = sorted(t[0] for t in toggles)
    draws = sorted(t[1] for t in toggles)
    p = common.percentile
    shown = f"{wanted:,} ({page.locator('#curve-count').text_content()})"
    commands = f"{p(draws, 0.5):.1f} / {draws[-1]:.1f}"
    pixels = f"{p(whole, 0.5):.1f} / {whole[-1]:.1f}"
    return [
        ["curves: runs drawn of the runs shown", shown, ""],
        ["curves: metric chosen to every curve drawn (s)", f"{fetched:.1f}", ""],
        ["curves: series requests", len(fetches), ""],
        ["curves: canvas commands of a draw of every curve (ms)", draw, ""],
        ["curves: best-so-far toggle, canvas commands p50 / max (ms)", commands, ""],
        ["curves: best-so-far toggle to redrawn pixels p50 / max (ms)", pixels, "≤ 300"],
        ["JS heap after GC, curves cached (MB)", f"{heap(cdp):.1f}", ""],
    ]  # fmt: skip


if __name__ == "__main__":
    main()
