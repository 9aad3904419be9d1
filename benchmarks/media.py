"""Media benchmark (SDK part): what ``run.image`` and ``run.histogram`` cost the training loop,
and how fast images become durable, beside TensorBoard's ``SummaryWriter`` and W&B offline
(``wandb.log({"img": wandb.Image(array)})``) in the same run.

Run from the repo root::

    .venv/bin/python benchmarks/media.py [--images 1000] [--histograms 50]

* **image**: ``--images`` calls with a 256x256x3 uint8 array (one pixel changed between calls,
  so every image is new bytes), paced at ``--rate`` images per second: with a sleep between
  calls ("sleep": a step spent in CUDA or numpy, which release the GIL) and with busy Python
  work ("cpu": a step that holds the GIL, so the SDK's threads get it only every switch
  interval, 5 ms); and in a tight loop (faster than any encoder, so runwatch's copies are fresh
  memory: page faults). Calling-thread cost per call
  (``perf_counter_ns`` around each), and images per second from the first call until all are
  durable: for runwatch when ``finish()`` returns (every blob uploaded and every batch
  acknowledged by a real ``runwatch serve`` on 127.0.0.1 after its commit; the images are read
  back from ``/media``); for TensorBoard when ``SummaryWriter.close()`` returns (its event file
  flushed; ``add_image`` encodes the PNG on the calling thread); for W&B offline when
  ``wandb.finish()`` returns (``wandb.Image`` encodes and writes the PNG on the calling thread;
  "stored" counts the PNG files of the run).
* **histogram**: ``--histograms`` calls with 1,000,000 float32 values (runwatch copies them on
  the calling thread and bins them on its own; ``add_histogram`` bins on the calling thread).

"runwatch nice+10" is the same with the SDK's threads at nice +10 (``RUNWATCH_SDK_NICE=10``,
off by default): what a lower priority buys the calling thread, and what it costs delivery on
this host (a nice value ranks the threads against every process, not only the training loop).

"copy floor" is what any ``image()`` that keeps no reference to the caller's array must do at
least, measured in the same run with the same pacing: one copy of it into a reused (so
cache-warm) buffer, and ``arr.copy()``, with no thread. A second table gives ``run.image``'s
p50 and p99 as multiples of each floor's. Goal: ``run.image`` calling-thread p99 <= 20 us.

``--image-only`` runs only runwatch's image part and the floors (no peers, no histograms, no
browser): the quick check of the calling thread's cost.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, overload

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common
import httpx
import numpy as np

GOAL_P99_US = 20.0


class Frames(Sequence[tuple[int, np.ndarray]]):
    """``n`` distinct 256x256x3 uint8 frames, each made when it is read (as a training loop makes
    the image it logs right before logging it): item ``i`` is ``(i, frame)``."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.base = np.random.default_rng(0).integers(0, 256, size=(256, 256, 3), dtype=np.uint8)

    def __len__(self) -> int:
        return self.n

    @overload
    def __getitem__(self, i: int) -> tuple[int, np.ndarray]: ...

    @overload
    def __getitem__(self, i: slice) -> Sequence[tuple[int, np.ndarray]]: ...

    def __getitem__(self, i: int | slice) -> Any:
        if isinstance(i, slice):
            raise TypeError("frames are read one at a time")
        if not 0 <= i < self.n:
            raise IndexError(i)
        frame = self.base.copy()
        frame.flat[i % frame.size] ^= 0xFF
        return i, frame


def paced(call: Any, items: Sequence[Any], rate: float, work: str) -> list[int]:
    """Nanoseconds per ``call(item)``, at ``rate`` calls per second (0: as fast as possible),
    sleeping (``work="sleep"``) or spinning in Python (``"cpu"``) between calls."""
    if rate <= 0:
        return common.timed(call, items)
    ns = time.perf_counter_ns
    tick = int(1e9 / rate)
    next_at = ns()
    out = []
    for i in range(len(items)):
        next_at += tick
        if work == "sleep":
            time.sleep(max(0.0, (next_at - ns()) / 1e9))
        while ns() < next_at:  # the training step: Python holding the GIL
            pass
        item = items[i]  # made after the step, as a loop makes what it logs
        t0 = ns()
        call(item)
        out.append(ns() - t0)
    return out


