"""The runs table at scale in a real Chromium: 10,000 runs paged by the server, sorted by a
config column, filtered by a query, scrolled to the end with a bounded DOM, grouped, exported,
and live (a run created meanwhile is counted in the "new runs" bar; a filtered table drops and
takes runs as they stop and start matching, its count with them)."""

from __future__ import annotations

import csv
import io
import re
import statistics
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from playwright.sync_api import Page, expect

from runwatch.server.runs_api import FIELDS_SAMPLE
from tests.e2e.helpers import Producer, create_run, rows
from tests.e2e.many_runs import SeedRun, seeded_server
from tests.servers import ServerProcess

pytestmark = pytest.mark.e2e

N = 10_000
OPTS = ["adam", "sgd", "rmsprop"]
MAX_DOM_ROWS = 150  # runs-table.js


def seed(i: int) -> SeedRun:
    acc = (i * 37 % 1000) / 1000
    return SeedRun(
        id=f"r{i:05}",
        name=f"trial-{i:05}",
        created=1.7e9 + i,
        tags=["sweep"] + (["even"] if i % 2 == 0 else []),
        config={"layers": i % 13, "opt": OPTS[i % 3], "lr": 10.0 ** -(i % 5)},
        summary={"acc": acc, "train/loss": (i * 53 % 997) / 997},
        # Each in another order than the last value and than each other.
        extremes={
            "acc": {"min": acc * (i * 71 % 89) / 89, "max": acc + (i * 29 % 83) / 83},
            "train/loss": {"min": 0.0, "max": 1.0},
        },
    )


RUNS = [seed(i) for i in range(N)]


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server over 10,000 finished runs, written into its store before it starts."""
    with seeded_server(tmp_path_factory.mktemp("many") / "data", RUNS) as proc:
        yield proc


def open_table(page: Page, server: ServerProcess, query: str = "") -> None:
    page.goto(f"{server.url}/{query}")
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    expect(page.locator("#runs-body tr.run-row[data-run-id]").first).to_be_visible()


def shown_ids(page: Page) -> list[str]:
    ids: list[str] = page.locator("#runs-body tr.run-row").evaluate_all(
        "els => els.map(e => e.dataset.runId || null)"
    )
    return ids


def column(page: Page, field: str) -> list[str]:
    """The text of an added column's cells, top to bottom, of the rows drawn."""
    index = page.locator("#runs-table thead th").evaluate_all(
        "(ths, f) => ths.findIndex(th => th.dataset.col === f)", field
    )
    texts: list[str] = page.locator(
        f"#runs-body tr.run-row td:nth-child({index + 1})"
    ).all_text_contents()
    return texts


def scroll_to(page: Page, where: str) -> None:
    page.locator("#runs-scroll").evaluate(f"el => {{ el.scrollTop = {where}; }}")


def test_ten_thousand_runs_sort_by_a_config_column_and_scroll_to_the_end(
    page: Page, big: ServerProcess
) -> None:
    requests: list[str] = []
    page.on("request", lambda r: "/api/v1/runs?" in r.url and requests.append(r.url))
    open_table(page, big, "?col=config.layers&col=summary.acc")
    expect(page.locator("#run-counts")).to_have_text("10,000 runs")
    assert shown_ids(page)[:3] == ["r09999", "r09998", "r09997"]  # newest first

    page.locator('#runs-table th[data-col="config.layers"] button.sort').click()
    expect(page).to_have_url(f"{big.url}/?sort=-config.layers&col=config.layers&col=summary.acc")
    expect(page.locator('th[data-col="config.layers"]')).to_have_attribute(
        "aria-sort", "descending"
    )
    # The server's order: by the value, ties by id; descending is the exact reverse.
    order = [r.id for r in sorted(RUNS, key=lambda r: (r.config["layers"], r.id), reverse=True)]
    page.wait_for_function(
        "() => document.querySelector('#runs-body tr.run-row')?.dataset.runId === 'r09996'"
    )
    drawn = [i for i in shown_ids(page) if i]
    assert drawn == order[: len(drawn)]
    assert set(column(page, "config.layers")[: len(drawn)]) == {"12"}

    scroll_to(page, "el.scrollHeight")  # straight to the end: the pages between are walked
    last = page.locator('#runs-body tr.run-row[data-index="9999"]')
    expect(last).to_have_attribute("data-run-id", order[-1], timeout=30_000)
    indexed = page.locator("#runs-body tr.run-row[data-run-id]").evaluate_all(
        "els => els.map(e => [Number(e.dataset.index), e.dataset.runId])"
    )
    assert indexed and all(order[i] == run_id for i, run_id in indexed)
    assert column(page, "config.layers")[-1] == "0"
    dom_rows = page.locator("#runs-body tr.run-row").count()
    assert 0 < dom_rows <= MAX_DOM_ROWS
    expect(page.locator("#run-counts")).to_have_text("10,000 runs")
    # Every page came from the server, sorted there: no request asked for more than 1,000.
    assert all("limit=" in u and int(u.split("limit=")[1].split("&")[0]) <= 1000 for u in requests)
    heap = page.evaluate("() => document.querySelectorAll('tr').length")
    assert heap <= MAX_DOM_ROWS + 4  # header, two spacers
    assert page.console_errors == []


