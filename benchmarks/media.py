"""Media benchmark (SDK part): what ``run.image`` and ``run.histogram`` cost the training loop,
and how fast images become durable, beside TensorBoard's ``SummaryWriter`` in the same run.

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
    url: str, run_dir: Path, batch: Frames, rate: float, work: str = "cpu"
) -> dict[str, Any]:
    import runwatch

    run = runwatch.init(project="bench-media", url=url, run_dir=run_dir)
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
    batch = Frames(args.images)
    rng = np.random.default_rng(1)
    values = [rng.standard_normal(1_000_000, dtype=np.float32) for _ in range(4)]
    hists = [values[i % len(values)] for i in range(args.histograms)]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        server = common.Server(root / "data").start()
        try:
            rate = args.rate
            results = {}
            for work in ("sleep", "cpu"):
                results[f"runwatch @{rate:g}/s {work}"] = runwatch_images(
                    server.url, root / f"rw-{work}", batch, rate, work
                )
                results[f"tensorboard @{rate:g}/s {work}"] = tensorboard_images(
                    root / f"tb-{work}", batch, rate, work
                )
            results["runwatch tight"] = runwatch_images(server.url, root / "rw-t", batch, 0)
            results["tensorboard tight"] = tensorboard_images(root / "tb-t", batch, 0)
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
    for work in ("sleep", "cpu"):
        p99 = common.us_summary(results[f"runwatch @{args.rate:g}/s {work}"]["costs"])["p99"]
        common.check(
            f"run.image calling-thread p99 {p99:.1f} us <= {GOAL_P99_US:g} us (paced, {work})",
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