def runwatch_images(
    url: str, run_dir: Path, batch: Frames, rate: float, work: str = "cpu", nice: int = 0
) -> dict[str, Any]:
    import runwatch

    os.environ["RUNWATCH_SDK_NICE"] = str(nice)
    try:
        run = runwatch.init(project="bench-media", url=url, run_dir=run_dir)
    finally:
        del os.environ["RUNWATCH_SDK_NICE"]
    start = time.perf_counter()
    costs = paced(lambda item: run.image("img", item[1], step=item[0]), batch, rate, work)
    ok = run.finish()
    durable = time.perf_counter() - start
    with httpx.Client(base_url=url, timeout=30) as c:
        keys = c.get(f"/api/v1/runs/{run.id}/media").json()["keys"]
    stored = keys[0]["last_step"] + 1 if keys else 0
    return {"costs": costs, "durable_s": durable, "ok": ok, "stored": stored}


def tensorboard_images(
    logdir: Path, batch: Frames, rate: float, work: str = "cpu"
) -> dict[str, Any]:
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(logdir))
    start = time.perf_counter()
    costs = paced(
        lambda item: writer.add_image("img", item[1], item[0], dataformats="HWC"),
        batch,
        rate,
        work,
    )
    writer.close()
    return {
        "costs": costs,
        "durable_s": time.perf_counter() - start,
        "ok": True,
        "stored": len(batch),
    }


def copy_floor(batch: Frames, rate: float, work: str = "cpu") -> dict[str, Any]:
    """The floor of any ``image()`` that must not keep a reference to the caller's array: one
    plain copy of it into the same reused (so cache-warm) buffer, no thread, nothing else."""
    buffer = np.empty((256, 256, 3), dtype=np.uint8)
    out = memoryview(buffer).cast("B")

    def copy(item: tuple[int, np.ndarray]) -> None:
        out[:] = memoryview(item[1]).cast("B")

    start = time.perf_counter()
    costs = paced(copy, batch, rate, work)
    return {"costs": costs, "durable_s": time.perf_counter() - start, "floor": True}


def array_copy_floor(batch: Frames, rate: float, work: str = "cpu") -> dict[str, Any]:
    """The other floor: ``arr.copy()`` (a new array each call, dropped at once), no thread."""
    start = time.perf_counter()
    costs = paced(lambda item: item[1].copy(), batch, rate, work)
    return {"costs": costs, "durable_s": time.perf_counter() - start, "floor": True}


FLOORS = {"reused buffer": copy_floor, "arr.copy()": array_copy_floor}


def floor_ratios(results: dict[str, dict[str, Any]], pacings: list[str]) -> None:
    """``run.image``'s p50 and p99 beside each copy floor's, same run and pacing, and their
    ratios."""
    rows = []
    for pacing in pacings:
        image = common.us_summary(results[f"runwatch {pacing}"]["costs"])
        for floor in FLOORS:
            us = common.us_summary(results[f"copy floor ({floor}) {pacing}"]["costs"])
            rows.append([pacing, floor, image["p50"], image["p99"], us["p50"], us["p99"],
                         image["p50"] / us["p50"], image["p99"] / us["p99"]])  # fmt: skip
    common.print_table(
        "run.image against the copy floor (same run, same pacing)",
        ["pacing", "floor", "image p50 us", "image p99 us", "floor p50 us", "floor p99 us",
         "x floor p50", "x floor p99"],
        rows,
    )  # fmt: skip


def wandb_images(root: Path, batch: Frames, rate: float, work: str = "cpu") -> dict[str, Any]:
    """W&B offline: ``wandb.Image`` encodes the PNG on the calling thread and writes it under
    the run's ``files/media/images/``; durable when ``wandb.finish()`` returns."""
    import wandb

    os.environ.update(WANDB_MODE="offline", WANDB_SILENT="true")
    root.mkdir(parents=True)
    run = wandb.init(project="bench-media", dir=str(root))
    start = time.perf_counter()
    costs = paced(
        lambda item: wandb.log({"img": wandb.Image(item[1])}, step=item[0]), batch, rate, work
    )
    files = Path(run.dir) / "media" / "images"
    wandb.finish()
    return {
        "costs": costs,
        "durable_s": time.perf_counter() - start,
        "ok": True,
        "stored": len(list(files.glob("*.png"))),
    }