def test_a_query_filters_on_the_server_and_a_bad_one_shows_its_caret(
    page: Page, big: ServerProcess
) -> None:
    open_table(page, big, "?col=config.opt")
    query = 'config.opt == "adam" and summary.acc > 0.5'
    page.fill("#run-query", query)
    page.press("#run-query", "Enter")
    want = [r for r in RUNS if r.config["opt"] == "adam" and r.summary["acc"] > 0.5]
    expect(page.locator("#run-counts")).to_have_text(f"{len(want):,} runs")
    expect(page).to_have_url(
        f"{big.url}/?q={quote(query, safe='').replace('%20', '+')}&col=config.opt"
    )
    newest = sorted(want, key=lambda r: r.created, reverse=True)
    page.wait_for_function(
        f"() => document.querySelector('#runs-body tr.run-row')?.dataset.runId === '{newest[0].id}'"
    )
    drawn = [i for i in shown_ids(page) if i]
    assert drawn == [r.id for r in newest[: len(drawn)]]
    assert set(column(page, "config.opt")) == {"adam"}

    # A bad query: the server's message with its caret picture, as text; the table stays, said
    # to be the last valid query's.
    page.fill("#run-query", "summary.acc > 0.5 and (config.opt ==")
    page.press("#run-query", "Enter")
    error = page.locator("#query-error")
    expect(error).to_be_visible()
    text = error.text_content() or ""
    assert "column 37" in text and text.rstrip().endswith("^")
    assert "summary.acc > 0.5 and (config.opt ==" in text
    expect(page.locator("#run-counts")).to_have_text(f"{len(want):,} runs of the last valid query")
    assert [i for i in shown_ids(page) if i] == drawn
    assert "q=config.opt" in page.url
    expect(page.locator("#run-query")).to_have_value("summary.acc > 0.5 and (config.opt ==")
    # A good query again clears the message.
    page.fill("#run-query", '"even" in tags')
    page.press("#run-query", "Enter")
    expect(page.locator("#run-counts")).to_have_text("5,000 runs")
    expect(error).to_be_hidden()
    assert [e for e in page.console_errors if "400 (Bad Request)" not in e] == []


def test_a_query_naming_a_field_no_run_has_says_so(page: Page, big: ServerProcess) -> None:
    """A typo in a field matches nothing, silently, in other trackers: the page names the field
    and the one most like it."""
    open_table(page, big, "")
    page.fill("#run-query", 'config.otp == "adam" and summary.acc > 0.5')
    page.press("#run-query", "Enter")
    expect(page.locator("#run-counts")).to_have_text("0 runs")
    expect(page.locator("#runs-none-match")).to_be_visible()
    expect(page.locator("#runs-empty")).to_be_hidden()  # runs there are: none matches
    expect(page.locator("#runs-none-match")).to_have_text(
        "No run matches these filters. No recent run has config.otp: did you mean config.opt?"
    )
    page.fill("#run-query", 'config.opt == "lion"')  # a field: only its value matches nothing
    page.press("#run-query", "Enter")
    expect(page.locator("#runs-none-match")).to_have_text("No run matches these filters.")
    assert page.console_errors == []


