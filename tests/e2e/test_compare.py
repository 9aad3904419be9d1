"""Comparing runs in a real Chromium: pick runs on the runs list, overlay their metrics, diff
their configs, and zoom every run's line at once."""

from __future__ import annotations

import math
import re
from typing import Any

import httpx
import pytest
from playwright.sync_api import Locator, Page, expect

from tests.conftest import ARTIFACTS
from tests.e2e.charts import WINDOW, chart, drag, in_window, inspect, metrics_requests, window_of
from tests.e2e.helpers import Producer, create_run, rows, sdk_vitals
from tests.servers import ServerProcess

pytestmark = pytest.mark.e2e

STEPS = 20_000
XSS = '<img src=x onerror="window.__xss=1">'


def training_curves(lr: float, seed: int) -> dict[str, list[float]]:
    """Loss and accuracy that look like a real run: a faster decay for a larger lr, some noise."""
    rate = 1 / (2500 + 0.02 / lr * 60)
    noise = [
        math.sin(s * (1.3 + seed)) * 0.5 + math.sin(s * 0.37 * seed) * 0.5 for s in range(STEPS)
    ]
    loss = [
        2.3 * math.exp(-s * rate) + 0.08 + 0.05 * noise[s] * math.exp(-s / 9000)
        for s in range(STEPS)
    ]
    acc = [0.98 - 0.88 * math.exp(-s * rate * 1.1) + 0.01 * noise[s] for s in range(STEPS)]
    return {"train/loss": loss, "train/acc": acc}


def make_run(api: httpx.Client, name: str, lr: float, seed: int, **config: Any) -> str:
    run = create_run(
        api,
        "vision",
        name,
        group="lr-sweep",
        config={"lr": lr, "model": {"arch": "resnet18", "depth": 18}, "seed": seed, **config},
    )
    producer = Producer(api, run["id"])
    for key, values in training_curves(lr, seed).items():
        producer.send_series(key, list(range(STEPS)), values)
    run_id: str = run["id"]
    return run_id


def texts(locator: Locator) -> list[str]:
    return [t.strip() for t in locator.all_text_contents()]


def test_pick_runs_then_compare_overlaid_charts_configs_and_zoom(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    baseline = make_run(api, "baseline", 3e-4, 1, batch_size=128)
    fast = make_run(api, "high-lr", 3e-3, 2, batch_size=128, warmup=500)
    slow = make_run(api, "low-lr", 1e-4, 3, batch_size=128)
    grad = [1 + 0.4 * math.sin(s / 900) for s in range(STEPS)]
    Producer(api, fast, name="grads").send_series("grad_norm", list(range(STEPS)), grad)

    page.goto(f"{server.url}/")
    expect(page.locator("#runs-body tr")).to_have_count(3)
    link = page.locator("#compare-link")
    expect(link).to_have_attribute("aria-disabled", "true")
    page.locator(f'tr[data-run-id="{baseline}"] .run-select').check()
    expect(page.locator("#selection-count")).to_have_text("1 selected")
    expect(link).to_have_attribute("aria-disabled", "true")
    page.locator(f'tr[data-run-id="{fast}"] .run-select').check()
    expect(link).to_have_attribute("aria-disabled", "false")
    expect(link).to_have_attribute("href", f"/compare?runs={baseline},{fast}")
    expect(page.locator(f'tr[data-run-id="{slow}"]')).to_have_attribute("data-selected", "false")
    link.click()

    expect(page).to_have_url(f"{server.url}/compare?runs={baseline},{fast}")
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    expect(page.locator("#compare-runs .run-link")).to_have_text(["baseline", "high-lr"])
    # The union of the runs' keys, one chart each, every chart with both runs in its legend.
    expect(page.locator("#charts .chart")).to_have_count(3)
    keys = page.locator("#charts .chart").evaluate_all("els => els.map(e => e.dataset.key)")
    assert keys == ["grad_norm", "train/acc", "train/loss"]
    for key in keys:
        expect(chart(page, key).locator(".legend-name")).to_have_text(["baseline", "high-lr"])
    loss = chart(page, "train/loss")
    expect(loss).to_have_attribute("data-series", "6")  # per run: line, band max, band min
    expect(loss).to_have_attribute("data-mode", "buckets")
    full = inspect(loss)
    assert [t["id"] for t in full["traces"]] == [baseline, fast]
    assert [sum(t["count"]) for t in full["traces"]] == [STEPS, STEPS]
    assert full["series"][0] == "baseline"
    assert full["series"][3] == "high-lr"
    grad_traces = inspect(chart(page, "grad_norm"))["traces"]
    assert [len(t["x"]) > 0 for t in grad_traces] == [False, True]  # baseline has no grad_norm
    expect(chart(page, "grad_norm").locator(".legend-value").first).to_have_text("no data")

    # Configs: flattened keys as rows, runs as columns, differences marked.
    table = page.locator("#config-diff table")
    expect(table.locator("thead .cd-run-name")).to_have_text(["baseline", "high-lr"])
    expect(table.locator("tbody tr")).to_have_count(6)
    differs = table.locator('tbody tr[data-differs="true"]')
    expect(differs.locator(".cd-key")).to_have_text(["lr", "seed", "warmup"])
    expect(table.locator('tr[data-key="lr"] .cd-value')).to_have_text(["0.0003", "0.003"])
    expect(table.locator('tr[data-key="warmup"] .cd-value')).to_have_text(["—", "500"])
    expect(table.locator('tr[data-key="model.arch"]')).to_have_attribute("data-differs", "false")
    expect(page.locator("#config-count")).to_have_text("6 keys · 3 differ")
    page.locator("#only-diffs").check()
    expect(table.locator("tbody tr:visible")).to_have_count(3)
    page.locator("#only-diffs").uncheck()
    expect(table.locator("tbody tr:visible")).to_have_count(6)

    # Drag to zoom: each run is re-queried for the window, at the finer resolution.
    requests = metrics_requests(page)
    drag(page, loss, 0.15, 0.30)
    expect(loss).to_have_attribute("data-window", WINDOW)
    lo, hi = window_of(loss)
    assert len(requests) == 2
    asked = sorted(re.search(r"/runs/([^/]+)/metrics", r.url).group(1) for r in requests)  # type: ignore[union-attr]
    assert asked == sorted([baseline, fast])
    assert all(f"start={lo}" in r.url and f"end={hi}" in r.url for r in requests)
    zoomed = inspect(loss)
    for before, after in zip(full["traces"], zoomed["traces"], strict=True):
        assert all(lo <= x <= hi for x in after["x"])
        assert len(after["x"]) > 2 * in_window(before["x"], lo, hi)
        assert sum(after["count"]) == hi - lo + 1
    assert zoomed["scales"]["x"]["min"] == lo

    # Live: a run's new point shows in its legend value while the zoom stays put.
    Producer(api, fast, name="late").send(rows([STEPS], **{"train/loss": [0.0123]}))
    expect(loss.locator(f'.legend-item[data-run="{fast}"] .legend-value')).to_have_text("0.0123")
    expect(loss).to_have_attribute("data-window", f"{lo},{hi}")

    loss.locator(".u-over").dblclick()
    expect(loss).to_have_attribute("data-window", "full")
    assert len(requests) == 4
    assert all("start=" not in r.url for r in requests[2:])
    reset = inspect(loss)
    assert [sum(t["count"]) for t in reset["traces"]] == [STEPS, STEPS + 1]

    page.locator(".u-over").first.hover(position={"x": 150, "y": 60})
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "compare.png"))
    assert page.console_errors == []


