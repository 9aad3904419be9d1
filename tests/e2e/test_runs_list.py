"""The runs list in a real Chromium: rows updated live, new runs counted, filters and the sort in
the URL, user text as text. (At scale: test_runs_table.py.)"""

from __future__ import annotations

import json
import time

import httpx
import pytest
from playwright.sync_api import Locator, Page, expect

from tests.conftest import ARTIFACTS
from tests.e2e.helpers import Producer, create_run, rows, sdk_vitals
from tests.servers import ServerProcess

pytestmark = pytest.mark.e2e


def run_row(page: Page, run_id: str) -> Locator:
    return page.locator(f'#runs-body tr[data-run-id="{run_id}"]')


def listed_ids(page: Page) -> list[str]:
    ids: list[str] = page.locator("#runs-body tr.run-row[data-run-id]").evaluate_all(
        "els => els.map(e => e.dataset.runId)"
    )
    return ids


def open_list(page: Page, server: ServerProcess, query: str = "") -> None:
    page.goto(f"{server.url}/{query}")
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")


def expect_order(page: Page, ids: list[str]) -> None:
    """The rows, top to bottom, become ``ids``."""
    page.wait_for_function(
        "ids => JSON.stringify([...document.querySelectorAll('#runs-body tr.run-row[data-run-id]')]"
        ".map(e => e.dataset.runId)) === JSON.stringify(ids)",
        arg=ids,
    )
    assert listed_ids(page) == ids


def header(page: Page, col: str) -> Locator:
    return page.locator(f'#runs-table th[data-col="{col}"]')