def test_the_url_round_trips_columns_sort_query_filters_and_group(
    page: Page, big: ServerProcess
) -> None:
    query = (
        "?tag=even&q=config.layers+%3C+3&sort=summary.acc&col=config.lr"
        "&col=summary%5B%22train%2Floss%22%5D&col=summary.acc&group=config.opt"
    )
    open_table(page, big, query)
    want = [r for r in RUNS if "even" in r.tags and r.config["layers"] < 3]
    expect(page.locator("#run-counts")).to_have_text(f"{len(want):,} runs")
    expect(page.locator("#tag-filter")).to_have_value("even")
    expect(page.locator("#run-query")).to_have_value("config.layers < 3")
    expect(page.locator("#group-by")).to_have_value("config.opt")
    headers = page.locator("#runs-table thead th[data-col]").evaluate_all(
        "els => els.map(e => e.dataset.col)"
    )
    assert headers[-3:] == ["config.lr", 'summary["train/loss"]', "summary.acc"]
    expect(page.locator('th[data-col="summary.acc"]')).to_have_attribute("aria-sort", "ascending")
    first = min(want, key=lambda r: (r.summary["acc"], r.id))
    page.wait_for_function(
        f"() => document.querySelector('#runs-body tr.run-row')?.dataset.runId === '{first.id}'"
    )

    # Group by opt: one row per value, with count and mean ± std of the summary columns.
    groups = page.locator("#groups-table tbody tr")
    expect(groups).to_have_count(3)
    for row in groups.all():
        opt = row.locator("td").nth(0).text_content()
        accs = [r.summary["acc"] for r in want if r.config["opt"] == opt]
        expect(row.locator("td").nth(1)).to_have_text(f"{len(accs):,}")
        mean = row.locator("td").nth(3).locator(".stats-mean").text_content() or ""
        assert abs(float(mean.split(" ± ")[0]) - statistics.mean(accs)) < 1e-3
        assert abs(float(mean.split(" ± ")[1]) - statistics.pstdev(accs)) < 1e-3

    # Removing a column and reloading keeps the rest of the view.
    page.locator('th[data-col="config.lr"] button.col-remove').click()
    expect(page.locator('th[data-col="config.lr"]')).to_have_count(0)
    page.reload()
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    expect(page.locator("#run-counts")).to_have_text(f"{len(want):,} runs")
    headers = page.locator("#runs-table thead th[data-col]").evaluate_all(
        "els => els.map(e => e.dataset.col)"
    )
    assert headers[-2:] == ['summary["train/loss"]', "summary.acc"]
    assert "col=config.lr" not in page.url and "group=config.opt" in page.url
    # The picker offers the fields the runs have.
    expect(page.locator('#add-column option[value="config.lr"]')).to_have_text("config.lr (1000)")
    page.select_option("#add-column", "config.layers")
    expect(page.locator('th[data-col="config.layers"]')).to_be_visible()
    assert page.console_errors == []


def test_export_writes_every_page_of_the_query_with_the_columns_shown(
    page: Page, big: ServerProcess, tmp_path: Path
) -> None:
    open_table(
        page,
        big,
        "?q=config.layers+%3D%3D+4&sort=name&col=config.opt&col=summary%5B%22train%2Floss%22%5D",
    )
    want = sorted((r for r in RUNS if r.config["layers"] == 4), key=lambda r: r.name)
    expect(page.locator("#run-counts")).to_have_text(f"{len(want):,} runs")
    with page.expect_download() as info:
        page.click("#export-csv")
    path = tmp_path / "runs.csv"
    info.value.save_as(path)
    lines = list(csv.reader(io.StringIO(path.read_text())))
    assert lines[0] == [
        "id",
        "name",
        "project",
        "status",
        "group",
        "tags",
        "created",
        "updated",
        "config.opt",
        'summary["train/loss"]',
    ]
    assert [line[0] for line in lines[1:]] == [r.id for r in want]
    for line, run in zip(lines[1:], want, strict=True):
        assert line[8] == run.config["opt"]
        assert float(line[9]) == run.summary["train/loss"]
    expect(page.locator("#export-csv")).to_have_text("Export CSV")
    assert page.console_errors == []


