"""Live under images: how stale the server's view of a loop is while the loop logs images faster
than they upload, with the blobs uploaded one ``PUT`` each (as SDKs did before grouped uploads)
and several to a request (``POST …/blobs``, the default), beside the same loop logging scalars
only (the ceiling), in the same run.

Run from the repo root::

    .venv/bin/python benchmarks/live_media.py [--seconds 10] [--size 128]

Each case is a tight loop of ``--seconds`` against a real ``runwatch serve`` on 127.0.0.1: every
step logs ``{"at": step}`` and, in the image cases, two new ``--size`` x ``--size`` images (a
float heatmap and an RGB image, each different at every step). A second thread asks
``GET /api/v1/runs/{id}`` every 0.25 s how far the server's ``at`` got, and notes how long ago the
loop logged that step: the staleness a viewer of the run page sees. The run's heartbeat is 1 s
(the server takes it for crashed after 3 s of silence): "crashed seen" says whether a poll ever
read it. Then ``finish()``: seconds until every record and image is acknowledged, and whether
the server's newest image is the loop's last step. "images/s stored": the loop's images over the
seconds from its first step until ``finish()`` returned (all of them stored by then); "in loop":
the images of the steps the server had at the loop's last poll, over the loop's seconds. The last
table divides the grouped case's numbers by the one-``PUT`` case's.
"""

from __future__ import annotations

import argparse
import secrets
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
SCALARS, ONE_PUT, GROUPED = "scalars only (ceiling)", "images, one PUT a blob", "images, grouped"


def start_run(url: str, run_dir: Path, case: str) -> Any:
    """A run whose sender uploads blobs one ``PUT`` each (``ONE_PUT``) or grouped."""
    from runwatch.sdk.run import Run
    from runwatch.sdk.sender import SenderConfig

    spec = {"id": secrets.token_hex(6), "project": "bench-live-media", "name": case,
            "group": None, "tags": [], "config": {}, "heartbeat": 1.0}  # fmt: skip
    config = SenderConfig(upload_group_blobs=1) if case == ONE_PUT else SenderConfig()
    return Run(spec, [url], None, run_dir, config)


def run_case(url: str, run_dir: Path, seconds: float, size: int, case: str) -> list[Any]:
    run = start_run(url, run_dir, case)
    images = case != SCALARS
    logged_at: list[float] = []  # perf_counter when each step was logged
    staleness: list[float] = []
    seen_steps = [0]  # steps the server had at the last poll
    statuses: set[str] = set()
    done = threading.Event()

    def poll() -> None:
        with httpx.Client(base_url=url, timeout=5) as client:
            while not done.wait(POLL):
                info = client.get(f"/api/v1/runs/{run.id}").json()
                statuses.add(info["status"])
                seen = int(info["summary"].get("at", -1))
                seen_steps[0] = seen + 1
                if logged_at:  # nothing seen yet counts from the first step
                    staleness.append(time.perf_counter() - logged_at[max(seen, 0)])

    heat = np.random.default_rng(0).random((size, size), dtype=np.float32)
    rgb = np.zeros((size, size, 3), dtype=np.uint8)
    poller = threading.Thread(target=poll)
    poller.start()
    start = time.perf_counter()
    end = start + seconds
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
    finishing = time.perf_counter()
    delivered = run.finish()
    finished = time.perf_counter()
    last_image = "-"
    if images:
        items = httpx.get(f"{url}/api/v1/runs/{run.id}/media/rgb").json()["items"]
        last_image = "yes" if items and items[-1]["step"] == step - 1 else "no"
    stale = common.summary(staleness)
    n_images = 2 * step if images else 0
    return [
        case,
        step,
        step / seconds,
        n_images,
        n_images / (finished - start) if images else "-",
        2 * seen_steps[0] / seconds if images else "-",
        stale["p50"],
        stale["max"],
        "yes" if "crashed" in statuses else "no",
        finished - finishing,
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
                run_case(server.url, Path(tmp) / f"run-{i}", args.seconds, args.size, case)
                for i, case in enumerate((SCALARS, ONE_PUT, GROUPED))
            ]
        finally:
            server.stop()
    common.print_table(
        f"Live under images ({args.seconds:g} s tight loop, {args.size}x{args.size} images)",
        ["case", "steps", "steps/s", "images", "images/s stored", "in loop", "stale p50 s",
         "stale max s",
         "crashed seen", "finish s", "delivered", "last image"],
        rows,
    )  # fmt: skip
    one, grouped = rows[1], rows[2]
    common.print_table(
        "Grouped upload / one PUT a blob",
        ["", "images/s stored", "in loop", "stale p50", "stale max", "finish s"],
        [["ratio", *(grouped[i] / one[i] for i in (4, 5, 6, 7, 9))]],
    )


if __name__ == "__main__":
    main()
