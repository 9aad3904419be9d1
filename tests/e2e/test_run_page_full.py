"""A screenshot of the run page with every panel populated, on a 1400x900 laptop screen: vitals
on top, charts and scatter left, feed and leaderboard right, each panel scrolling on its own."""

from __future__ import annotations

import math
import time

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.conftest import ARTIFACTS
from tests.e2e.helpers import create_run, event, rows
from tests.e2e.widgets import ObjectProducer, open_run, snapshot, wait_painted
from tests.servers import ServerProcess

pytestmark = pytest.mark.e2e


def wave(i: int, *freqs: float) -> float:
    """Deterministic wiggle (no RNG: screenshots stay comparable)."""
    return sum(math.sin(i * f + k) / (k + 1) for k, f in enumerate(freqs))


def embedding(n: int) -> list[dict[str, object]]:
    centers = [(-4, 2), (3, 3), (0, -3), (5, -2), (-3, -4)]
    out = []
    for i in range(n):
        cx, cy = centers[i % len(centers)]
        out.append(
            {
                "x": round(cx + 1.2 * wave(i, 0.7, 1.9), 3),
                "y": round(cy + 1.1 * wave(i, 1.3, 0.4), 3),
                "cluster": f"species-{i % len(centers)}",
                "genome": f"g{i:04d}",
                "fitness": round(0.5 + 0.4 * wave(i, 0.11), 4),
            }
        )
    return out


def footprint(step: int) -> list[list[float]]:
    return [
        [round(math.exp(-((r - 8) ** 2 + (c - 12 - step / 40) ** 2) / 30), 4) for c in range(24)]
        for r in range(16)
    ]


def test_screenshot_of_a_run_page_with_every_panel_populated(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    request_snapshot = {
        "argv": ["python", "evolve.py", "--population", "512", "--seed", "7"],
        "python": "3.11.9",
        "executable": "/opt/venv/bin/python",
        "platform": "Linux-6.8.0-x86_64-with-glibc2.39",
        "hostname": "gpu-node-04",
        "pid": 48213,
        "cwd": "/home/ada/evolve",
        "run_dir": "/home/ada/evolve/.runwatch/runs/neat-512",
        "started_at": time.time() - 3600,
        "packages": {"numpy": "1.26.4", "torch": "2.3.1", "runwatch": "0.4.0"},
        "git": {
            "commit": "4f9c2e1b7a3d5e6f8a9b0c1d2e3f4a5b6c7d8e9f",
            "branch": "main",
            "dirty": True,
        },
    }
    config = {"population": 512, "mutation": {"rate": 0.03, "sigma": 0.2}, "seed": 7}
    run = create_run(
        api,
        "neuroevolution",
        "neat-pop512-s7",
        group="sweep-3",
        tags=["neat", "cpu"],
        config=config,
        snapshot=request_snapshot,
    )
    producer = ObjectProducer(api, run["id"])
    steps = range(0, 800)
    producer.send_objects(
        points=rows(
            steps,
            **{
                "fitness/best": [
                    0.95 - 0.8 * math.exp(-s / 180) + 0.01 * wave(s, 0.9) for s in steps
                ],
                "fitness/mean": [
                    0.7 - 0.6 * math.exp(-s / 240) + 0.02 * wave(s, 1.7) for s in steps
                ],
                "species": [5 + round(2 * wave(s, 0.02, 0.05)) for s in steps],
                "sys/cpu_percent": [62 + 18 * wave(s, 0.21, 0.9) for s in steps],
                "sys/rss_mb": [1480 + s * 0.4 + 8 * wave(s, 0.3) for s in steps],
                "sys/records_per_s": [2400 + 300 * wave(s, 0.13, 1.1) for s in steps],
                "sys/sdk_queue": [max(0.0, 4 + 4 * wave(s, 0.5)) for s in steps],
            },
        ),
        events=[
            event("birth", entity=412, parent=37, size=12),
            event("merge", entity=118, into=3, similarity=0.93),
            event("split", entity=3, children=[511, 512]),
            event("reject", entity=509, reason="duplicate genome"),
            event("stagnation", level="warning", species=4, generations=15),
            event("deprecate", entity=87, reason="low utility"),
            event("birth", entity=513, parent=412, size=14),
            event("checkpoint", path="ckpt/gen-0800.pkl", size_mb=12.4),
            event("eval failed", level="error", genome=777, error="NaN fitness"),
        ],
        tables=[
            {
                "name": "leaderboard",
                "rows": [
                    {
                        "genome": f"g{i:04d}",
                        "fitness": round(0.96 - i * 0.011 + 0.003 * wave(i, 2.1), 6),
                        "nodes": 12 + (i * 7) % 23,
                        "species": f"species-{i % 5}",
                        "lr_scale": 3e-5 * (1 + i),
                    }
                    for i in range(40)
                ],
            },
            {
                "name": "species",
                "rows": [{"species": f"species-{k}", "size": 90 + 7 * k} for k in range(5)],
            },
        ],
        point_sets=[{"name": "behaviour", "points": embedding(900)}],
        snapshots=[snapshot("footprint/412", s, footprint(s)) for s in (0, 1, 2, 4, 8, 16, 32, 64)]
        + [
            snapshot(
                "weights/hist", s, [math.exp(-((b - 12 - s / 20) ** 2) / 18) for b in range(32)]
            )
            for s in (0, 10)
        ],
        vitals=["fitness/best"],
    )
    open_run(page, server, run["id"])
    # Live deltas on top of the hydrated state.
    producer.send(rows([800], **{"sys/cpu_percent": [71.0], "fitness/best": [0.951]}))
    producer.send(events=[event("birth", entity=514, parent=513, size=9)])
    expect(page.locator('#vitals .vital[data-key="fitness/best"] .vital-value')).to_have_text(
        "0.951"
    )
    expect(page.locator("#event-feed .event")).to_have_count(11)
    expect(page.locator("#leaderboard tbody tr")).to_have_count(40)
    expect(page.locator("#scatter")).to_have_attribute("data-count", "900")
    expect(page.locator("#snapshot-panel .snap-view")).to_have_attribute("data-kind", "heatmap")
    page.locator('#leaderboard th[data-col="fitness"]').click()
    wait_painted(page, "#scatter canvas", 500)
    wait_painted(page, "#snapshot-panel .snap-view canvas", 500)
    wait_painted(page, '#vitals .vital[data-key="sys/cpu_percent"] canvas')

    # Usable on a laptop screen: nothing spills past the viewport; panels scroll on their own.
    size = page.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.scrollHeight]"
    )
    assert size == [1400, 900]
    for selector in ("#charts", "#event-feed", "#leaderboard .lb-scroll"):
        overflow = page.locator(selector).evaluate("e => getComputedStyle(e).overflowY")
        assert overflow == "auto", selector
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "run-page-full.png"))

    page.locator("#env-panel summary").click()
    expect(page.locator('#request-snapshot dd[data-field="git"]')).to_contain_text("dirty")
    page.locator('#event-feed .event[data-entity="412"] .ev-entity').first.click()
    expect(page.locator("#entity-panel .eh-event")).to_have_count(1)
    page.screenshot(path=str(ARTIFACTS / "run-page-entity.png"))
    assert page.console_errors == []
