"""Live under images: how stale the server's view of a loop is while the loop logs images faster
than they upload, beside the same loop logging scalars only (the ceiling), in the same run.

Run from the repo root::

    .venv/bin/python benchmarks/live_media.py [--seconds 10] [--size 128]

Each case is a tight loop of ``--seconds`` against a real ``runwatch serve`` on 127.0.0.1: every
step logs ``{"at": step}`` and, in the "images" case, two new ``--size`` x ``--size`` images (a
float heatmap and an RGB image, each different at every step). A second thread asks
``GET /api/v1/runs/{id}`` every 0.25 s how far the server's ``at`` got, and notes how long ago the
loop logged that step: the staleness a viewer of the run page sees. The run's heartbeat is 1 s
(the server takes it for crashed after 3 s of silence): "crashed seen" says whether a poll ever
read it. Then ``finish()``: seconds until every record and image is acknowledged, and whether
the server's newest image is the loop's last step.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common
import httpx
import numpy as np

POLL = 0.25


def run_case(url: str, run_dir: Path, seconds: float, size: int, images: bool) -> list[Any]:
    import runwatch

    run = runwatch.init(project="bench-live-media", url=url, run_dir=run_dir, heartbeat=1.0)
    logged_at: list[float] = []  # perf_counter when each step was logged
    staleness: list[float] = []
    statuses: set[str] = set()
    done = threading.Event()

    def poll() -> None:
        with httpx.Client(base_url=url, timeout=5) as client:
            while not done.wait(POLL):
                info = client.get(f"/api/v1/runs/{run.id}").json()
                statuses.add(info["status"])
                seen = int(info["summary"].get("at", -1))
                if logged_at:  # nothing seen yet counts from the first step
                    staleness.append(time.perf_counter() - logged_at[max(seen, 0)])

    heat = np.random.default_rng(0).random((size, size), dtype=np.float32)
    rgb = np.zeros((size, size, 3), dtype=np.uint8)
    poller = threading.Thread(target=poll)
    poller.start()
    end = time.perf_counter() + seconds
    step = 0
    while time.perf_counter() < end:
        logged_at.append(time.perf_counter())
        run.log({"at": float(step)}, step=step)
        if images:
            run.image("heat", heat + step, step=step)
            rgb[0, 0] = (step % 256, step // 256 % 256, 0)
            run.image("rgb", rgb, step=step)
        step += 1
    done.set()
    poller.join()
    start = time.perf_counter()
    delivered = run.finish()
    finish_s = time.perf_counter() - start
    last_image = "-"
    if images:
        items = httpx.get(f"{url}/api/v1/runs/{run.id}/media/rgb").json()["items"]
        last_image = "yes" if items and items[-1]["step"] == step - 1 else "no"
    stale = common.summary(staleness)
    return [
        "images" if images else "scalars only (ceiling)",
        step,
        step / seconds,
        stale["p50"],
        stale["max"],
        "yes" if "crashed" in statuses else "no",
        finish_s,
        "yes" if delivered else "no",
        last_image,
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--size", type=int, default=128, help="image side in pixels")
    args = parser.parse_args()
    print(common.machine_line())
    with tempfile.TemporaryDirectory() as tmp:
        server = common.Server(Path(tmp) / "data").start()
        try:
            rows = [
                run_case(server.url, Path(tmp) / f"run-{images}", args.seconds, args.size, images)
                for images in (False, True)
            ]
        finally:
            server.stop()
    common.print_table(
        f"Live under images ({args.seconds:g} s tight loop, {args.size}x{args.size} images)",
        ["case", "steps", "steps/s", "stale p50 s", "stale max s", "crashed seen",
         "finish s", "delivered", "last image"],
        rows,
    )  # fmt: skip


if __name__ == "__main__":
    main()
