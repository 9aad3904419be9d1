"""The runs list in a real Chromium: live rows, live status, the project filter in the URL."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Locator, Page, expect

from tests.conftest import ARTIFACTS
from tests.e2e.helpers import Producer, create_run, rows
from tests.servers import ServerProcess

pytestmark = pytest.mark.e2e


def run_row(page: Page, run_id: str) -> Locator:
    return page.locator(f'#runs-body tr[data-run-id="{run_id}"]')


def listed_ids(page: Page) -> list[str]:
    ids: list[str] = page.locator("#runs-body tr:not([hidden])").evaluate_all(
        "els => els.map(e => e.dataset.runId)"
    )
    return ids


def open_list(page: Page, server: ServerProcess, query: str = "") -> None:
    page.goto(f"{server.url}/{query}")
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")


def test_new_runs_and_status_changes_appear_without_reload(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    first = create_run(api, "alpha", "first")
    Producer(api, first["id"]).finish("succeeded", exit_code=0)
    open_list(page, server)
    page.evaluate("() => { window.__sameDocument = true; }")
    expect(run_row(page, first["id"]).locator(".pill")).to_have_text("succeeded")
    expect(run_row(page, first["id"]).locator(".live-badge")).to_be_hidden()

    second = create_run(api, "alpha", "second", tags=["sweep", "lr=3e-4"])
    row = run_row(page, second["id"])
    expect(row.locator(".run-link")).to_have_text("second")
    expect(row.locator(".run-link")).to_have_attribute("href", f"/runs/{second['id']}")
    expect(row.locator(".pill")).to_have_text("running")
    expect(row.locator(".pill")).to_have_attribute("data-tone", "running")
    expect(row.locator(".live-badge")).to_have_text("● live")
    expect(row.locator(".tag")).to_have_text(["sweep", "lr=3e-4"])
    assert listed_ids(page) == [second["id"], first["id"]]  # newest on top
    expect(page.locator("#run-counts")).to_have_text("2 runs · 1 running")

    # The duration of a running run ticks on its own; the summary follows logged metrics.
    duration = row.locator(".col-duration")
    before = duration.text_content()
    expect(duration).not_to_have_text(before or "")
    producer = Producer(api, second["id"])
    producer.send(rows([1], loss=[0.25]))
    expect(row.locator(".summary-item")).to_have_text("loss0.25")
    expect(row.locator(".col-updated")).to_contain_text("ago")

    producer.finish("failed", error="boom", exit_code=1)
    expect(row.locator(".pill")).to_have_text("failed")
    expect(row.locator(".pill")).to_have_attribute("data-tone", "bad")
    expect(row.locator(".live-badge")).to_be_hidden()
    expect(page.locator("#run-counts")).to_have_text("2 runs · 0 running")
    assert page.evaluate("() => window.__sameDocument === true") is True
    assert page.console_errors == []


def test_project_filter_lives_in_the_url_and_filters_live_rows(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    a1 = create_run(api, "alpha", "a1")
    b1 = create_run(api, "beta", "b1")
    open_list(page, server, "?project=alpha")
    expect(page.locator("#project-filter")).to_have_value("alpha")
    expect(page.locator("#runs-body tr")).to_have_count(1)
    assert listed_ids(page) == [a1["id"]]

    b2 = create_run(api, "beta", "b2")  # another project: never shown under this filter
    a2 = create_run(api, "alpha", "a2")
    expect(run_row(page, a2["id"])).to_be_visible()
    assert listed_ids(page) == [a2["id"], a1["id"]]

    page.select_option("#project-filter", "")
    expect(page).to_have_url(f"{server.url}/")
    expect(page.locator("#runs-body tr")).to_have_count(4)
    assert listed_ids(page) == [a2["id"], b2["id"], b1["id"], a1["id"]]

    create_run(api, "gamma", "g1")  # a project born live becomes a filter option
    expect(page.locator("#project-filter option")).to_have_text(
        ["All projects", "alpha", "beta", "gamma"]
    )

    page.select_option("#project-filter", "beta")
    expect(page).to_have_url(f"{server.url}/?project=beta")
    expect(page.locator("#runs-body tr")).to_have_count(2)
    assert listed_ids(page) == [b2["id"], b1["id"]]

    page.go_back()  # the filter follows history
    expect(page.locator("#project-filter")).to_have_value("")
    expect(page.locator("#runs-body tr")).to_have_count(5)
    assert page.console_errors == []


def test_run_names_and_tags_render_as_text(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    xss = '<img src=x onerror="window.__xss=1">'
    run = create_run(api, xss, xss, tags=[xss], group=xss)
    Producer(api, run["id"]).send(rows([1, 2], **{xss: [3.0, 1.5]}))
    open_list(page, server)
    row = run_row(page, run["id"])
    expect(row.locator(".run-link")).to_have_text(xss)
    expect(row.locator(".tag")).to_have_text(xss)
    expect(row.locator(".col-project")).to_have_text(xss)
    expect(row.locator(".summary-key")).to_have_text(xss)
    expect(page.locator("#project-filter option").nth(1)).to_have_text(xss)
    expect(page.locator("#tag-filter option").nth(1)).to_have_text(f"{xss} (1)")
    expect(page.locator("#best-metric option").nth(1)).to_have_text(xss)

    # Hostile values also pass through the URL and the metrics request as data, not markup.
    page.select_option("#tag-filter", xss)
    page.select_option("#best-metric", xss)
    expect(row.locator(".col-best")).to_have_text("1.5")  # "min": "onerror" reads as an error
    page.reload()
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    expect(page.locator("#tag-filter")).to_have_value(xss)
    expect(page.locator("#best-metric")).to_have_value(xss)
    expect(row.locator(".col-best")).to_have_text("1.5")
    expect_order(page, [run["id"]])
    assert page.locator("img:not(.brand-mark)").count() == 0
    assert page.evaluate("() => window.__xss") is None
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
    for project, name, tags, final, summary in specs:
        run = create_run(
            api, project, name, tags=tags, group="sweep" if "sweep-3" in tags else None
        )
        producer = Producer(api, run["id"])
        producer.send(rows([100], **{k: [v] for k, v in summary.items()}))
        if final is not None:
            error = "CUDA out of memory" if final == "failed" else None
            producer.finish(final, error=error, exit_code=1 if final == "failed" else 0)
    open_list(page, server, "?sort=best%3Aasc&metric=loss")
    expect(page.locator("#runs-body tr")).to_have_count(len(specs))
    expect(page.locator("#run-counts")).to_have_text("6 runs · 2 running")
    expect(page.locator('#runs-body .col-best[data-state="value"]')).to_have_count(5)
    expect(page.locator("#project-filter option")).to_have_count(4)
    checks = page.locator("#runs-body .run-select")
    checks.nth(0).check()
    checks.nth(2).check()
    expect(page.locator("#compare-link")).to_have_text("Compare 2")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "runs-list.png"))
    assert page.console_errors == []


# ---------- sorting, filters and the best-value column ----------


def header(page: Page, col: str) -> Locator:
    return page.locator(f'#runs-table th[data-col="{col}"]')


def sort_by(page: Page, col: str, direction: str) -> None:
    """Click a header until it sorts ``direction`` ("descending" or "ascending")."""
    for _ in range(3):
        if header(page, col).get_attribute("aria-sort") == direction:
            return
        header(page, col).locator("button").click()
    expect(header(page, col)).to_have_attribute("aria-sort", direction)


def expect_order(page: Page, ids: list[str]) -> None:
    """The shown rows, top to bottom, become ``ids`` (the table re-sorts live, so wait for it)."""
    page.wait_for_function(
        "ids => JSON.stringify([...document.querySelectorAll('#runs-body tr:not([hidden])')]"
        ".map(e => e.dataset.runId)) === JSON.stringify(ids)",
        arg=ids,
    )
    assert listed_ids(page) == ids


def finished_run(
    api: httpx.Client, name: str, state: str, seconds: float, **series: list[object]
) -> str:
    """A run that logged ``series`` and ended ``seconds`` after it was created."""
    run = create_run(api, "lab", name, tags=["done"])
    producer = Producer(api, run["id"])
    steps = max((len(v) for v in series.values()), default=0)
    for i in range(steps):  # one batch per step: series of different lengths stay apart
        producer.send(rows([i], **{k: [v[i]] for k, v in series.items() if i < len(v)}))
    producer.finish(state, ts=run["created_at"] + seconds)
    return str(run["id"])


def running_run(api: httpx.Client, name: str, **series: list[object]) -> str:
    run = create_run(api, "lab", name, tags=["live"])
    producer = Producer(api, run["id"])
    steps = max((len(v) for v in series.values()), default=0)
    for i in range(steps):
        producer.send(rows([i], **{k: [v[i]] for k, v in series.items() if i < len(v)}))
    return str(run["id"])


def test_sort_by_status_duration_and_best_value_both_ways(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    alpha = finished_run(api, "alpha", "succeeded", 1000, loss=[0.9, 0.4, 0.7])
    bravo = finished_run(api, "bravo", "failed", 3000, loss=[0.3])  # one point: a raw series
    charlie = running_run(api, "charlie", loss=[2.0, "nan", 1.5, "inf"])  # non-finite: ignored
    delta = running_run(api, "delta", acc=[0.5])  # never logged loss
    echo = finished_run(api, "echo", "cancelled", 50, loss=["nan"])  # no finite loss at all
    newest_first = [echo, delta, charlie, bravo, alpha]
    open_list(page, server)
    expect_order(page, newest_first)
    expect(header(page, "best")).to_be_hidden()  # no metric chosen: no best column

    # Status: text, descending first; ties (the two running runs) stay newest first both ways.
    sort_by(page, "status", "descending")
    expect(page).to_have_url(f"{server.url}/?sort=status%3Adesc")
    expect_order(page, [alpha, delta, charlie, bravo, echo])
    sort_by(page, "status", "ascending")
    expect_order(page, [echo, bravo, delta, charlie, alpha])
    header(page, "status").locator("button").click()  # a third click: back to newest first
    expect(header(page, "status")).to_have_attribute("aria-sort", "none")
    expect(page).to_have_url(f"{server.url}/")
    expect_order(page, newest_first)

    # Duration: finished runs by how long they ran; running ones are seconds old, the older longer.
    sort_by(page, "duration", "descending")
    expect_order(page, [bravo, alpha, echo, charlie, delta])
    expect(run_row(page, bravo).locator(".col-duration")).to_have_text("50m 00s")
    sort_by(page, "duration", "ascending")
    expect_order(page, [delta, charlie, echo, alpha, bravo])

    # Best value of loss: "min" by default for a loss; runs without a finite loss sort last.
    page.select_option("#best-metric", "loss")
    expect(page.locator("#best-dir")).to_have_text("min")
    expect(header(page, "best")).to_be_visible()
    best = {rid: run_row(page, rid).locator(".col-best") for rid in newest_first}
    for rid, text in [(alpha, "0.4"), (bravo, "0.3"), (charlie, "1.5"), (delta, "—"), (echo, "—")]:
        expect(best[rid]).to_have_text(text)
    sort_by(page, "best", "descending")
    expect(page).to_have_url(f"{server.url}/?sort=best%3Adesc&metric=loss")
    expect_order(page, [charlie, alpha, bravo, echo, delta])
    sort_by(page, "best", "ascending")
    expect_order(page, [bravo, alpha, charlie, echo, delta])

    # The toggle switches to the maximum: new values, new order, no refetch needed.
    page.click("#best-dir")
    expect(page.locator("#best-dir")).to_have_text("max")
    expect(best[alpha]).to_have_text("0.9")
    expect(best[charlie]).to_have_text("2")
    expect_order(page, [bravo, alpha, charlie, echo, delta])
    sort_by(page, "best", "descending")
    expect_order(page, [charlie, alpha, bravo, echo, delta])
    expect(page).to_have_url(f"{server.url}/?sort=best%3Adesc&metric=loss&best=max")

    page.reload()  # the whole view is in the URL
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    expect(page.locator("#best-metric")).to_have_value("loss")
    expect(page.locator("#best-dir")).to_have_text("max")
    expect(header(page, "best")).to_have_attribute("aria-sort", "descending")
    expect_order(page, [charlie, alpha, bravo, echo, delta])
    assert page.console_errors == []


def test_status_and_tag_filters_follow_live_runs_and_survive_a_reload(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    a = create_run(api, "lab", "a", tags=["sweep", "gpu"])
    b = create_run(api, "lab", "b", tags=["sweep"])
    c = create_run(api, "lab", "c", tags=["gpu"])
    Producer(api, b["id"]).finish("failed", error="boom", exit_code=1)
    open_list(page, server)
    expect(page.locator("#status-filter option")).to_have_text(
        ["All statuses (3)", "running (2)", "failed (1)"]
    )
    expect(page.locator("#tag-filter option")).to_have_text(["All tags", "gpu (2)", "sweep (2)"])

    page.select_option("#status-filter", "running")
    expect(page).to_have_url(f"{server.url}/?status=running")
    expect_order(page, [c["id"], a["id"]])
    expect(page.locator("#run-counts")).to_have_text("3 runs · 2 running · 2 shown")
    page.select_option("#tag-filter", "sweep")
    expect(page).to_have_url(f"{server.url}/?status=running&tag=sweep")
    expect_order(page, [a["id"]])

    # Live: a matching run appears, a run that stops matching goes, options recount.
    d = create_run(api, "lab", "d", tags=["sweep"])
    expect_order(page, [d["id"], a["id"]])
    Producer(api, a["id"]).finish("succeeded", exit_code=0)
    expect_order(page, [d["id"]])
    expect(page.locator("#status-filter option")).to_have_text(
        ["All statuses (4)", "running (2)", "succeeded (1)", "failed (1)"]
    )
    expect(page.locator("#tag-filter option")).to_have_text(["All tags", "gpu (2)", "sweep (3)"])
    Producer(api, d["id"]).finish("cancelled")
    expect(page.locator("#runs-none-match")).to_be_visible()
    expect_order(page, [])

    page.reload()
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    expect(page.locator("#status-filter")).to_have_value("running")
    expect(page.locator("#tag-filter")).to_have_value("sweep")
    expect(page.locator("#runs-body tr")).to_have_count(4)
    expect_order(page, [])
    page.select_option("#status-filter", "")
    expect(page).to_have_url(f"{server.url}/?tag=sweep")
    expect_order(page, [d["id"], b["id"], a["id"]])
    expect(page.locator("#runs-none-match")).to_be_hidden()

    # The URL alone restores a view, the project filter included.
    create_run(api, "other", "elsewhere", tags=["sweep"])
    open_list(page, server, "?project=lab&status=failed&tag=sweep")
    expect(page.locator("#project-filter")).to_have_value("lab")
    expect(page.locator("#status-filter")).to_have_value("failed")
    expect_order(page, [b["id"]])
    assert page.console_errors == []


def test_best_value_updates_live_when_a_run_logs_a_new_best(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    run = running_run(api, "learner", loss=[1.0, 0.8])
    other = running_run(api, "steady", loss=[0.7])
    producer = Producer(api, run, name="more")
    open_list(page, server, "?sort=best%3Aasc&metric=loss")
    page.evaluate("() => { window.__sameDocument = true; }")
    cell = run_row(page, run).locator(".col-best")
    expect(cell).to_have_text("0.8")
    expect_order(page, [other, run])

    producer.send(rows([2], loss=[0.5]))  # a new best, also the latest value
    expect(cell).to_have_text("0.5")
    expect_order(page, [run, other])  # and the sort follows
    producer.send(rows([3], loss=[0.9]))  # worse: the best stays
    expect(run_row(page, run).locator(".summary-value")).to_have_text("0.9")
    expect(cell).to_have_text("0.5")
    # A best that is not the latest value only the metrics endpoint knows: a throttled refetch.
    producer.send(rows([4, 5], loss=[0.2, 0.6]))
    expect(run_row(page, run).locator(".summary-value")).to_have_text("0.6")
    expect(cell).to_have_text("0.2")
    assert page.evaluate("() => window.__sameDocument === true") is True
    assert page.console_errors == []


def test_best_values_are_fetched_for_rows_on_screen_only(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    ids = [running_run(api, f"run-{i:02}", loss=[1.0 + i]) for i in range(50)]
    fetched: list[str] = []
    page.on("request", lambda r: "/metrics?" in r.url and fetched.append(r.url))
    open_list(page, server, "?metric=loss")
    top, bottom = run_row(page, ids[-1]), run_row(page, ids[0])  # newest first
    expect(top.locator(".col-best")).to_have_text("50")
    expect(bottom.locator(".col-best")).to_have_attribute("data-state", "loading")
    assert 0 < len(fetched) < len(ids)
    bottom.scroll_into_view_if_needed()
    expect(bottom.locator(".col-best")).to_have_text("1")
    on_screen = len(fetched)
    # Sorting by the best value needs every shown run's value.
    header(page, "best").locator("button").click()
    expect_order(page, ids[::-1])
    assert len(fetched) == len(ids)  # each run once: the cache keeps the ones seen
    assert on_screen < len(ids)
    assert page.console_errors == []


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
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{server.url}/runs/{second['id']}")


def test_best_value_cache_is_bounded_and_refetches_at_most_every_interval(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    ids = [running_run(api, f"r{i}", loss=[float(i)]) for i in range(3)]
    page.goto(f"{server.url}/")
    got = page.evaluate(
        """async (ids) => {
            const {createBestValues} = await import('/static/js/best-values.js');
            const {getJSON} = await import('/static/js/api.js');
            const loads = [];
            const changed = [];
            const best = createBestValues({
                capacity: 2,
                minInterval: 400,
                async load(id, key) {
                    loads.push({id, at: performance.now()});
                    const a = await getJSON(`/api/v1/runs/${id}/metrics`, {keys: key, max_points: 1});
                    return {seq: a.seq, series: a.series[key]};
                },
                onChange: (id) => changed.push(id),
            });
            const runs = await Promise.all(ids.map((id) => getJSON(`/api/v1/runs/${id}`)));
            const until = async (ok) => { while (!ok()) await new Promise((r) => setTimeout(r, 10)); };
            for (const run of runs) best.want(run, 'loss');
            await until(() => changed.length === 3);
            const size = best.size;
            const evicted = best.get(ids[0], 'loss');
            const kept = best.get(ids[2], 'loss');
            // A run moving on twice within the interval: one refetch, after the interval.
            const moved = {...runs[2], seq: runs[2].seq + 1, summary: {loss: -1}};
            best.want(moved, 'loss');
            best.want({...moved, seq: moved.seq + 1}, 'loss');
            const folded = best.get(ids[2], 'loss');
            const before = loads.length;
            await until(() => loads.length > before);
            await new Promise((r) => setTimeout(r, 500));
            const times = loads.filter((l) => l.id === ids[2]).map((l) => l.at);
            return {size, evicted, kept, folded, gap: times[1] - times[0], extra: loads.length - before,
                    after: best.get(ids[2], 'loss')};
        }""",
        ids,
    )
    assert got["size"] == 2
    assert got["evicted"] is None  # least recently used, dropped
    assert got["kept"]["min"] == 2 and got["kept"]["max"] == 2
    assert got["folded"]["min"] == -1  # a better last value counts at once
    assert got["gap"] >= 395  # the throttle held the refetch back (timers fire late, not early)
    assert got["extra"] == 1
    # The server never saw -1 (the seq was made up), so the refetch puts the truth back.
    assert got["after"]["min"] == 2
    assert page.console_errors == []
