"""The sweep page (/sweep) in a real Chromium over 2,000 runs made through the HTTP API:
parallel coordinates drawn and brushed (the brushed count is what the API counts for the shown
query), the query opening the runs list, scatter hover, every run's curve (and best so far),
live updates, user text as text."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.helpers import Producer, create_run, rows
from tests.e2e.parcoords import drag
from tests.servers import ServerProcess

pytestmark = pytest.mark.e2e

RUNS = 2000
OPTS = ["adam", "sgd", "<b>rms</b>"]
ODD_KEY = "<img src=x onerror=alert(1)>"


def trial(i: int) -> tuple[dict[str, Any], float]:
    """Run i's config and final accuracy (distinct for every run)."""
    lr = 10 ** (-5 + 4 * ((i * 37) % RUNS) / RUNS)
    config = {"lr": lr, "layers": 1 + i % 8, "opt": OPTS[i % 3], ODD_KEY: i % 2}
    return config, 0.5 + 0.45 * ((i * 61) % RUNS) / RUNS + i * 1e-7


def make_trial(api: httpx.Client, project: str, i: int, finish: bool = True) -> dict[str, Any]:
    config, acc = trial(i)
    run = create_run(api, project, f"trial-{i}", config=config)
    producer = Producer(api, run["id"])
    points = rows([0, 1, 2], acc=[acc / 2, acc * 0.9, acc], loss=[1.0, 0.5, 1 - acc])
    producer.send(points, status={"state": "succeeded", "exit_code": 0} if finish else None)
    return run


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server with 2,000 finished trials in project "sweep" (made once for the module)."""
    proc = ServerProcess(Path(tmp_path_factory.mktemp("sweep")) / "data").start()
    try:
        with proc.client() as api, ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda i: make_trial(api, "sweep", i), range(RUNS)))
        yield proc
    finally:
        proc.stop()


def open_sweep(page: Page, server: ServerProcess, query: str, drawn: int) -> None:
    page.goto(f"{server.url}/sweep{query}")
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    expect(page.locator(".parcoords-canvas")).to_have_attribute(
        "data-drawn", str(drawn), timeout=20_000
    )


def api_total(api: httpx.Client, project: str, q: str) -> int:
    answer = api.get("/api/v1/runs", params={"project": project, "q": q, "limit": 1})
    assert answer.status_code == 200, answer.text
    total: int = answer.json()["total"]
    return total


def sweep_runs(server: ServerProcess) -> list[dict[str, Any]]:
    with server.client() as api:
        runs: list[dict[str, Any]] = []
        cursor = None
        while True:
            params = {"project": "sweep", **({"cursor": cursor} if cursor else {})}
            page = api.get("/api/v1/runs", params=params).json()
            runs += page["runs"]
            cursor = page["cursor"]
            if cursor is None:
                return runs


def shown_count(page: Page) -> int:
    return int(page.locator("#brushed-count").get_attribute("data-count") or "-1")


def test_parallel_coordinates_draw_brush_and_open_the_runs_list(
    page: Page, sweep: ServerProcess
) -> None:
    open_sweep(page, sweep, "?project=sweep", RUNS)
    canvas = page.locator(".parcoords-canvas")
    # Pixels: a good part of the plot is painted, not only the axes.
    painted = canvas.evaluate(
        """c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                  let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) n++;
                  return n / (d.length / 4); }"""
    )
    assert painted > 0.2
    # A user's config key is text everywhere: a chip's text, never an element.
    chip = page.locator(".axis-chip", has_text=ODD_KEY)
    expect(chip.locator(".axis-chip-name")).to_have_text(f'config["{ODD_KEY}"]')
    assert page.locator("#axis-chips img, #brushed-runs b, .sweep-tip b").count() == 0

    with sweep.client() as api:
        drag(page, "summary.acc", 0.3, 0.6)
        query = page.locator("#brush-query").text_content() or ""
        m = re.fullmatch(r"summary\.acc >= (\S+) and summary\.acc <= (\S+)", query)
        assert m, query
        lo, hi = float(m.group(1)), float(m.group(2))
        expected = [i for i in range(RUNS) if lo <= trial(i)[1] <= hi]
        assert 0 < len(expected) < RUNS
        expect(page.locator("#brushed-count")).to_have_attribute("data-count", str(len(expected)))
        assert api_total(api, "sweep", query) == len(expected)
        expect(canvas).to_have_attribute("data-kept", str(len(expected)))

        # A second brush, on a category axis, ANDs with the first.
        drag(page, "config.opt", 0.02, 0.3)  # the lowest category only: "<b>rms</b>"
        query = page.locator("#brush-query").text_content() or ""
        assert query.endswith(' and config.opt == "<b>rms</b>"'), query
        both = [i for i in expected if trial(i)[0]["opt"] == "<b>rms</b>"]
        expect(page.locator("#brushed-count")).to_have_attribute("data-count", str(len(both)))
        assert api_total(api, "sweep", query) == len(both)
        names = page.locator("#brushed-runs a").all_text_contents()
        assert len(names) == min(100, len(both))
        assert set(names) <= {f"trial-{i}" for i in both}

    page.locator("#open-in-list").click()
    page.wait_for_url(re.compile(r"/\?"))
    params = parse_qs(urlparse(page.url).query)
    assert params == {"project": ["sweep"], "q": [query]}
    assert page.console_errors == []


def test_every_runs_curve_is_drawn_a_hundred_runs_a_request(
    page: Page, sweep: ServerProcess
) -> None:
    fetches: list[str] = []
    page.on("request", lambda r: "/api/v1/run-curves?" in r.url and fetches.append(r.url))
    open_sweep(page, sweep, "?project=sweep", RUNS)
    curves = page.locator(".curves-canvas")
    expect(curves).to_have_attribute("data-drawn", str(RUNS), timeout=30_000)
    expect(curves).to_have_attribute("data-waiting", "0")
    expect(page.locator("#curve-count")).to_have_text(f"{RUNS:,} runs")
    assert len(fetches) == RUNS // 100
    assert page.console_errors == []


def test_the_best_so_far_toggle_redraws_each_curve_as_its_running_best(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    # Two runs whose raw losses span [0.5, 4]; their running minimums [0.5, 3]; their running
    # maximums [2, 4].
    for name, loss in (("a", [3.0, 1.0, 2.0, 0.5, 4.0]), ("b", [2.0, 2.5, 1.5, 3.0, 1.0])):
        run = create_run(api, "bsf", name, config={"x": len(name)})
        Producer(api, run["id"]).send(rows(range(5), loss=loss), status={"state": "succeeded"})
    open_sweep(page, server, "?project=bsf", 2)
    curves = page.locator(".curves-canvas")
    expect(page.locator("#curve-metric")).to_have_value("loss")
    expect(page.locator("#colour-dir")).to_have_attribute("data-dir", "min")  # a loss: lowest
    expect(curves).to_have_attribute("data-drawn", "2")
    expect(curves).to_have_attribute("data-y-range", "[0.5,4]")
    page.locator("#curve-best").check()
    expect(curves).to_have_attribute("data-y-range", "[0.5,3]")
    page.locator("#colour-dir").click()  # best is now the highest
    expect(curves).to_have_attribute("data-y-range", "[2,4]")
    page.locator("#curve-best").uncheck()
    expect(curves).to_have_attribute("data-y-range", "[0.5,4]")
    expect(curves).to_have_attribute("data-drawn", "2")
    assert page.console_errors == []


def test_scatter_hover_names_the_run_under_the_pointer(page: Page, sweep: ServerProcess) -> None:
    open_sweep(page, sweep, "?project=sweep", RUNS)
    page.locator("#scatter-x").select_option("config.lr")
    page.locator("#scatter-x-scale").select_option("log")
    page.locator("#scatter-y").select_option("summary.acc")
    canvas = page.locator(".sweep-scatter-canvas")
    expect(canvas).to_have_attribute("data-drawn", str(RUNS))
    canvas.scroll_into_view_if_needed()
    plot = json.loads(canvas.get_attribute("data-plot") or "{}")
    assert plot["x"]["kind"] == "log"
    (x0, x1), (y0, y1) = plot["x"]["domain"], plot["y"]["domain"]
    box = canvas.bounding_box()
    assert box is not None
    ids = {r["id"]: r["name"] for r in sweep_runs(sweep)}
    for i in (7, 1234, 1999):
        config, acc = trial(i)
        u = (math.log10(config["lr"]) - math.log10(x0)) / (math.log10(x1) - math.log10(x0))
        v = (acc - y0) / (y1 - y0)
        x = box["x"] + plot["left"] + u * (plot["right"] - plot["left"])
        y = box["y"] + plot["bottom"] - v * (plot["bottom"] - plot["top"])
        page.mouse.move(x, y)
        tip = page.locator(".sweep-tip")
        expect(tip).to_be_visible()
        expect(tip.locator(".sweep-tip-name")).to_have_text(f"trial-{i}")
        assert ids[tip.get_attribute("data-run-id") or ""] == f"trial-{i}"
    assert page.console_errors == []


# Page side: the WCAG contrast of the canvas pixel at (x, y) (CSS pixels) on its panel's background.
PIXEL_CONTRAST = """(c, [x, y]) => {
    const ratio = c.width / c.clientWidth;
    const d = c.getContext('2d').getImageData(Math.floor(x * ratio), Math.floor(y * ratio), 1, 1).data;
    const bg = getComputedStyle(c.closest('.panel')).backgroundColor.match(/\\d+/g).map(Number);
    const a = d[3] / 255;
    const dot = [0, 1, 2].map((k) => d[k] * a + bg[k] * (1 - a));
    const lum = (rgb) => rgb.map((v) => v / 255)
        .map((s) => (s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4))
        .reduce((sum, s, k) => sum + s * [0.2126, 0.7152, 0.0722][k], 0);
    const [hi, lo] = [lum(dot), lum(bg)].sort((p, q) => q - p);
    return { contrast: (hi + 0.05) / (lo + 0.05), alpha: a };
}"""

# Page side: the pixels painted above the frame's top or right of its right (its 1 px stroke apart).
PAINTED_OUTSIDE = """(c, f) => {
    const ratio = c.width / c.clientWidth;
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let outside = 0;
    const paint = (px, py) => { if (d[(py * c.width + px) * 4 + 3]) outside += 1; };
    for (let py = 0; py < Math.floor((f.top - 1) * ratio); py++)
        for (let px = Math.floor(f.left * ratio); px < c.width; px++) paint(px, py);
    for (let py = 0; py < Math.floor(f.bottom * ratio); py++)
        for (let px = Math.ceil((f.right + 1) * ratio); px < c.width; px++) paint(px, py);
    return outside;
}"""


def test_the_worst_run_is_a_whole_visible_dot_inside_the_scatter(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    # The last trial is the worst (the highest loss, as a trial stopped early) and the largest x:
    # its dot is at the scatter's top right, in the colour scale's low end.
    losses = [0.2, 0.35, 0.25, 0.3, 2.5]
    for i, loss in enumerate(losses):
        run = create_run(api, "edges", f"t{i}", config={"x": i})
        Producer(api, run["id"]).send(rows([0, 1], loss=[3.0, loss]), status={"state": "succeeded"})
    open_sweep(page, server, "?project=edges", len(losses))
    expect(page.locator("#colour-dir")).to_have_attribute("data-dir", "min")
    page.locator("#scatter-x").select_option("config.x")
    page.locator("#scatter-y").select_option("summary.loss")
    canvas = page.locator(".sweep-scatter-canvas")
    expect(canvas).to_have_attribute("data-drawn", str(len(losses)))
    canvas.scroll_into_view_if_needed()
    plot = json.loads(canvas.get_attribute("data-plot") or "{}")
    assert plot["x"]["domain"] == [0, 4] and plot["y"]["domain"] == [0.2, 2.5]
    # The worst run's colour stands out from the panel behind it.
    dot = canvas.evaluate(PIXEL_CONTRAST, [plot["right"], plot["top"]])
    assert dot["alpha"] == 1 and dot["contrast"] >= 3, dot
    # The domains' ends lie inside the frame, with room for a whole dot: none spills over it.
    frame = plot["frame"]
    assert frame["left"] < plot["left"] - 2 and plot["right"] + 2 < frame["right"]
    assert frame["top"] < plot["top"] - 2 and plot["bottom"] + 2 < frame["bottom"]
    assert canvas.evaluate(PAINTED_OUTSIDE, frame) == 0
    box = canvas.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + plot["right"], box["y"] + plot["top"])
    expect(page.locator(".sweep-tip .sweep-tip-name")).to_have_text("t4")
    assert page.console_errors == []


def test_runs_finishing_live_update_every_view(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    for i in range(20):
        make_trial(api, "fresh", i)
    open_sweep(page, server, "?project=fresh", 20)
    expect(page.locator(".curves-canvas")).to_have_attribute("data-drawn", "20")
    drag(page, "summary.acc", 0.0, 1.0)
    query = page.locator("#brush-query").text_content() or ""
    before = shown_count(page)
    assert before == api_total(api, "fresh", query) == 20

    # A trial still running has no accuracy yet; when it logs and finishes, every view has it.
    run = create_run(
        api, "fresh", "late", config={"lr": 1e-3, "layers": 3, "opt": "adam", ODD_KEY: 0}
    )
    expect(page.locator(".parcoords-canvas")).to_have_attribute("data-drawn", "21")
    expect(page.locator("#brushed-count")).to_have_attribute("data-count", "20")
    lo, hi = (float(v) for v in re.findall(r"[<>]= (\S+)", query))
    acc = (lo + hi) / 2
    Producer(api, run["id"]).send(
        rows([0, 1], acc=[acc / 2, acc], loss=[1.0, 1 - acc]), status={"state": "succeeded"}
    )
    expect(page.locator("#brushed-count")).to_have_attribute("data-count", "21")
    assert api_total(api, "fresh", query) == 21
    expect(page.locator(".sweep-scatter-canvas")).to_have_attribute("data-drawn", "21")
    expect(page.locator(".curves-canvas")).to_have_attribute("data-drawn", "21")
    expect(page.locator("#brushed-runs a", has_text="late")).to_have_attribute(
        "href", f"/runs/{run['id']}"
    )
    assert page.console_errors == []