def test_status_changes_update_rows_in_place_and_new_runs_wait_for_show(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    first = create_run(api, "alpha", "first")
    Producer(api, first["id"]).finish("succeeded", exit_code=0)
    second = create_run(api, "alpha", "second", tags=["sweep", "lr=3e-4"])
    open_list(page, server)
    page.evaluate("() => { window.__sameDocument = true; }")
    expect(run_row(page, first["id"]).locator(".pill")).to_have_text("succeeded")
    expect(run_row(page, first["id"]).locator(".live-badge")).to_be_hidden()
    row = run_row(page, second["id"])
    expect(row.locator(".run-link")).to_have_text("second")
    expect(row.locator(".run-link")).to_have_attribute("href", f"/runs/{second['id']}")
    expect(row.locator(".pill")).to_have_attribute("data-tone", "running")
    expect(row.locator(".live-badge")).to_have_text("● live")
    expect(row.locator(".tag")).to_have_text(["sweep", "lr=3e-4"])
    expect_order(page, [second["id"], first["id"]])  # newest on top
    expect(page.locator("#run-counts")).to_have_text("2 runs")

    # The duration of a running run ticks on its own; the summary follows logged metrics.
    duration = row.locator(".col-duration")
    before = duration.text_content()
    expect(duration).not_to_have_text(before or "")
    producer = Producer(api, second["id"])
    producer.send(rows([1], loss=[0.25]))
    expect(row.locator(".summary-item")).to_have_text("loss0.25")
    producer.finish("failed", error="boom", exit_code=1)
    expect(row.locator(".pill")).to_have_text("failed")
    expect(row.locator(".pill")).to_have_attribute("data-tone", "bad")
    expect(row.locator(".live-badge")).to_be_hidden()

    third = create_run(api, "alpha", "third")  # counted above the table, shown on request
    expect(page.locator("#new-runs-text")).to_have_text("1 new run")
    expect_order(page, [second["id"], first["id"]])
    page.click("#new-runs-show")
    expect_order(page, [third["id"], second["id"], first["id"]])
    expect(page.locator("#run-counts")).to_have_text("3 runs")
    assert page.evaluate("() => window.__sameDocument === true") is True
    assert page.console_errors == []


def test_project_filter_lives_in_the_url_and_in_history(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    a1 = create_run(api, "alpha", "a1")
    b1 = create_run(api, "beta", "b1")
    open_list(page, server, "?project=alpha")
    expect(page.locator("#project-filter")).to_have_value("alpha")
    expect_order(page, [a1["id"]])

    b2 = create_run(api, "beta", "b2")  # another project: not counted under this filter
    a2 = create_run(api, "alpha", "a2")
    expect(page.locator("#new-runs-text")).to_have_text("1 new run")
    page.click("#new-runs-show")
    expect_order(page, [a2["id"], a1["id"]])

    page.select_option("#project-filter", "")
    expect(page).to_have_url(f"{server.url}/")
    expect_order(page, [a2["id"], b2["id"], b1["id"], a1["id"]])

    create_run(api, "gamma", "g1")  # a project born live becomes a filter option
    expect(page.locator("#project-filter option")).to_have_text(
        ["All projects", "alpha", "beta", "gamma"]
    )
    page.select_option("#project-filter", "beta")
    expect(page).to_have_url(f"{server.url}/?project=beta")
    expect_order(page, [b2["id"], b1["id"]])
    expect(page.locator("#sweep-link")).to_have_attribute("href", "/sweep?project=beta")

    page.go_back()  # the filter follows history
    expect(page.locator("#project-filter")).to_have_value("")
    expect(page.locator("#run-counts")).to_have_text("5 runs")
    assert page.console_errors == []


def test_run_names_tags_and_keys_render_as_text(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    xss = '<img src=x onerror="window.__xss=1">'
    key = "<img src=x onerror=window.__xss=1>"  # a key a query can name has no double quote
    run = create_run(api, xss, xss, tags=[xss], group=xss, config={key: xss})
    Producer(api, run["id"]).send(rows([1, 2], **{xss: [3.0, 1.5]}))
    open_list(page, server)
    row = run_row(page, run["id"])
    expect(row.locator(".run-link")).to_have_text(xss)
    expect(row.locator(".tag")).to_have_text(xss)
    expect(row.locator(".col-project")).to_have_text(xss)
    expect(row.locator(".summary-key")).to_have_text(xss)
    expect(page.locator("#project-filter option").nth(1)).to_have_text(xss)
    expect(page.locator("#tag-filter option").nth(1)).to_have_text(xss)
    config_col = f'config["{key}"]'
    expect(page.locator("#add-column option").nth(1)).to_have_text(f"{config_col} (1)")

    # Hostile values also pass through the URL, the query and the columns as data.
    page.select_option("#tag-filter", xss)
    page.select_option("#add-column", config_col)
    expect(row.locator("td.col-field")).to_have_text(xss)
    page.fill("#run-query", f"name == {json.dumps(xss)}")
    page.press("#run-query", "Enter")
    expect(page.locator("#run-counts")).to_have_text("1 run")
    page.reload()
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    expect(page.locator("#tag-filter")).to_have_value(xss)
    expect(page.locator("#runs-table th.col-field")).to_have_text(
        config_col + "\N{MULTIPLICATION SIGN}"
    )
    expect(row.locator("td.col-field")).to_have_text(xss)
    expect_order(page, [run["id"]])
    assert page.locator("img:not(.brand-mark)").count() == 0
    assert page.evaluate("() => window.__xss") is None
    assert page.console_errors == []


def test_text_in_the_latest_column_reads_as_text(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    run = create_run(api, "alpha", "phases")
    long = "warmup then cosine decay to zero"
    Producer(api, run["id"]).send(rows([1], loss=["nan"]))
    texts = [[1, time.time(), {"phase": "p5", "note": long}]]  # log()'s text values
    response = api.post(
        f"/api/v1/runs/{run['id']}/batches", json={"producer": "t", "batch_seq": 1, "texts": texts}
    )
    assert response.status_code == 200, response.text
    open_list(page, server)
    values = run_row(page, run["id"]).locator(".summary-value")
    # Keys in order: loss, note, phase; a stored "nan" is the number NaN, text is text.
    expect(values).to_have_text(["NaN", "warmup then cosine deca…", "p5"])
    expect(values.nth(1)).to_have_attribute("title", long)
    assert page.console_errors == []


def test_the_latest_column_shows_the_users_keys_before_the_sdks_vitals(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    vitals = {k: [v] for k, v in sdk_vitals().items()}
    system = sorted(vitals)
    assert system[:2] == ["sys/cpu_percent", "sys/records_per_s"]  # before "throughput"
    full = create_run(api, "alpha", "full")
    values = {"loss": [0.5], "throughput": [120.0], "val/acc": [0.75]}
    Producer(api, full["id"]).send(rows([10], **values, **vitals))
    lean = create_run(api, "alpha", "lean")  # one user key: the vitals fill the column
    Producer(api, lean["id"]).send(rows([10], loss=[0.25], **vitals))
    open_list(page, server)
    keys = run_row(page, full["id"]).locator(".summary-key")
    expect(keys).to_have_text(["loss", "throughput", "val/acc"])
    expect(run_row(page, full["id"]).locator(".summary-value")).to_have_text(["0.5", "120", "0.75"])
    expect(run_row(page, lean["id"]).locator(".summary-key")).to_have_text(["loss", *system[:2]])
    assert page.console_errors == []


def test_screenshot_of_a_busy_runs_list(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    specs = [
        (
            "vision",
            "resnet18-lr3e-4",
            ["baseline", "a100"],
            "succeeded",
            {"loss": 0.0812, "acc": 0.9731},
        ),
        ("vision", "resnet50-mixup", ["mixup"], "failed", {"loss": 1.204, "acc": 0.4121}),
        ("nlp", "gpt-mini-ctx512", ["sweep-3"], "cancelled", {"loss": 3.117, "ppl": 22.57}),
        ("evo-search", "neat-pop256", ["evo"], "crashed", {"fitness": 412.5, "species": 17}),
        ("nlp", "gpt-mini-ctx1024", ["sweep-3", "long"], None, {"loss": 2.871, "ppl": 17.66}),
        ("vision", "vit-tiny-warmup", ["vit"], None, {"loss": 0.6631, "acc": 0.8012, "lr": 1e-4}),
    ]
    for i, (project, name, tags, final, summary) in enumerate(specs):
        run = create_run(
            api, project, name, tags=tags, group="sweep" if "sweep-3" in tags else None,
            config={"lr": 10.0 ** -(i + 2), "opt": "adam" if i % 2 else "sgd"},
        )  # fmt: skip
        producer = Producer(api, run["id"])
        producer.send(rows([100], **{k: [v] for k, v in summary.items()}))
        if final is not None:
            error = "CUDA out of memory" if final == "failed" else None
            producer.finish(final, error=error, exit_code=1 if final == "failed" else 0)
    open_list(page, server, "?sort=summary.loss&col=config.lr&col=summary.loss&group=config.opt")
    expect(page.locator("#runs-body tr.run-row[data-run-id]")).to_have_count(len(specs))
    expect(page.locator("#run-counts")).to_have_text("6 runs")
    expect(page.locator("#groups-table tbody tr")).to_have_count(2)
    checks = page.locator("#runs-body .run-select")
    checks.nth(0).check()
    checks.nth(2).check()
    expect(page.locator("#compare-link")).to_have_text("Compare 2")
    # The query box wears the filters' dark field, not the browser's default white-bordered one.
    look = "el => { const s = getComputedStyle(el); return [s.backgroundColor, s.borderColor]; }"
    assert page.locator("#run-query").evaluate(look) == page.locator("#status-filter").evaluate(
        look
    )
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "runs-list.png"))
    assert page.console_errors == []


def test_sort_by_status_and_name_both_ways_on_the_server(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    alpha = create_run(api, "lab", "alpha")["id"]
    bravo = create_run(api, "lab", "Bravo")["id"]
    charlie = create_run(api, "lab", "charlie")["id"]
    Producer(api, alpha).finish("succeeded")
    Producer(api, charlie).finish("failed", error="x")
    open_list(page, server)
    expect_order(page, [charlie, bravo, alpha])
    # Text columns sort A to Z first (code-point order: "B" < "a"), then Z to A.
    header(page, "name").locator("button").click()
    expect(page).to_have_url(f"{server.url}/?sort=name")
    expect(header(page, "name")).to_have_attribute("aria-sort", "ascending")
    expect_order(page, [bravo, alpha, charlie])
    header(page, "name").locator("button").click()
    expect(page).to_have_url(f"{server.url}/?sort=-name")
    expect(header(page, "name")).to_have_attribute("aria-sort", "descending")
    expect_order(page, [charlie, alpha, bravo])
    header(page, "status").locator("button").click()
    expect_order(page, [charlie, bravo, alpha])  # failed, running, succeeded
    header(page, "status").locator("button").click()
    expect_order(page, [alpha, bravo, charlie])
    page.select_option("#status-filter", "running")
    expect(page).to_have_url(f"{server.url}/?status=running&sort=-status")
    expect_order(page, [bravo])
    page.reload()
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    expect(page.locator("#status-filter")).to_have_value("running")
    expect(header(page, "status")).to_have_attribute("aria-sort", "descending")
    # A time sorts newest first.
    header(page, "updated").locator("button").click()
    expect(page).to_have_url(f"{server.url}/?status=running&sort=-updated")
    expect_order(page, [bravo])
    assert page.console_errors == []


# Asks the table to redraw (a resize) and resolves once two frames have been drawn after it.
REDRAWN = """() => new Promise((done) => {
  dispatchEvent(new Event("resize"));
  requestAnimationFrame(() => requestAnimationFrame(done));
})"""


def test_a_click_or_enter_anywhere_on_a_row_opens_the_run(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    first = create_run(api, "lab", "first", tags=["t"])
    second = create_run(api, "lab", "second")
    open_list(page, server)
    row = run_row(page, first["id"])
    # The checkbox, and text selected in a row, keep their own meaning.
    row.locator(".run-select").check()
    run_row(page, second["id"]).locator(".col-select").click(position={"x": 3, "y": 3})
    expect(page.locator("#selection-count")).to_have_text("1 selected")
    expect(page).to_have_url(f"{server.url}/")
    assert page.console_errors == []

    row.locator(".col-duration").click()
    expect(page).to_have_url(f"{server.url}/runs/{first['id']}")
    page.go_back()
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    run_row(page, second["id"]).focus()
    # A redraw (as every live update makes) leaves the focused row focused.
    page.evaluate(REDRAWN)
    expect(run_row(page, second["id"])).to_be_focused()
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{server.url}/runs/{second['id']}")


def test_the_runs_page_links_to_the_promoted_runs(page: Page, server: ServerProcess) -> None:
    open_list(page, server)
    page.locator(".topbar a.top-link", has_text="Promoted").click()
    expect(page).to_have_url(f"{server.url}/promoted")


def test_a_refused_query_leaves_the_last_valid_querys_runs_dimmed_and_said_so(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    for i in range(3):
        create_run(api, "vision", f"run-{i}", config={"opt": "adam" if i else "sgd"})
    open_list(page, server, "?q=config.opt+%3D%3D+%22adam%22&group=config.opt")
    counts = page.locator("#run-counts")
    expect(counts).to_have_text("2 runs")
    panel = page.locator("#runs-panel")
    stale = page.locator("#query-stale")
    expect(stale).to_be_hidden()
    url = page.url

    page.fill("#run-query", 'config.opt == "sgd')
    page.press("#run-query", "Enter")
    expect(page.locator("#query-error")).to_contain_text("column 15")
    # The rows and count are the last valid query's, and read so; the URL stays that query's.
    expect(counts).to_have_text("2 runs of the last valid query")
    expect(stale).to_be_visible()
    expect(panel).to_have_attribute("data-stale", "true")
    expect(page.locator("#groups-panel")).to_have_attribute("data-stale", "true")
    assert float(panel.evaluate("el => getComputedStyle(el).opacity")) < 1
    expect(page.locator("#runs-body tr.run-row[data-run-id]")).to_have_count(2)
    assert page.url == url

    # The valid query again (the same runs: nothing to fetch) clears all of it.
    page.fill("#run-query", 'config.opt == "adam"')
    page.press("#run-query", "Enter")
    expect(page.locator("#query-error")).to_be_hidden()
    expect(stale).to_be_hidden()
    expect(counts).to_have_text("2 runs")
    expect(panel).to_have_attribute("data-stale", "false")
    assert [e for e in page.console_errors if "400 (Bad Request)" not in e] == []


def test_runs_group_by_their_group_or_status_and_a_group_row_shows_its_runs(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    ids: dict[str, str] = {}
    for name, group, opt in [
        ("a", "g1", "adam"), ("b", "g1", "sgd"), ("c", 'g "2"', "adam"), ("d", None, "adam"),
    ]:  # fmt: skip
        ids[name] = create_run(api, "vision", name, group=group, config={"opt": opt})["id"]
    Producer(api, ids["b"]).finish("failed")
    open_list(page, server)
    expect(page.locator("#run-counts")).to_have_text("4 runs")
    group_by = page.locator("#group-by")
    expect(group_by.locator('optgroup[label="run"] option')).to_have_text(["group", "status"])
    expect(group_by.locator('optgroup[label="config"] option')).to_have_text(["config.opt"])

    group_by.select_option("group")
    expect(page).to_have_url(f"{server.url}/?group=group")
    rows = page.locator("#groups-table tbody tr")
    expect(rows).to_have_count(3)
    assert sorted(rows.locator("td:first-child").all_text_contents()) == ["(none)", 'g "2"', "g1"]
    expect(rows.first.locator("td").nth(1)).to_have_text("2")  # the largest first
    rows.filter(has_text='g "2"').click()  # a value that needs escaping in the query
    expect(page.locator("#run-query")).to_have_value('group == "g \\"2\\""')
    expect(page.locator("#groups-panel")).to_be_hidden()
    expect(group_by).to_have_value("")
    expect_order(page, [ids["c"]])
    page.go_back()  # the click is a step in the history, as a typed query is
    expect(page).to_have_url(f"{server.url}/?group=group")
    expect_order(page, [ids["d"], ids["c"], ids["b"], ids["a"]])
    expect(rows).to_have_count(3)
    rows.filter(has_text="(none)").click()
    expect_order(page, [ids["d"]])

    # Within a query: the group's condition joins it; by status and by a config key alike.
    open_list(page, server, "?q=config.opt+%3D%3D+%22adam%22&group=status")
    expect(rows.locator("td:first-child")).to_have_text(["running"])
    page.goto(f"{server.url}/?q=name+%21%3D+%22c%22&group=status")
    expect(rows.locator("td:first-child")).to_have_text(["running", "failed"])
    rows.filter(has_text="failed").click()
    expect(page.locator("#run-query")).to_have_value('(name != "c") and status == "failed"')
    expect_order(page, [ids["b"]])


def test_the_header_checkbox_checks_every_run_of_a_short_list(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    ids = [create_run(api, "lab", f"run-{i}")["id"] for i in range(3)]
    open_list(page, server)
    expect_order(page, ids[::-1])
    all_box = page.locator("#runs-table thead input.run-select-all")
    all_box.click()
    expect(page.locator("#selection-count")).to_have_text("3 selected")
    expect(page.locator("#compare-link")).to_have_text("Compare 3")
    expect(all_box).to_be_checked()
    run_row(page, ids[0]).locator(".run-select").uncheck()
    expect(page.locator("#selection-count")).to_have_text("2 selected")
    assert all_box.evaluate("el => el.indeterminate")
    run_row(page, ids[0]).locator(".run-select").check()
    expect(all_box).to_be_checked()
    assert page.console_errors == []