def runwatch_histograms(url: str, run_dir: Path, values: list[np.ndarray]) -> dict[str, Any]:
    import runwatch

    run = runwatch.init(project="bench-media", url=url, run_dir=run_dir)
    start = time.perf_counter()
    costs = common.timed(
        lambda item: run.histogram("w", item[1], step=item[0]), list(enumerate(values))
    )
    ok = run.finish()
    return {"costs": costs, "durable_s": time.perf_counter() - start, "ok": ok}


def tensorboard_histograms(logdir: Path, values: list[np.ndarray]) -> dict[str, Any]:
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(logdir))
    start = time.perf_counter()
    costs = common.timed(
        lambda item: writer.add_histogram("w", item[1], item[0], bins=64), list(enumerate(values))
    )
    writer.close()
    return {"costs": costs, "durable_s": time.perf_counter() - start, "ok": True}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--histograms", type=int, default=50)
    parser.add_argument("--rate", type=float, default=50.0, help="images/s of the paced loops")
    parser.add_argument(
        "--image-only", action="store_true", help="only run.image and the copy floors"
    )
    args = parser.parse_args()
    print(common.machine_line())
    batch = Frames(args.images)
    rng = np.random.default_rng(1)
    values = [rng.standard_normal(1_000_000, dtype=np.float32) for _ in range(4)]
    hists = [values[i % len(values)] for i in range(args.histograms)]
    pacings = [f"@{args.rate:g}/s {work}" for work in ("sleep", "cpu")] + ["tight"]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        server = common.Server(root / "data").start()
        try:
            results: dict[str, dict[str, Any]] = {}
            for pacing in pacings:
                work = pacing.split()[-1]
                rate = 0.0 if work == "tight" else args.rate
                tag = pacing.replace("@", "").replace("/s ", "-")
                results[f"runwatch {pacing}"] = runwatch_images(
                    server.url, root / f"rw-{tag}", batch, rate, work
                )
                # The SDK's threads at a lower priority (RUNWATCH_SDK_NICE): off by default.
                results[f"runwatch nice+10 {pacing}"] = runwatch_images(
                    server.url, root / f"rw-nice-{tag}", batch, rate, work, nice=10
                )
                if not args.image_only:
                    results[f"tensorboard {pacing}"] = tensorboard_images(
                        root / f"tb-{tag}", batch, rate, work
                    )
                    results[f"wandb offline {pacing}"] = wandb_images(
                        root / f"wb-{tag}", batch, rate, work
                    )
                for floor, measure in FLOORS.items():
                    results[f"copy floor ({floor}) {pacing}"] = measure(batch, rate, work)
            hist_results = {}
            if not args.image_only:
                hist_results = {
                    "runwatch": runwatch_histograms(server.url, root / "rw-hist", hists),
                    "tensorboard": tensorboard_histograms(root / "tb-hist", hists),
                }
        finally:
            server.stop()
    rows = []
    for name, r in results.items():
        us = common.us_summary(r["costs"])
        if r.get("floor"):
            rows.append([name, us["p50"], us["p99"], us["max"], "-", "-"])
            continue
        rate = len(batch) / r["durable_s"]
        rows.append([name, us["p50"], us["p99"], us["max"], rate, f"{r['stored']}/{len(batch)}"])
    common.print_table(
        f"image of 256x256x3 uint8, {len(batch):,} calls",
        ["system", "call p50 us", "call p99 us", "call max us", "images/s durable", "stored"],
        rows,
    )
    floor_ratios(results, pacings)
    hrows = []
    for name, r in hist_results.items():
        us = common.us_summary(r["costs"])
        hrows.append([name, us["p50"], us["p99"], us["max"], len(hists) / r["durable_s"]])
    if hrows:
        common.print_table(
            f"histogram of 1,000,000 float32, {len(hists):,} calls",
            ["system", "call p50 us", "call p99 us", "call max us", "histograms/s durable"],
            hrows,
        )
    for pacing in pacings[:2]:
        p99 = common.us_summary(results[f"runwatch {pacing}"]["costs"])["p99"]
        floors = ", ".join(
            f"{floor} {common.us_summary(results[f'copy floor ({floor}) {pacing}']['costs'])['p99']:.1f}"
            for floor in FLOORS
        )
        common.check(
            f"run.image calling-thread p99 {p99:.1f} us <= {GOAL_P99_US:g} us ({pacing};"
            f" the copy floors' p99 in this run: {floors} us)",
            p99 <= GOAL_P99_US,
        )
    common.check(
        "every image durable and stored",
        all(
            r["ok"] and r["stored"] == len(batch)
            for n, r in results.items()
            if n.startswith("runwatch")
        ),
    )


