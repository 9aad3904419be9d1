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
    open_list(page, server)
    row = run_row(page, run["id"])
    expect(row.locator(".run-link")).to_have_text(xss)
    expect(row.locator(".tag")).to_have_text(xss)
    expect(row.locator(".col-project")).to_have_text(xss)
    expect(page.locator("#project-filter option").nth(1)).to_have_text(xss)
    assert page.locator("#runs-body img").count() == 0
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
    open_list(page, server)
    expect(page.locator("#runs-body tr")).to_have_count(len(specs))
    expect(page.locator("#run-counts")).to_have_text("6 runs · 2 running")
    expect(page.locator("#project-filter option")).to_have_count(4)
    checks = page.locator("#runs-body .run-select")
    checks.nth(0).check()
    checks.nth(2).check()
    expect(page.locator("#compare-link")).to_have_text("Compare 2")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "runs-list.png"))
    assert page.console_errors == []