def test_compare_renders_names_and_configs_as_text_and_reports_unknown_runs(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    first = create_run(api, "e2e", XSS, config={"note": XSS, XSS: 1})
    second = create_run(api, "e2e", "plain", config={"note": "ok"})
    Producer(api, first["id"]).send(rows(range(5), **{XSS: [1, 2, 3, 4, 5]}))
    Producer(api, second["id"]).finish("succeeded")
    page.goto(f"{server.url}/compare?runs={first['id']},missing-run,{second['id']}")
    expect(page.locator("#page-error")).to_have_text("No run with id “missing-run”.")
    expect(page.locator("#compare-runs .run-link")).to_have_text([XSS, "plain"])
    expect(page.locator("#compare-runs .pill")).to_have_text(["running", "succeeded"])
    only = page.locator("#charts .chart")  # the key is markup too: no CSS selector by it
    expect(only).to_have_attribute("data-key", XSS)
    expect(only.locator(".chart-key")).to_have_text(XSS)
    expect(only.locator(".legend-name")).to_have_text([XSS, "plain"])
    expect(only).to_have_attribute("data-points", "5")
    table = page.locator("#config-diff table")
    expect(table.locator("thead .cd-run-name")).to_have_text([XSS, "plain"])
    expect(table.locator('tr[data-key="note"] .cd-value')).to_have_text([XSS, "ok"])
    expect(table.locator(".cd-key")).to_have_text([XSS, "note"])  # sorted: "<" < "n"
    assert page.locator("img:not(.brand-mark)").count() == 0
    assert page.evaluate("() => window.__xss") is None
    # Chromium's own report of the 404 answer is the only console line.
    assert all("404" in e for e in page.console_errors)


def test_compare_puts_the_sdks_system_charts_after_the_users(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    vitals = {k: [v] * 3 for k, v in sdk_vitals().items()}
    system = sorted(vitals)
    first = create_run(api, "e2e", "first")
    Producer(api, first["id"]).send(rows(range(3), loss=[3, 2, 1], **vitals))
    second = create_run(api, "e2e", "second")
    user = {"throughput": [100.0, 110.0, 120.0], "val/acc": [0.1, 0.2, 0.3]}
    Producer(api, second["id"]).send(rows(range(3), **user, **vitals))
    page.goto(f"{server.url}/compare?runs={first['id']},{second['id']}")
    expect(page.locator("#charts .chart")).to_have_count(3 + len(system))
    grid = page.locator("#charts > *").evaluate_all(
        "els => els.map(e => e.classList.contains('charts-group') ? `# ${e.textContent}` : e.dataset.key)"
    )
    assert grid == ["loss", "throughput", "val/acc", "# System", *system]
    assert page.console_errors == []


def test_compare_without_runs_says_how_to_pick_them(page: Page, server: ServerProcess) -> None:
    page.goto(f"{server.url}/compare")
    expect(page.locator("#page-error")).to_contain_text("select two or more on the runs list")
    expect(page.locator("#charts .chart")).to_have_count(0)
    assert page.console_errors == []


def test_a_run_that_ended_earlier_shows_its_own_last_step_in_the_legend(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    ids = []
    for name, last in (("short-a", 5), ("long", 39), ("short-b", 4)):
        run = create_run(api, "vision", name)
        steps = list(range(last + 1))
        Producer(api, run["id"]).send_series("loss", steps, [1 + s / 100 for s in steps])
        ids.append(run["id"])
    page.goto(f"{server.url}/compare?runs={','.join(ids)}")
    loss = chart(page, "loss")
    expect(loss).to_have_attribute("data-points", str(6 + 40 + 5))
    expect(loss.locator(".chart-where")).to_have_text("step 39")
    values = loss.locator(".legend-value")
    expect(values).to_have_text(["1.05 · step 5", "1.39", "1.04 · step 4"])
    assert page.console_errors == []