# -- browser part: the run page's Media tab in Chromium -------------------------------------
GOAL_FRAME_P95_MS = 33.0
GOAL_FIRST_DRAW_MS = 200.0
SCRUB_JS = """async (sel) => {
    const panel = document.querySelector(sel);
    const slider = panel.querySelector("input.media-range");
    const lo = Number(slider.min), hi = Number(slider.max);
    const shown = new Set();
    const seen = new MutationObserver(() => shown.add(panel.dataset.step));
    seen.observe(panel, { attributes: true, attributeFilter: ["data-step"] });
    const frames = [];
    let t = await new Promise(requestAnimationFrame);
    for (let v = lo; v <= hi; v++) {  // one slider position per frame, first step to last
        slider.value = String(v);
        slider.dispatchEvent(new Event("input", { bubbles: true }));
        const now = await new Promise(requestAnimationFrame);
        frames.push(now - t);
        t = now;
    }
    seen.disconnect();
    return { frames, positions: hi - lo + 1, shown: shown.size };
}"""


def _post_batch(client: httpx.Client, run_id: str, seq: int, **fields: Any) -> None:
    body = {"producer": "bench", "batch_seq": seq, **fields}
    client.post(f"/api/v1/runs/{run_id}/batches", json=body, timeout=120).raise_for_status()


