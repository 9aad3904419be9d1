"""Run page benchmark: does a busy run page stay smooth and bounded, and what does a viewer cost?

Run from the repo root (about 8 minutes with the defaults; ``--minutes 1`` for a quick look)::

    .venv/bin/python benchmarks/run_page.py [--minutes 5] [--viewers 1,10,50] [--step-seconds 20]

A real ``runwatch serve`` on 127.0.0.1 and one producer process (``telemetry_producer.py``, the
SDK) ticking at 10 Hz: 10 steps x 16 metrics per tick (4 of them vitals; the SDK adds 4 ``sys/``
keys: 20 charts), 10 events/s, a FIFO point set "stream" (+20 points a tick, cap 4,000), the
point set "embedding" (4,000 points, replaced every 5 s), the "leaderboard" table (20 rows,
replaced every second) and a snapshot every 5 s. At these rates every cap of the page (feed 500
rows, 5,000 points a chart, 4,000 a scatter) is full within the first minute, so from minute 1 on
a flat heap means a bounded page.

1. Ceiling: headless Chromium (``--enable-precise-memory-info``) counts ``requestAnimationFrame``
   callbacks on an empty page for ``--ceiling-seconds``: the frame rate this machine gives.
2. The run page ``/runs/{id}`` for ``--minutes``; every ``--window`` s: frames per second (p50,
   min over the window's whole seconds), long tasks (``PerformanceObserver``), the renderer's
   main thread from CDP ``Performance.getMetrics``: "busy" (TaskDuration: wall time in tasks,
   which a loaded machine inflates) and "CPU" (ThreadTime), ``usedJSHeapSize`` before
   and after a forced GC (CDP ``HeapProfiler.collectGarbage``), DOM elements
   (``getElementsByTagName('*')``), CDP's node and listener counts, and CPU (% of one core) of
   the server, Chromium and everything else on this shared machine. Which widgets were found
   (by selector) and the page's console errors are printed.
3. Fan-out cost: ``--viewers`` lean WebSocket clients (``live_viewers.py``, live only), one step
   per count, between two steps with none (the baseline: ingest alone). Server CPU above the
   baseline per record delivered to one viewer, and per viewer; and a least-squares fit of
   server CPU against deliveries/s over all steps (the small steps alone are within noise).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common
import httpx
import psutil

HERE = Path(__file__).resolve().parent
CPUS = psutil.cpu_count() or 1
MB = 2**20
Result = dict[str, Any]
CPU_COLUMNS = ("server", "chromium", "others", "busy")

MEASURE_JS = """(() => {
  const b = (window.__bench = { frames: [], long: [] });
  let sec = -1, n = 0;
  const tick = (t) => {
    const s = Math.floor(t / 1000);
    if (s !== sec) {
      if (sec >= 0) { b.frames.push(n); for (let k = sec + 1; k < s; k++) b.frames.push(0); }
      if (b.frames.length > 4000) b.frames.splice(0, 1000);
      sec = s; n = 0;
    }
    n++;
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) if (b.long.length < 10000) b.long.push(e.duration);
    }).observe({ type: "longtask", buffered: true });
  } catch (err) { b.noLongTasks = String(err); }
})();"""
DRAIN_JS = """() => {
  const b = window.__bench, conn = document.getElementById("conn");
  return { frames: b.frames.splice(0), long: b.long.splice(0),
           heap: performance.memory ? performance.memory.usedJSHeapSize : null,
           elements: document.getElementsByTagName("*").length,
           conn: conn ? conn.dataset.state : null };
}"""
WIDGETS = {  # label -> selector; counted and checked for visibility, whatever the page has
    "charts": "#charts .chart", "chart canvases": "#charts canvas", "vitals": "#vitals .vital",
    "vitals sparklines": "#vitals canvas", "scatter canvas": "#scatter canvas",
    "scatter legend keys": "#scatter .scatter-key", "leaderboard rows": "#leaderboard tbody tr",
    "leaderboard tabs": "#leaderboard .lb-tab", "feed rows": "#event-feed li",
    "snapshot panel": "#snapshot-panel", "run tabs": "#run-tabs .run-tab",
    "live badge": "#live-badge", "controls": "#run-controls",
}  # fmt: skip
CENSUS_JS = """(widgets) => Object.entries(widgets).map(([label, sel]) => {
  const els = [...document.querySelectorAll(sel)];
  return [label, sel, els.length, els.filter((e) => e.getClientRects().length > 0).length];
})"""


class Meter:
    """CPU of the server, the producer, this process and Chromium (this process's descendants
    named like it; ones that exited keep their last reading); the machine's busy %."""

    def __init__(self, server_pid: int, producer_pid: int) -> None:
        self.procs = {"server": psutil.Process(server_pid), "producer": psutil.Process(producer_pid),
                      "bench": psutil.Process()}  # fmt: skip
        self.chromium: dict[int, float] = {}

    def snap(self) -> dict[str, float]:
        for p in psutil.Process().children(recursive=True):
            with contextlib.suppress(psutil.Error):
                if "chrom" in p.name() or "headless" in p.name():
                    self.chromium[p.pid] = sum(p.cpu_times()[:2])
        s = common.cpu_snapshot(self.procs)
        s["chromium"], s["t"] = sum(self.chromium.values()), time.perf_counter()
        return s

    @staticmethod
    def since(a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
        wall = b["t"] - a["t"]
        used = common.cpu_percent({k: v for k, v in a.items() if k != "t"}, b, wall)
        used["busy"] = (b["machine"] - a["machine"]) * 100 / wall / CPUS
        used["server_s"], used["wall"] = b["server"] - a["server"], wall
        return used


def seq_of(url: str, run_id: str) -> int:
    """The run's current seq (0 until the SDK has created it)."""
    return int(httpx.get(f"{url}/api/v1/runs/{run_id}", timeout=10).json().get("seq", 0))


def fps_stats(frames: list[int]) -> tuple[float, float]:
    ordered = sorted(frames)
    return common.percentile(ordered, 0.5), float(ordered[0]) if ordered else float("nan")


def ceiling(browser: Any, seconds: float) -> list[int]:
    page = browser.new_page()
    page.set_content("<p>ceiling</p>")
    page.evaluate(MEASURE_JS)
    page.wait_for_timeout(seconds * 1000)
    frames: list[int] = page.evaluate(DRAIN_JS)["frames"]
    page.close()
    return frames[1:]  # the first second is partial


def page_phase(browser: Any, url: str, run_id: str, meter: Meter, args: Any) -> Result:
    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    errors: list[str] = []
    page.on("console", lambda m: m.type == "error" and errors.append(f"console: {m.text}"))
    page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    page.on("requestfailed", lambda r: errors.append(f"request failed: {r.url} {r.failure}"))
    page.add_init_script(MEASURE_JS)
    cdp = page.context.new_cdp_session(page)
    cdp.send("Performance.enable")

    def metrics() -> dict[str, float]:
        return {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}

    seq0, cpu0, t0 = seq_of(url, run_id), meter.snap(), time.monotonic()
    page.goto(f"{url}/runs/{run_id}", wait_until="load", timeout=30_000)
    try:
        page.wait_for_selector("#conn[data-state=live]", timeout=30_000)
    except Exception:
        errors.append("the page's #conn never said live within 30 s")
    census = page.evaluate(CENSUS_JS, WIDGETS)
    windows, before, m0 = [], cpu0, metrics()
    count = max(1, round(args.minutes * 60 / args.window))
    for w in range(count):
        page.wait_for_timeout(max(0.0, t0 + (w + 1) * args.window - time.monotonic()) * 1000)
        drained, m1, seq, cpu = (
            page.evaluate(DRAIN_JS),
            metrics(),
            seq_of(url, run_id),
            meter.snap(),
        )
        cdp.send("HeapProfiler.collectGarbage")
        heap_gc = page.evaluate("performance.memory ? performance.memory.usedJSHeapSize : null")
        used = Meter.since(before, cpu)
        busy = (m1["TaskDuration"] - m0["TaskDuration"]) * 100 / used["wall"]
        main_cpu = (m1["ThreadTime"] - m0["ThreadTime"]) * 100 / used["wall"]
        p50, low = fps_stats(drained["frames"][1:] if w == 0 else drained["frames"])
        long = drained["long"]
        windows.append({"t": time.monotonic() - t0, "fps_p50": p50, "fps_min": low,
                        "long_n": len(long), "long_ms": sum(long), "long_max": max(long, default=0),
                        "main_busy": busy, "main_cpu": main_cpu, "heap": drained["heap"], "heap_gc": heap_gc,
                        "elements": drained["elements"], "nodes": m1.get("Nodes"),
                        "listeners": m1.get("JSEventListeners"), "conn": drained["conn"],
                        "cpu": used, "seq": seq})  # fmt: skip
        print(f"  {windows[-1]['t']:.0f} s: fps p50 {p50:.0f}, heap {heap_gc / MB:.1f} MB after GC, "
              f"{drained['elements']:,} elements, conn {drained['conn']}", flush=True)  # fmt: skip
        before, m0 = meter.snap(), metrics()
    census_end = page.evaluate(CENSUS_JS, WIDGETS)
    scatter_count = page.evaluate("document.getElementById('scatter')?.dataset.count ?? null")
    whole = Meter.since(cpu0, meter.snap())
    records = seq_of(url, run_id) - seq0
    page.close()
    return {"windows": windows, "census": census, "census_end": census_end, "errors": errors,
            "scatter_points": scatter_count, "cpu": whole, "records": records}  # fmt: skip


def fanout(url: str, run_id: str, meter: Meter, args: Any) -> list[Result]:
    """Per step, ``n`` live-only WebSocket viewers (none for the baseline steps) for
    ``--step-seconds``: server CPU, records, and what the viewers got."""
    rows = []
    for n in [0, *(int(n) for n in args.viewers.split(",")), 0]:
        child = None
        if n:
            child = common.Child(
                [sys.executable, str(HERE / "live_viewers.py"), url, run_id, str(n)]
            )
            if not child.lines.wait("READY", 60):
                raise RuntimeError(f"{n} viewers did not connect")
            meter.procs["client"] = psutil.Process(child.proc.pid)
        time.sleep(2)  # settle
        stats0 = child.ask("STATS", "STATS ") if child else None
        seq0, cpu0 = seq_of(url, run_id), meter.snap()
        time.sleep(args.step_seconds)
        seq1, used = seq_of(url, run_id), Meter.since(cpu0, meter.snap())
        row: Result = {"viewers": n, "records": seq1 - seq0, "cpu": used, "delivered": 0}
        if child is not None:
            a, b = stats0["all"], child.ask("STATS", "STATS ")["all"]
            for k in ("records", "bytes", "frames", "dups", "gaps", "resets", "drops"):
                row[k if k != "records" else "delivered"] = b[k] - a[k]
            child.say("QUIT")
            child.proc.wait(10)
            del meter.procs["client"]
        rows.append(row)
        print(
            f"  {n} viewers: server {used['server']:.1f}%, others {used['others']:.0f}%", flush=True
        )
    return rows


def report_page(res: Result, args: Any) -> None:
    print(f"\nrun page for {args.minutes:g} min · {common.machine_line()}")
    idle_p50, idle_min = fps_stats(res["ceiling"])
    print(
        f"ceiling (empty page, {len(res['ceiling'])} s): {idle_p50:.0f} fps p50, {idle_min:.0f} min"
    )
    page, ws = res["page"], res["page"]["windows"]
    rows = [[label, sel, f"{n0} ({v0} shown)", f"{n1} ({v1} shown)"] for (label, sel, n0, v0),
            (_, _, n1, v1) in zip(page["census"], page["census_end"], strict=True)]  # fmt: skip
    common.print_table("widgets found (by selector): after load, at the end",
                       ["widget", "selector", "after load", "at the end"], rows)  # fmt: skip
    print(f"  #scatter[data-count] at the end: {page['scatter_points']}")
    rows = []
    for prev, w in zip([None, *ws], ws, strict=False):
        c = w["cpu"]
        rate = (w["seq"] - prev["seq"]) / (w["t"] - prev["t"]) if prev else None
        rows.append([f"{w['t']:.0f}", w["fps_p50"], w["fps_min"], common.ratio(w["fps_p50"], idle_p50),
                     w["long_n"], w["long_ms"], w["long_max"], f"{w['main_busy']:.0f}%",
                     f"{w['main_cpu']:.0f}%", w["heap"] / MB, w["heap_gc"] / MB, w["elements"],
                     w["nodes"], w["listeners"], rate, *(f"{c[k]:.0f}%" for k in CPU_COLUMNS),
                     w["conn"]])  # fmt: skip
    common.print_table(
        f"run page, per {args.window:g}-s window (main busy: wall time in tasks; main CPU: the "
        "renderer main thread's CPU; CPU columns: % of one core; busy: % of the whole machine)",
        ["t s", "fps p50", "fps min", "/ceiling", "long tasks", "long ms", "max ms", "main busy",
         "main CPU", "heap MB", "after GC", "elements", "nodes", "listeners", "rec/s", "server",
         "chromium", "others", "busy", "conn"], rows)  # fmt: skip
    errors = page["errors"]
    print(f"\nconsole errors: {len(errors)}")
    for text in sorted(set(errors))[:10]:
        print(f"  {errors.count(text)} x {text[:200]}")
    end, worst = ws[-1], min(w["fps_p50"] for w in ws)
    ref = next((w for w in ws[:-1] if w["t"] >= 59), None)  # caps are full after a minute
    if ref is not None:
        later = [(w["t"], w["heap_gc"] / MB) for w in ws if w["t"] >= ref["t"]]
        print(f"heap after GC from {ref['t']:.0f} s on: min {min(h for _, h in later):.1f} MB, max "
              f"{max(h for _, h in later):.1f} MB, slope {common.slope(later) * 60:+.2f} MB/min")  # fmt: skip
    print("targets:")
    common.check(f"every window's fps p50 >= 0.9x the ceiling: worst {worst:.0f} vs {idle_p50:.0f}",
                 worst >= 0.9 * idle_p50)  # fmt: skip
    if ref is None:
        print("  [ -- ] heap and DOM flat: needs --minutes >= 2 (caps fill in the first minute)")
    for what, key, unit, limit in (("heap after GC", "heap_gc", MB, 1.2),
                                   ("DOM elements", "elements", 1, 1.1)):  # fmt: skip
        if ref is not None:
            common.check(f"{what} flat: {common.fmt(ref[key] / unit)} at {ref['t']:.0f} s -> "
                         f"{common.fmt(end[key] / unit)} at the end = "
                         f"{common.ratio(end[key], ref[key])} <= {limit:.2f}x",
                         end[key] <= limit * ref[key])  # fmt: skip
    common.check(f"no console errors ({len(errors)})", not errors)


def report_fanout(res: Result) -> None:
    page, steps = res["page"], res["fanout"]
    zeros = [r["cpu"]["server"] for r in steps if r["viewers"] == 0]
    base = sum(zeros) / len(zeros)
    extra = page["cpu"]["server"] - base
    rows = [["1 Chromium page (the page phase)", page["records"] / page["cpu"]["wall"],
             page["records"], "-", "-", f"{page['cpu']['server']:.1f}%", f"{extra:+.1f}%",
             extra * 1e4 * page["cpu"]["wall"] / max(page["records"], 1), extra,
             f"{page['cpu']['others']:.0f}%", "-"]]  # fmt: skip
    for r in steps:
        c, n = r["cpu"], r["viewers"]
        extra = c["server"] - base
        errors = sum(r.get(k, 0) for k in ("dups", "gaps", "resets", "drops"))
        rows.append([f"{n} WebSocket viewers", r["records"] / c["wall"], r["delivered"],
                     r.get("bytes", 0) / MB if n else "-", errors if n else "-",
                     f"{c['server']:.1f}%", f"{extra:+.1f}%" if n else "-",
                     extra * 1e4 * c["wall"] / r["delivered"] if n else None,
                     extra / n if n else None, f"{c['others']:.0f}%",
                     f"{c.get('client', 0):.0f}%" if n else "-"])  # fmt: skip
    common.print_table(
        f"server fan-out cost (base = ingest alone, mean of the 0-viewer steps: {base:.1f}% of a "
        f"core, which differ by {abs(zeros[0] - zeros[-1]):.1f}%; errors = dups+gaps+resets+drops)",
        ["step", "rec/s", "delivered", "MB", "errors", "server", "above base",
         "µs/record/viewer", "% core/viewer", "others", "client"], rows)  # fmt: skip
    fit = common.slope([(r["delivered"] / r["cpu"]["wall"], r["cpu"]["server_s"] / r["cpu"]["wall"])
                        for r in steps])  # fmt: skip
    mb = sum(r.get("bytes", 0) for r in steps) / max(sum(r["delivered"] for r in steps), 1)
    print(f"least-squares fit over the steps: {fit * 1e6:.1f} µs of server CPU per record delivered "
          f"to one viewer ({mb / 1024:.1f} KiB a record on average)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--window", type=float, default=30.0, help="seconds per sample window")
    parser.add_argument("--viewers", default="1,10,50", help="fan-out steps (viewer counts)")
    parser.add_argument("--step-seconds", type=float, default=20.0)
    parser.add_argument("--ceiling-seconds", type=float, default=10.0)
    args = parser.parse_args()
    if importlib.util.find_spec("playwright") is None or not Path(common.CHROMIUM).exists():
        sys.exit("needs the playwright package and /usr/bin/chromium")
    from playwright.sync_api import sync_playwright

    os.environ.pop("RUNWATCH_URL", None)
    steps = len(args.viewers.split(",")) + 2
    bound = args.ceiling_seconds + args.minutes * 60 + steps * (args.step_seconds + 15) + 120
    with tempfile.TemporaryDirectory(prefix="bench-run-page-") as tmp:
        server = common.Server(Path(tmp) / "data").start()
        producer = common.Child([sys.executable, str(HERE / "telemetry_producer.py"), server.url,
                                 "bench-page", "page", "--seconds", str(bound), "--steps-per-tick",
                                 "10", "--events", "1.0", "--run-dir", str(Path(tmp) / "run")])  # fmt: skip
        try:
            run_id = producer.lines.wait("RUN ", 60).split()[1]
            common.wait_for(lambda: seq_of(server.url, run_id) > 100, 60, "the first records")
            meter, res = Meter(server.pid, producer.proc.pid), {}
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=common.CHROMIUM, headless=True,
                    args=[*common.CHROMIUM_ARGS, "--enable-precise-memory-info"])  # fmt: skip
                try:
                    print(f"ceiling: an empty page for {args.ceiling_seconds:g} s ...", flush=True)
                    res["ceiling"] = ceiling(browser, args.ceiling_seconds)
                    print(f"run page /runs/{run_id} for {args.minutes:g} min ...", flush=True)
                    res["page"] = page_phase(browser, server.url, run_id, meter, args)
                finally:
                    browser.close()
            print("fan-out steps ...", flush=True)
            res["fanout"] = fanout(server.url, run_id, meter, args)
            res["producer"] = producer.ask("STOP", "DONE ", 90)
        finally:
            common.stop(producer.proc)
            server.stop()
    report_page(res, args)
    report_fanout(res)
    if prod := res["producer"]:
        tick = prod["tick_ms"]
        print(f"producer: {prod['ticks']:,} ticks in {prod['seconds']:.0f} s, {prod['late']} late;"
              f" tick work p50 {tick['p50']:.2f} ms, p99 {tick['p99']:.1f} ms")  # fmt: skip


if __name__ == "__main__":
    main()
