"""Renaming and retagging a run in Chromium: open run pages (of a running and of a finished run)
and runs lists show an edit made elsewhere (PATCH /api/v1/runs/{id}) without a reload; the run
page edits the name in place (Enter saves, Escape cancels, the server's refusal shown) and its
tags (a remove button per tag, a small input to add one), names and tags staying text; a token
that may not write the run is offered none of it."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from runwatch.tokens import create
from tests.e2e.helpers import Producer, create_run, rows
from tests.e2e.test_scopes_in_pages import use_token
from tests.e2e.widgets import open_run
from tests.servers import ServerProcess

pytestmark = pytest.mark.e2e
MARKUP = "<b>bold</b> run"  # markup in a name or tag is text on the page, never HTML


def run_row(page: Page, run_id: str):  # type: ignore[no-untyped-def]
    return page.locator(f'#runs-body tr[data-run-id="{run_id}"]')


def header_tags(page: Page):  # type: ignore[no-untyped-def]
    return page.locator('#run-meta [data-meta="tags"] .tag')


def test_an_edit_from_elsewhere_shows_live(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    run = create_run(api, "ed", "first", tags=["a"])
    Producer(api, run["id"]).send(rows(range(3), loss=[1.0, 0.9, 0.8]))
    runs_list = page.context.new_page()
    runs_list.goto(f"{server.url}/?project=ed")
    expect(run_row(runs_list, run["id"]).locator(".col-name a")).to_have_text("first")
    # A list of the tag the run is about to get, holding a newer run (one older than every
    # run a list holds enters it; a newer one is counted as new).
    newer = create_run(api, "ed", "newer", tags=["best"])
    tagged = page.context.new_page()
    tagged.goto(f"{server.url}/?project=ed&q=%22best%22%20in%20tags")
    expect(tagged.locator("#runs-body tr[data-run-id]")).to_have_count(1)
    expect(run_row(tagged, newer["id"])).to_be_visible()
    open_run(page, server, run["id"])
    expect(page.locator("#run-name")).to_have_text("first")
    expect(header_tags(page)).to_have_text(["a"])

    for p in (page, runs_list, tagged):
        p.evaluate("window.notReloaded = true")  # a reload would lose it
    r = api.patch(f"/api/v1/runs/{run['id']}", json={"name": MARKUP, "tags": ["best", "<i>x</i>"]})
    assert r.status_code == 200, r.text

    expect(page.locator("#run-name")).to_have_text(MARKUP)
    expect(page.locator("#crumb-run")).to_have_text(MARKUP)
    expect(header_tags(page)).to_have_text(["best", "<i>x</i>"])
    assert page.locator("#run-name b, #run-meta i").count() == 0
    assert page.title().startswith(MARKUP)
    row = run_row(runs_list, run["id"])
    expect(row.locator(".col-name a")).to_have_text(MARKUP)
    expect(row.locator(".col-tags .tag")).to_have_text(["best", "<i>x</i>"])
    expect(run_row(tagged, run["id"])).to_be_visible()  # it entered the filtered list
    assert runs_list.locator("#runs-body b, #runs-body i").count() == 0
    for p in (page, runs_list, tagged):
        assert p.evaluate("window.notReloaded") is True
    assert page.console_errors == []  # type: ignore[attr-defined]


def test_an_open_page_of_a_finished_run_follows_its_edits(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    """Its stream ended with the run: the page hears the edit, then the deletion, elsewhere."""
    run = create_run(api, "ed", "finished", tags=["a"])
    Producer(api, run["id"]).finish("succeeded")
    open_run(page, server, run["id"], state="closed")
    page.evaluate("window.notReloaded = true")
    r = api.patch(f"/api/v1/runs/{run['id']}", json={"name": MARKUP, "tags": ["kept"]})
    assert r.status_code == 200, r.text
    expect(page.locator("#run-name")).to_have_text(MARKUP)
    expect(header_tags(page)).to_have_text(["kept"])
    assert api.delete(f"/api/v1/runs/{run['id']}").status_code == 200
    expect(page.locator("#page-error")).to_have_text(f"This run (“{MARKUP}”) was deleted.")
    assert page.evaluate("window.notReloaded") is True
    assert page.console_errors == []  # type: ignore[attr-defined]


def test_rename_and_retag_on_the_run_page(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    run = create_run(api, "ed", "before", tags=["a", "b"])
    Producer(api, run["id"]).finish("succeeded")  # a finished run is edited too
    url = f"/api/v1/runs/{run['id']}"
    open_run(page, server, run["id"], state="closed")
    name, field = page.locator("#run-name"), page.locator("#run-name-edit")

    page.click("#rename-run")
    expect(field).to_be_focused()
    expect(field).to_have_value("before")
    field.fill("not this")
    field.press("Escape")  # cancelled: nothing sent
    expect(field).to_be_hidden()
    expect(name).to_have_text("before")

    page.click("#rename-run")
    field.fill(MARKUP)
    field.press("Enter")
    expect(field).to_be_hidden()
    expect(name).to_have_text(MARKUP)
    assert page.locator("#run-name b").count() == 0
    expect(page.locator("#crumb-run")).to_have_text(MARKUP)
    assert api.get(url).json()["name"] == MARKUP

    page.get_by_role("button", name="Remove tag a", exact=True).click()
    expect(header_tags(page)).to_have_text(["b"])
    add = page.locator("#run-tag-add")
    add.fill("<i>new</i>")
    add.press("Enter")
    expect(header_tags(page)).to_have_text(["b", "<i>new</i>"])
    expect(add).to_have_value("")
    assert page.locator("#run-meta i").count() == 0
    assert api.get(url).json()["tags"] == ["b", "<i>new</i>"]
    assert page.console_errors == []  # type: ignore[attr-defined]

    # The server's refusal is shown as it says it, and the name stays open to fix.
    page.click("#rename-run")
    field.evaluate("el => { el.value = 'n'.repeat(501); }")  # past the input's own maxlength
    field.press("Enter")
    expect(page.locator("#run-edit-error")).to_contain_text("500")
    expect(field).to_be_visible()
    field.press("Escape")
    expect(page.locator("#run-edit-error")).to_be_hidden()
    assert api.get(url).json()["name"] == MARKUP


def test_a_token_that_may_not_write_is_offered_no_edit(page: Page, tmp_path: Path) -> None:
    data = tmp_path / "data"
    read = create(data, "read", None, None, "viewer")[0]
    admin = create(data, "admin", None, None, "operator")[0]
    server = ServerProcess(data).start()
    try:
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {admin}"}) as c:
            run = create_run(c, "ed", "guarded", tags=["a"])
        use_token(page, server, read)
        open_run(page, server, run["id"])
        expect(header_tags(page)).to_have_text(["a"])
        for control in ("#rename-run", "#run-tag-add", "#run-meta .tag-remove"):
            expect(page.locator(control)).to_be_hidden()
        use_token(page, server, admin)
        page.goto(f"{server.url}/runs/{run['id']}")
        expect(page.locator("#rename-run")).to_be_visible()
        expect(page.locator("#run-tag-add")).to_be_visible()
        expect(header_tags(page)).to_have_text(["a"])
        expect(page.locator("#run-meta .tag-remove")).to_have_count(1)
    finally:
        server.stop()
