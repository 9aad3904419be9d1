"""Media benchmark (SDK part): what ``run.image`` and ``run.histogram`` cost the training loop,
and how fast images become durable, beside TensorBoard's ``SummaryWriter`` in the same run.

Run from the repo root::

    .venv/bin/python benchmarks/media.py [--images 1000] [--histograms 50]

* **image**: ``--images`` calls with a 256x256x3 uint8 array (one pixel changed between calls,
  so every image is new bytes), paced at ``--rate`` images per second with busy Python work
  between calls (a training step holds the GIL), and again in a tight loop (``--rate 0``: faster
  than any encoder, so runwatch's copies are fresh memory: page faults). Calling-thread cost per call
  (``perf_counter_ns`` around each), and images per second from the first call until all are
  durable: for runwatch when ``finish()`` returns (every blob uploaded and every batch
  acknowledged by a real ``runwatch serve`` on 127.0.0.1 after its commit; the images are read
  back from ``/media``); for TensorBoard when ``SummaryWriter.close()`` returns (its event file
  flushed; ``add_image`` encodes the PNG on the calling thread).
* **histogram**: ``--histograms`` calls with 1,000,000 float32 values (runwatch copies them on
  the calling thread and bins them on its own; ``add_histogram`` bins on the calling thread).

Goal: ``run.image`` calling-thread p99 <= 20 us.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common
import httpx
import numpy as np

GOAL_P99_US = 20.0


def images(n: int) -> list[np.ndarray]:
    """``n`` distinct 256x256x3 uint8 arrays sharing one base (made before timing)."""
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, size=(256, 256, 3), dtype=np.uint8)
    out = []
    for i in range(n):
        img = base.copy()
        img.flat[i % img.size] ^= 0xFF
        out.append(img)
    return out


def paced(call: Any, items: list[Any], rate: float) -> list[int]:
    """Nanoseconds per ``call(item)``, at ``rate`` calls per second (0: as fast as possible),
    spinning in Python between calls."""
    if rate <= 0:
        return common.timed(call, items)
    ns = time.perf_counter_ns
    tick = int(1e9 / rate)
    next_at = ns()
    out = []
    for item in items:
        next_at += tick
        while ns() < next_at:  # the training step: Python holding the GIL
            pass
        t0 = ns()
        call(item)
        out.append(ns() - t0)
    return out


def runwatch_images(
    url: str, run_dir: Path, batch: list[np.ndarray], rate: float
) -> dict[str, Any]:
    import runwatch

    run = runwatch.init(project="bench-media", url=url, run_dir=run_dir)
    start = time.perf_counter()
    costs = paced(
        lambda item: run.image("img", item[1], step=item[0]), list(enumerate(batch)), rate
    )
    ok = run.finish()
    durable = time.perf_counter() - start
    with httpx.Client(base_url=url, timeout=30) as c:
        keys = c.get(f"/api/v1/runs/{run.id}/media").json()["keys"]
    stored = keys[0]["last_step"] + 1 if keys else 0
    return {"costs": costs, "durable_s": durable, "ok": ok, "stored": stored}


def tensorboard_images(logdir: Path, batch: list[np.ndarray], rate: float) -> dict[str, Any]:
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(logdir))
    start = time.perf_counter()
    costs = paced(
        lambda item: writer.add_image("img", item[1], item[0], dataformats="HWC"),
        list(enumerate(batch)),
        rate,
    )
    writer.close()
    return {
        "costs": costs,
        "durable_s": time.perf_counter() - start,
        "ok": True,
        "stored": len(batch),
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
    parser.add_argument("--rate", type=float, default=50.0, help="images/s; 0: tight loop")
    args = parser.parse_args()
    print(common.machine_line())
    batch = images(args.images)
    rng = np.random.default_rng(1)
    values = [rng.standard_normal(1_000_000, dtype=np.float32) for _ in range(4)]
    hists = [values[i % len(values)] for i in range(args.histograms)]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        server = common.Server(root / "data").start()
        try:
            results = {
                f"runwatch @{args.rate:g}/s": runwatch_images(
                    server.url, root / "rw-p", batch, args.rate
                ),
                f"tensorboard @{args.rate:g}/s": tensorboard_images(
                    root / "tb-p", batch, args.rate
                ),
                "runwatch tight": runwatch_images(server.url, root / "rw-t", batch, 0),
                "tensorboard tight": tensorboard_images(root / "tb-t", batch, 0),
            }
            hist_results = {
                "runwatch": runwatch_histograms(server.url, root / "rw-hist", hists),
                "tensorboard": tensorboard_histograms(root / "tb-hist", hists),
            }
        finally:
            server.stop()
    rows = []
    for name, r in results.items():
        us = common.us_summary(r["costs"])
        rate = len(batch) / r["durable_s"]
        rows.append([name, us["p50"], us["p99"], us["max"], rate, f"{r['stored']}/{len(batch)}"])
    common.print_table(
        f"image of 256x256x3 uint8, {len(batch):,} calls",
        ["system", "call p50 us", "call p99 us", "call max us", "images/s durable", "stored"],
        rows,
    )
    hrows = []
    for name, r in hist_results.items():
        us = common.us_summary(r["costs"])
        hrows.append([name, us["p50"], us["p99"], us["max"], len(hists) / r["durable_s"]])
    common.print_table(
        f"histogram of 1,000,000 float32, {len(hists):,} calls",
        ["system", "call p50 us", "call p99 us", "call max us", "histograms/s durable"],
        hrows,
    )
    ours = results[f"runwatch @{args.rate:g}/s"]
    p99 = common.us_summary(ours["costs"])["p99"]
    common.check(
        f"run.image calling-thread p99 {p99:.1f} us <= {GOAL_P99_US:g} us (paced)",
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


if __name__ == "__main__":
    main()
