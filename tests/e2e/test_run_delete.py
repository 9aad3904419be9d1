"""Deleting a run from its page in Chromium: offered only for a finished run, a dialog naming
the run (as text) asks first, then the runs list; another runs list open meanwhile drops the
row live, and an open page of a run deleted elsewhere says so instead of breaking."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.helpers import Producer, create_run, rows
from tests.e2e.widgets import open_run
from tests.servers import ServerProcess, wait_until

pytestmark = pytest.mark.e2e
NAME = "doomed <b>run</b>"  # markup in a name is text on the page, never HTML


def run_row(page: Page, run_id: str):  # type: ignore[no-untyped-def]
    return page.locator(f'#runs-body tr[data-run-id="{run_id}"]')


def test_delete_a_run_from_its_page(page: Page, server: ServerProcess, api: httpx.Client) -> None:
    doomed = create_run(api, "del", NAME)
    Producer(api, doomed["id"]).send(rows(range(5), loss=[1.0, 0.8, 0.6, 0.5, 0.4]))
    Producer(api, doomed["id"], "end").finish("succeeded")
    kept = create_run(api, "del", "kept")  # still running: not offered
    other = page.context.new_page()  # a runs list open elsewhere
    other.goto(f"{server.url}/?project=del")
    expect(run_row(other, doomed["id"])).to_be_visible()

    open_run(page, server, kept["id"])
    expect(page.locator("#run-delete")).to_be_hidden()

    open_run(page, server, doomed["id"], state="closed")
    expect(page.locator("#delete-run")).to_be_visible()
    page.click("#delete-run")
    dialog = page.locator("#delete-dialog")
    expect(dialog).to_be_visible()
    expect(page.locator("#delete-title")).to_have_text(f"Delete run “{NAME}”?")
    assert page.locator("#delete-title b").count() == 0
    page.click("#delete-keep")  # changed our mind once: nothing happens
    expect(dialog).to_be_hidden()
    assert api.get(f"/api/v1/runs/{doomed['id']}").status_code == 200
    page.click("#delete-run")
    page.click("#delete-confirm")
    page.wait_for_url(f"{server.url}/?project=del")
    expect(run_row(page, kept["id"])).to_be_visible()
    expect(run_row(page, doomed["id"])).to_have_count(0)
    gone = api.get(f"/api/v1/runs/{doomed['id']}")
    assert (gone.status_code, gone.json()["error"]["code"]) == (404, "run_deleted")
    # The list opened before drops the row, live.
    expect(run_row(other, doomed["id"])).to_have_count(0)
    expect(run_row(other, kept["id"])).to_be_visible()
    assert page.console_errors == []  # type: ignore[attr-defined]


def test_an_open_run_page_says_its_run_was_deleted(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    """A crashed run (finished, its stream still open) deleted from elsewhere."""
    silent = create_run(api, "del", "silent", heartbeat=0.1)
    Producer(api, silent["id"]).send(rows(range(3), loss=[1.0, 0.9, 0.8]))
    wait_until(
        lambda: api.get(f"/api/v1/runs/{silent['id']}").json()["status"] == "crashed", 20,
        what="the run to crash",
    )  # fmt: skip
    open_run(page, server, silent["id"])
    expect(page.locator("#delete-run")).to_be_visible()  # crashed is finished
    assert api.delete(f"/api/v1/runs/{silent['id']}").status_code == 200
    expect(page.locator("#page-error")).to_have_text("This run (“silent”) was deleted.")
    expect(page.locator("#conn")).to_have_attribute("data-state", "closed")
    expect(page.locator("#run-delete")).to_be_hidden()
    # Reloaded, it says the same rather than "no run".
    page.reload()
    expect(page.locator("#page-error")).to_have_text("This run was deleted.")
