"""Records a producer lost are shown where the user looks: a run that succeeded with a loss
carries "⚠ N lost" beside its status in the runs list and in the run's header, live and after a
reload, and a run that lost nothing carries no such chip."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

import runwatch
from tests.servers import ServerProcess

pytestmark = pytest.mark.e2e


def losing_run(server: ServerProcess, run_dir: Path, name: str, lost: int) -> runwatch.Run:
    """A real SDK run that logs ``lost`` events each past the server's payload limit (the SDK
    leaves each out and reports it in an sdk.lost event) among records that arrive."""
    run = runwatch.init(project="loss", name=name, url=server.url, run_dir=run_dir)
    for i in range(lost):
        run.event("oversized", payload={"blob": "x" * 70_000, "i": i})
        run.log({"loss": 1.0 / (i + 1)}, step=i)
    return run


def test_a_run_that_lost_records_says_so_in_the_list_and_its_header(
    page: Page, server: ServerProcess, api: httpx.Client, tmp_path: Path
) -> None:
    whole = runwatch.init(project="loss", name="whole", url=server.url, run_dir=tmp_path / "w")
    whole.log({"loss": 0.5}, step=0)
    assert whole.finish(timeout=30)
    lossy = losing_run(server, tmp_path / "l", "lossy", 3)
    page.goto(f"{server.url}/?project=loss")
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    whole_row = page.locator(f'#runs-body tr[data-run-id="{whole.id}"]')
    expect(whole_row.locator(".pill")).to_have_text("succeeded")
    row = page.locator(f'#runs-body tr[data-run-id="{lossy.id}"]')
    expect(row.locator(".pill")).to_have_text("running")

    assert lossy.finish(timeout=30) is False  # the SDK's own word: records were lost
    assert api.get(f"/api/v1/runs/{lossy.id}").json()["lost"] == 3
    expect(row.locator(".pill")).to_have_text("succeeded")
    expect(row.locator(".loss-chip")).to_have_text("⚠ 3 lost")  # arrived live
    expect(whole_row.locator(".loss-chip")).to_be_hidden()

    page.reload()
    expect(row.locator(".loss-chip")).to_have_text("⚠ 3 lost")
    row.locator("a.run-link").click()
    expect(page.locator("#run-status")).to_have_text("succeeded")
    expect(page.locator("#run-lost")).to_have_text("⚠ 3 lost")


def test_the_run_header_counts_losses_as_they_are_reported(
    page: Page, server: ServerProcess, tmp_path: Path
) -> None:
    run = losing_run(server, tmp_path / "r", "live", 0)
    run.log({"loss": 1.0}, step=0)
    page.goto(f"{server.url}/runs/{run.id}")
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    expect(page.locator("#run-status")).to_have_text("running")
    expect(page.locator("#run-lost")).to_be_hidden()
    run.event("oversized", payload={"blob": "x" * 70_000})
    run.event("oversized", payload={"blob": "y" * 70_000})
    assert run.finish(timeout=30) is False
    expect(page.locator("#run-status")).to_have_text("succeeded")
    expect(page.locator("#run-lost")).to_have_text("⚠ 2 lost")
    page.reload()
    expect(page.locator("#run-lost")).to_have_text("⚠ 2 lost")


def test_the_compare_page_marks_the_run_that_lost_records(
    page: Page, server: ServerProcess, tmp_path: Path
) -> None:
    whole = runwatch.init(project="loss", name="whole", url=server.url, run_dir=tmp_path / "w")
    whole.log({"loss": 0.5}, step=0)
    lossy = losing_run(server, tmp_path / "l", "lossy", 2)
    page.goto(f"{server.url}/compare?runs={whole.id},{lossy.id}")
    chips = {
        r.id: page.locator(f'.compare-run[data-run="{r.id}"] .loss-chip') for r in (whole, lossy)
    }
    expect(page.locator(f'.compare-run[data-run="{lossy.id}"] .pill')).to_have_text("running")
    assert whole.finish(timeout=30) and lossy.finish(timeout=30) is False
    expect(chips[lossy.id]).to_have_text("⚠ 2 lost")  # arrived live
    expect(chips[whole.id]).to_be_hidden()
    page.reload()
    expect(chips[lossy.id]).to_have_text("⚠ 2 lost")
    expect(chips[whole.id]).to_be_hidden()