def test_runs_in_view_update_live_and_new_runs_wait_in_a_bar(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    old = create_run(api, "lab", "old", tags=["sweep"])
    other = create_run(api, "lab", "other")
    open_table(page, server, "?q=%22sweep%22+in+tags&col=summary.loss")
    expect(page.locator("#run-counts")).to_have_text("1 run")
    page.evaluate("() => { window.__sameDocument = true; }")

    Producer(api, old["id"]).send(rows([1], loss=[0.25]))  # a row in view changes in place
    row = page.locator(f'#runs-body tr[data-run-id="{old["id"]}"]')
    expect(row.locator("td.col-field")).to_have_text("0.25")

    create_run(api, "lab", "unrelated")  # does not match the query: not counted
    fresh = create_run(api, "lab", "fresh", tags=["sweep"])
    expect(page.locator("#new-runs")).to_be_visible()
    expect(page.locator("#new-runs-text")).to_have_text("1 new run")
    assert shown_ids(page) == [old["id"]]  # not slipped into the table
    expect(page.locator("#run-counts")).to_have_text("1 run")

    page.click("#new-runs-show")
    expect(page.locator("#new-runs")).to_be_hidden()
    expect(page.locator("#run-counts")).to_have_text("2 runs")
    page.wait_for_function(
        f"() => document.querySelector('#runs-body tr.run-row')?.dataset.runId === '{fresh['id']}'"
    )
    assert shown_ids(page) == [fresh["id"], old["id"]]
    assert other["id"] not in shown_ids(page)
    assert page.evaluate("() => window.__sameDocument === true") is True
    assert page.console_errors == []


def expect_rows(page: Page, runs: list[dict[str, Any]]) -> None:
    """The table's rows, top to bottom, become ``runs``."""
    page.wait_for_function(
        "ids => JSON.stringify([...document.querySelectorAll('#runs-body tr.run-row')]"
        ".map(e => e.dataset.runId)) === JSON.stringify(ids)",
        arg=[r["id"] for r in runs],
    )


def listed(server: ServerProcess, query: dict[str, str]) -> dict[str, Any]:
    """What a reload of the view would show: the API's answer to the same query."""
    with server.client() as client:
        answer: dict[str, Any] = client.get("/api/v1/runs", params=query).json()
    return answer


def test_a_filtered_table_drops_and_takes_runs_live_and_its_count_follows(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    keep, leave, join, done = (
        create_run(api, "lab", name, heartbeat=600) for name in ["keep", "leave", "join", "done"]
    )
    for run, loss in [(keep, 0.1), (leave, 0.2), (join, 0.9), (done, 0.3)]:
        Producer(api, run["id"], "seed").send(rows([1], loss=[loss]))
    open_table(page, server, "?status=running&q=summary.loss+%3C+0.5&col=summary.loss")
    expect(page.locator("#run-counts")).to_have_text("3 runs")
    expect_rows(page, [done, leave, keep])  # newest first
    page.evaluate("() => { window.__sameDocument = true; }")

    Producer(api, leave["id"]).send(rows([2], loss=[0.8]))  # no longer matches the query
    expect_rows(page, [done, keep])
    expect(page.locator("#run-counts")).to_have_text("2 runs")
    Producer(api, join["id"]).send(rows([2], loss=[0.05]))  # matches now: takes its place
    expect_rows(page, [done, join, keep])
    expect(page.locator("#run-counts")).to_have_text("3 runs")
    expect(page.locator(f'#runs-body tr[data-run-id="{join["id"]}"] td.col-field')).to_have_text(
        "0.05"
    )
    Producer(api, done["id"]).finish("succeeded")  # leaves the status filter
    expect_rows(page, [join, keep])
    expect(page.locator("#run-counts")).to_have_text("2 runs")

    # What a reload would show, without one; none of them counts as a new run.
    truth = listed(server, {"status": "running", "q": "summary.loss < 0.5"})
    assert truth["total"] == 2
    assert shown_ids(page) == [r["id"] for r in truth["runs"]]
    expect(page.locator("#new-runs")).to_be_hidden()
    assert page.evaluate("() => window.__sameDocument === true") is True
    assert page.console_errors == []


def test_runs_past_the_pages_held_enter_and_leave_the_count_live(
    page: Page, tmp_path: Path
) -> None:
    # 300 finished runs first by name (two pages: only the first is held at the top), then
    # two running ones last, on the page not held; zz-join is older than the newest match,
    # so it is no new run when it comes to match.
    seeded = [SeedRun(f"s{i:03}", f"seed-{i:03}", 1.7e9 + i, "lab") for i in range(300)]
    with seeded_server(tmp_path / "data", seeded) as server, server.client() as api:
        join, leave = (create_run(api, "lab", n, heartbeat=600) for n in ["zz-join", "zz-leave"])
        leaving, joining = Producer(api, leave["id"]), Producer(api, join["id"])
        leaving.send(rows([1], loss=[0.1]))
        joining.send(rows([1], loss=[0.9]))
        query = 'status == "succeeded" or summary.loss < 0.5'
        open_table(page, server, f"?q={quote(query)}&sort=name")
        expect(page.locator("#run-counts")).to_have_text("301 runs")
        leaving.send(rows([2], loss=[0.7]))
        expect(page.locator("#run-counts")).to_have_text("300 runs")
        joining.send(rows([2], loss=[0.2]))
        expect(page.locator("#run-counts")).to_have_text("301 runs")
        scroll_to(page, "el.scrollHeight")
        last = page.locator('#runs-body tr.run-row[data-index="300"]')
        expect(last).to_have_attribute("data-run-id", join["id"])
        assert leave["id"] not in shown_ids(page)
        assert page.locator('#runs-body tr.run-row[data-index="301"]').count() == 0
        truth = listed(server, {"q": query, "sort": "name", "limit": "1000"})
        assert truth["total"] == 301
        assert truth["runs"][-1]["id"] == join["id"]
        assert page.console_errors == []


def test_min_and_max_columns_from_the_picker_sort_on_the_server_and_export(
    page: Page, big: ServerProcess, tmp_path: Path
) -> None:
    open_table(page, big, "?q=config.layers+%3D%3D+5")
    want = [r for r in RUNS if r.config["layers"] == 5]
    expect(page.locator("#run-counts")).to_have_text(f"{len(want):,} runs")
    # The picker offers each metric's last, min and max.
    expect(page.locator('#add-column option[value="summary.acc"]')).to_have_text(
        "summary.acc · last (769)"
    )
    expect(page.locator('#add-column option[value="summary.acc.min"]')).to_have_text(
        "summary.acc · min"
    )
    page.select_option("#add-column", "summary.acc.min")
    page.select_option("#add-column", 'summary["train/loss"].max')
    page.select_option("#add-column", "summary.acc.max")
    expect(page.locator('th[data-col="summary.acc.max"]')).to_be_visible()
    expect(page.locator('#add-column option[value="summary.acc.min"]')).to_have_count(0)

    page.locator('th[data-col="summary.acc.min"] button.sort').click()
    cols = "&col=summary.acc.min&col=summary%5B%22train%2Floss%22%5D.max&col=summary.acc.max"
    expect(page).to_have_url(f"{big.url}/?q=config.layers+%3D%3D+5&sort=-summary.acc.min{cols}")
    expect(page.locator('th[data-col="summary.acc.min"]')).to_have_attribute(
        "aria-sort", "descending"
    )
    extremes = {r.id: r.metric_extremes() for r in want}
    order = sorted(want, key=lambda r: (extremes[r.id]["acc"]["min"], r.id), reverse=True)
    page.wait_for_function(
        f"() => document.querySelector('#runs-body tr.run-row')?.dataset.runId === '{order[0].id}'"
    )
    drawn = [i for i in shown_ids(page) if i]
    assert drawn == [r.id for r in order[: len(drawn)]]
    mins = column(page, "summary.acc.min")[: len(drawn)]
    maxes = column(page, "summary.acc.max")[: len(drawn)]
    for run_id, low, high in zip(drawn, mins, maxes, strict=True):
        assert float(low) == pytest.approx(extremes[run_id]["acc"]["min"], rel=1e-2, abs=1e-9)
        assert float(high) == pytest.approx(extremes[run_id]["acc"]["max"], rel=1e-2, abs=1e-9)
    assert set(column(page, 'summary["train/loss"].max')[: len(drawn)]) == {"1"}
    # The server sorts by the max as well (ascending here), the page reading the same order.
    api = httpx.get(
        f"{big.url}/api/v1/runs",
        params={"q": "config.layers == 5", "sort": "summary.acc.max", "limit": 5},
    ).json()
    by_max = sorted(want, key=lambda r: (extremes[r.id]["acc"]["max"], r.id))
    assert [r["id"] for r in api["runs"]] == [r.id for r in by_max[:5]]
    assert api["runs"][0]["extremes"]["acc"] == extremes[by_max[0].id]["acc"]

    # Reloading keeps the columns and the sort (they live in the URL).
    page.reload()
    expect(page.locator('th[data-col="summary.acc.min"]')).to_have_attribute(
        "aria-sort", "descending"
    )
    page.wait_for_function(
        f"() => document.querySelector('#runs-body tr.run-row')?.dataset.runId === '{order[0].id}'"
    )

    with page.expect_download() as info:
        page.click("#export-csv")
    path = tmp_path / "runs.csv"
    info.value.save_as(path)
    lines = list(csv.reader(io.StringIO(path.read_text())))
    assert lines[0][8:] == ["summary.acc.min", 'summary["train/loss"].max', "summary.acc.max"]
    assert [line[0] for line in lines[1:]] == [r.id for r in order]
    for line, run in zip(lines[1:], order, strict=True):
        assert float(line[8]) == extremes[run.id]["acc"]["min"]
        assert float(line[9]) == 1.0
        assert float(line[10]) == extremes[run.id]["acc"]["max"]
    assert page.console_errors == []


def test_a_field_the_sampled_runs_lack_is_added_by_name(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    """The picker lists the fields of the newest runs the server samples; an older run's key is
    typed by name ("Another field…") and becomes a column sorted on the server, in the URL."""
    assert api.post("/api/v1/runs", json={"project": "p", "config": {"rare": 7}}).status_code == 201
    for i in range(FIELDS_SAMPLE):
        assert api.post("/api/v1/runs", json={"project": "p", "config": {"lr": i}}).is_success
    open_table(page, server, "?project=p")
    expect(page.locator('#add-column option[value="config.lr"]')).to_have_count(1)
    expect(page.locator('#add-column option[value="config.rare"]')).to_have_count(0)
    page.select_option("#add-column", label="Another field…")
    name = page.locator("#add-column-name")
    expect(name).to_be_focused()
    name.fill("created")  # a fixed column, not a field
    name.press("Enter")
    expect(page.locator('th[data-col="created"]')).to_have_count(0)
    assert name.evaluate("el => el.validationMessage") != ""
    name.fill("config.rare")
    name.press("Enter")
    expect(name).to_be_hidden()
    expect(page).to_have_url(f"{server.url}/?project=p&col=config.rare")
    page.locator('th[data-col="config.rare"] button.sort').click()
    expect(page).to_have_url(f"{server.url}/?project=p&sort=-config.rare&col=config.rare")
    expect(page.locator("#runs-body tr.run-row").first).to_contain_text("7")
    assert column(page, "config.rare")[0] == "7"


MAX_BULK = 64  # runs-table.js checks at most this many at once: queue-again.js's MAX_BEST_OF


def check(page: Page, index: int, *, shift: bool = False) -> None:
    """Click row ``index``'s checkbox (scrolled into view), with shift held or not."""
    box = page.locator(f'#runs-body tr.run-row[data-index="{index}"][data-run-id] input.run-select')
    box.click(modifiers=["Shift"] if shift else [])


def compared(page: Page) -> list[str]:
    """The checked runs' ids, as the Compare link carries them."""
    href = page.locator("#compare-link").get_attribute("href") or ""
    return href.split("runs=", 1)[1].split(",") if "runs=" in href else []


def test_shift_click_checks_the_range_from_the_last_checkbox_clicked(
    page: Page, big: ServerProcess
) -> None:
    open_table(page, big)
    newest = [r.id for r in sorted(RUNS, key=lambda r: r.created, reverse=True)]
    check(page, 2)
    check(page, 6, shift=True)
    expect(page.locator("#selection-count")).to_have_text("5 selected")
    assert sorted(compared(page)) == sorted(newest[2:7])
    checked = page.locator('#runs-body tr.run-row[data-selected="true"]')
    expect(checked).to_have_count(5)
    assert checked.evaluate_all("els => els.map(e => Number(e.dataset.index))") == [2, 3, 4, 5, 6]
    # A shift-click that unchecks unchecks the range, from the last one clicked (6) to it.
    check(page, 4, shift=True)
    expect(page.locator("#selection-count")).to_have_text("2 selected")
    assert sorted(compared(page)) == sorted(newest[2:4])
    # No text was selected by the shift-clicks, and no run opened.
    assert page.evaluate("() => String(getSelection())") == ""
    assert page.url == f"{big.url}/"

    # A long range stops once 64 runs are checked, counting from the last one clicked.
    check(page, 10)
    scroll_to(page, str(190 * 40))  # rows are 40px: row 200 gets drawn
    check(page, 200, shift=True)
    expect(page.locator("#selection-count")).to_have_text(f"{MAX_BULK} selected")
    assert sorted(compared(page)) == sorted(newest[2:4] + newest[10 : 10 + MAX_BULK - 2])
    expect(page.locator('#runs-body tr.run-row[data-index="200"]')).to_have_attribute(
        "data-selected", "false"
    )
    assert page.console_errors == []


def test_the_header_checkbox_checks_the_loaded_runs_up_to_the_cap_and_unchecks_them(
    page: Page, big: ServerProcess
) -> None:
    open_table(page, big, "?tag=even")
    evens = [r.id for r in sorted(RUNS, key=lambda r: r.created, reverse=True) if "even" in r.tags]
    all_box = page.locator("#runs-table thead input.run-select-all")
    expect(all_box).to_have_attribute("title", re.compile(rf"loaded.*at most {MAX_BULK}"))
    all_box.click()
    expect(page.locator("#selection-count")).to_have_text(f"{MAX_BULK} selected")
    assert compared(page) == evens[:MAX_BULK]  # the list's top runs, in its order
    expect(all_box).to_be_checked()
    scroll_to(page, str((MAX_BULK - 5) * 40))  # rows are 40px
    expect(page.locator(f'#runs-body tr[data-index="{MAX_BULK - 1}"]')).to_have_attribute(
        "data-selected", "true"
    )
    expect(page.locator(f'#runs-body tr[data-index="{MAX_BULK}"]')).to_have_attribute(
        "data-selected", "false"
    )
    all_box.click()  # some checked: it unchecks them all
    expect(page.locator("#selection-count")).to_have_text("select runs to compare")
    expect(page.locator('#runs-body tr[data-selected="true"]')).to_have_count(0)
    expect(all_box).not_to_be_checked()
    # One checked by hand: the header's box is half-checked, and a click unchecks it.
    check(page, MAX_BULK)
    assert all_box.evaluate("el => el.indeterminate && !el.checked")
    all_box.click()
    expect(page.locator("#selection-count")).to_have_text("select runs to compare")
    assert all_box.evaluate("el => !el.indeterminate && !el.checked")
    assert page.console_errors == []


# Resolves once two frames have been drawn: the table redraws on the frame after a scroll.
DRAWN = "() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))"


def test_back_from_a_run_finds_the_list_where_it_was_scrolled(
    page: Page, big: ServerProcess
) -> None:
    open_table(page, big, "?tag=even")
    page.locator('#runs-table th[data-col="name"] button.sort').click()
    listed = f"{big.url}/?tag=even&sort=name"
    expect(page).to_have_url(listed)
    by_name = [r.id for r in sorted(RUNS, key=lambda r: r.name) if "even" in r.tags]
    expect(page.locator('#runs-body tr.run-row[data-index="0"]')).to_have_attribute(
        "data-run-id", by_name[0]
    )
    # In the first page, then four pages down: a page the reload has to walk to again.
    for top in (800, 30_000):
        scroll_to(page, str(top))
        page.evaluate(DRAWN)  # the rows drawn are those of the new scroll
        index = top // 40 + 3  # rows are 40px: one near the top of the view
        row = page.locator(f'#runs-body tr.run-row[data-index="{index}"]')
        expect(row).to_have_attribute("data-run-id", by_name[index])
        row.locator(".col-duration").click()
        expect(page).to_have_url(f"{big.url}/runs/{by_name[index]}")
        page.go_back()
        expect(page).to_have_url(listed)
        expect(page.locator("#run-query")).to_be_visible()
        page.wait_for_function(f"() => document.getElementById('runs-scroll').scrollTop === {top}")
        expect(row).to_have_attribute("data-run-id", by_name[index])
        expect(row).to_be_in_viewport()
        expect(page.locator('th[data-col="name"]')).to_have_attribute("aria-sort", "ascending")
    # A new query opens its list at the top; Back to the one before puts its scroll back too.
    page.fill("#run-query", "config.layers < 5")
    page.press("#run-query", "Enter")
    expect(page).to_have_url(re.compile(r"q=config"))
    page.wait_for_function("() => document.getElementById('runs-scroll').scrollTop === 0")
    page.go_back()
    expect(page).to_have_url(listed)
    page.wait_for_function("() => document.getElementById('runs-scroll').scrollTop === 30000")
    expect(row).to_have_attribute("data-run-id", by_name[index])
    assert page.console_errors == []