def _image_run(client: httpx.Client, steps: int, side: int) -> str:
    """A run with ``steps`` distinct ``side``x``side`` PNGs under one key (blob, then batch)."""
    import hashlib
    import io

    from PIL import Image

    run_id: str = client.post("/api/v1/runs", json={"project": "bench", "name": "scrub"}).json()[
        "id"
    ]
    rng = np.random.default_rng(2)
    base = rng.integers(0, 256, (side, side, 3), dtype=np.uint8)
    records = []
    for step in range(steps):
        pixels = base.copy()
        pixels[step % side, (step // side) % side] = (step % 256, 0, 0)
        out = io.BytesIO()
        Image.fromarray(pixels).save(out, format="PNG")
        data = out.getvalue()
        sha = hashlib.sha256(data).hexdigest()
        url = f"/api/v1/runs/{run_id}/blobs/{sha}"
        client.put(url, content=data, headers={"Content-Type": "image/png"}).raise_for_status()
        records.append({"key": "samples/scrub", "step": step, "ts": time.time(), "sha256": sha,
                        "mime": "image/png", "width": side, "height": side})  # fmt: skip
    for at in range(0, steps, 500):
        _post_batch(client, run_id, at // 500 + 1, media=records[at : at + 500])
    return run_id


def _histogram_run(client: httpx.Client, steps: int, bins: int) -> str:
    """A run with ``steps`` histograms of ``bins`` bins under one key."""
    run_id: str = client.post("/api/v1/runs", json={"project": "bench", "name": "dist"}).json()[
        "id"
    ]
    edges = np.linspace(-4, 4, bins + 1)
    shape = np.exp(-(((edges[:-1] + edges[1:]) / 2) ** 2) / 2)
    for at in range(0, steps, 1000):
        hists = []
        for step in range(at, min(steps, at + 1000)):
            spread = 1 + step / steps
            hists.append({"key": "weights/fc1", "step": step, "ts": time.time(),
                          "edges": (edges * spread).tolist(),
                          "counts": [int(c) for c in shape * 1000]})  # fmt: skip
        _post_batch(client, run_id, at // 1000 + 1, histograms=hists)
    return run_id


def browser_part(url: str, steps: int, hist_steps: int) -> None:
    """Scrub a 1,000-step image key end to end, and first-draw a 10,000-step distribution."""
    from playwright.sync_api import sync_playwright

    with httpx.Client(base_url=url, timeout=60) as client:
        image_run = _image_run(client, steps, 128)
        dist_run = _histogram_run(client, hist_steps, 64)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=common.CHROMIUM, headless=True, args=common.CHROMIUM_ARGS
        )
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        cdp = page.context.new_cdp_session(page)
        cdp.send("Performance.enable")
        page.goto(f"{url}/runs/{image_run}#media")
        sel = '.media-panel[data-key="samples/scrub"]'
        page.wait_for_selector(f'{sel}[data-step="{steps - 1}"]')
        scrub = page.evaluate(SCRUB_JS, sel)
        page.wait_for_selector(f'{sel}[data-step="{steps - 1}"][data-loading="false"]')
        cdp.send("HeapProfiler.collectGarbage")
        heap = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
        cache = page.evaluate(
            "async () => (await import('/static/js/media-images.js')).cacheStats()"
        )
        page.goto(f"{url}/runs/{dist_run}#media")
        chart = page.wait_for_selector('.dist-panel[data-key="weights/fc1"][data-drawn="1"]')
        assert chart is not None
        fetch_ms = float(chart.get_attribute("data-fetch-ms") or "nan")
        draw_ms = float(chart.get_attribute("data-draw-ms") or "nan")
        drawn_steps = int(chart.get_attribute("data-steps") or 0)
        browser.close()
    frames = sorted(scrub["frames"])
    p95 = common.percentile(frames, 0.95)
    common.print_table(
        f"run page, one 128x128 image key of {steps:,} steps: slider scrubbed end to end",
        ["positions", "images shown", "frame p50 ms", "frame p95 ms", "frame max ms",
         "JS heap after MB", "decoded cached", "cache MB"],
        [[scrub["positions"], scrub["shown"], common.percentile(frames, 0.5), p95, frames[-1],
          heap["JSHeapUsedSize"] / 2**20, f"{cache['entries']}/{cache['max_entries']}",
          cache["bytes"] / 2**20]],
    )  # fmt: skip
    common.print_table(
        f"distribution chart, {hist_steps:,} steps x 64 bins logged",
        ["steps drawn", "fetch ms", "first draw ms", "fetch + draw ms"],
        [[drawn_steps, fetch_ms, draw_ms, fetch_ms + draw_ms]],
    )
    common.check(
        f"scrub frame p95 {p95:.1f} ms <= {GOAL_FRAME_P95_MS:g} ms", p95 <= GOAL_FRAME_P95_MS
    )
    common.check(
        f"decoded-image cache bounded ({cache['entries']} <= {cache['max_entries']})",
        cache["entries"] <= cache["max_entries"],
    )
    common.check(
        f"distribution first draw {draw_ms:.1f} ms <= {GOAL_FIRST_DRAW_MS:g} ms "
        f"(with its fetch: {fetch_ms + draw_ms:.1f} ms)",
        draw_ms <= GOAL_FIRST_DRAW_MS,
    )


def browser_main() -> None:
    """``--browser-only``: the browser part alone, on its own server."""
    print(common.machine_line())
    with tempfile.TemporaryDirectory() as tmp:
        server = common.Server(Path(tmp) / "data").start()
        try:
            browser_part(server.url, 1000, 10_000)
        finally:
            server.stop()


if __name__ == "__main__":
    if "--browser-only" in sys.argv:
        browser_main()
    else:
        main()
        if "--image-only" not in sys.argv:
            browser_main()
