"""The sweep views at 10,000 runs in a real Chromium (seeded into the store before the server
starts): a brush on a parallel-coordinates axis keeps exactly the runs the API counts for its
query; a run finishing meanwhile joins the page live (the newest 10,000 held, the total
right); the brushed query opens the runs list, sorted there by a config column and scrolled to
its end with a bounded DOM; a new run there waits in the "new runs" bar."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.helpers import Producer, create_run, rows
from tests.e2e.many_runs import SeedRun, seeded_server
from tests.e2e.parcoords import drag
from tests.servers import ServerProcess

pytestmark = pytest.mark.e2e

N = 10_000
MAX_DOM_ROWS = 150  # runs-table.js
OPTS = ["adam", "sgd", "rmsprop"]


def seed(i: int) -> SeedRun:
    acc = 0.5 + 0.45 * ((i * 61) % N) / N + i * 1e-9  # distinct for every run
    return SeedRun(
        id=f"r{i:05}",
        name=f"trial-{i:05}",
        created=1.7e9 + i,
        config={"lr": 10.0 ** -(1 + i % 5), "layers": i % 13, "opt": OPTS[i % 3]},
        summary={"acc": acc, "loss": 1 - acc},
    )


RUNS = [seed(i) for i in range(N)]


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server over 10,000 finished runs, written into its store before it starts."""
    with seeded_server(tmp_path_factory.mktemp("sweep-many") / "data", RUNS) as proc:
        yield proc


def total(api: httpx.Client, q: str) -> int:
    answer = api.get("/api/v1/runs", params={"project": "sweep", "q": q, "limit": 1})
    assert answer.status_code == 200, answer.text
    count: int = answer.json()["total"]
    return count


def brushed_count(page: Page) -> int:
    return int(page.locator("#brushed-count").get_attribute("data-count") or "-1")


def test_brush_ten_thousand_runs_then_a_run_joins_live_and_the_list_takes_the_query(
    page: Page, big: ServerProcess
) -> None:
    page.goto(f"{big.url}/sweep?project=sweep")
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    parcoords = page.locator(".parcoords-canvas")
    expect(parcoords).to_have_attribute("data-drawn", str(N), timeout=30_000)
    expect(page.locator("#sweep-count")).to_have_text("10,000 runs")

    drag(page, "summary.acc", 0.3, 0.6)
    query = page.locator("#brush-query").text_content() or ""
    m = re.fullmatch(r"summary\.acc >= (\S+) and summary\.acc <= (\S+)", query)
    assert m, query
    lo, hi = float(m.group(1)), float(m.group(2))
    kept = {r.name for r in RUNS if lo <= r.summary["acc"] <= hi}
    assert 100 < len(kept) < N
    expect(page.locator("#brushed-count")).to_have_attribute("data-count", str(len(kept)))
    expect(parcoords).to_have_attribute("data-kept", str(len(kept)))
    names = page.locator("#brushed-runs a").all_text_contents()
    assert len(names) == 100 and set(names) <= kept
    expect(page.locator("#brushed-more")).to_have_text(f"and {len(kept) - 100:,} more")

    with big.client() as api:
        assert total(api, query) == len(kept)
        # A trial finishing inside the brush: the newest run, so it joins the 10,000 shown and
        # the oldest (r00000) leaves; the total counts all 10,001.
        late = create_run(api, "sweep", "late", config={"lr": 1e-3, "layers": 3, "opt": "sgd"})
        acc = (lo + hi) / 2
        Producer(api, late["id"]).send(
            rows([0], acc=[acc], loss=[1 - acc]), status={"state": "succeeded"}
        )
        expect(page.locator("#sweep-count")).to_have_text(
            "10,000 of 10,001 runs (the newest 10,000)"
        )
        dropped = int(RUNS[0].name in kept)
        expect(page.locator("#brushed-count")).to_have_attribute(
            "data-count", str(len(kept) + 1 - dropped)
        )
        expect(parcoords).to_have_attribute("data-drawn", str(N))
        assert total(api, query) == len(kept) + 1

        # The brushed query in the runs list, sorted by a config column, to its end.
        page.locator("#open-in-list").click()
        page.wait_for_url(re.compile(r"/\?"))
        assert parse_qs(urlparse(page.url).query) == {"project": ["sweep"], "q": [query]}
        counts = page.locator("#run-counts")
        expect(counts).to_have_text(f"{len(kept) + 1:,} runs")
        page.select_option("#add-column", "config.layers")
        page.locator('#runs-table th[data-col="config.layers"] button.sort').click()
        expect(page.locator('th[data-col="config.layers"]')).to_have_attribute(
            "aria-sort", "descending"
        )
        layers = {r.id: r.config["layers"] for r in RUNS if r.name in kept}
        layers[late["id"]] = 3
        # The server's order: by the value, ties by id (code points); descending reverses both.
        order = sorted(layers, key=lambda i: (layers[i], i.encode()), reverse=True)
        page.wait_for_function(
            "id => document.querySelector('#runs-body tr.run-row')?.dataset.runId === id",
            arg=order[0],
        )
        page.locator("#runs-scroll").evaluate("el => { el.scrollTop = el.scrollHeight; }")
        last = page.locator(f'#runs-body tr.run-row[data-index="{len(order) - 1}"]')
        expect(last).to_have_attribute("data-run-id", order[-1], timeout=30_000)
        indexed = page.locator("#runs-body tr.run-row[data-run-id]").evaluate_all(
            "els => els.map(e => [Number(e.dataset.index), e.dataset.runId])"
        )
        assert indexed and all(order[i] == run_id for i, run_id in indexed)
        assert 0 < page.locator("#runs-body tr.run-row").count() <= MAX_DOM_ROWS
        expect(counts).to_have_text(f"{len(kept) + 1:,} runs")

        # Another trial finishing inside the brush: counted in the bar, then shown.
        newer = create_run(api, "sweep", "newer", config={"lr": 1e-2, "layers": 12, "opt": "sgd"})
        Producer(api, newer["id"]).send(
            rows([0], acc=[acc], loss=[1 - acc]), status={"state": "succeeded"}
        )
        expect(page.locator("#new-runs-text")).to_have_text("1 new run")
        page.click("#new-runs-show")
        expect(counts).to_have_text(f"{len(kept) + 2:,} runs")
        assert total(api, query) == len(kept) + 2
    assert page.console_errors == []
