"""What the run page says about runs that report little: a finished worker that reported
nothing, a TensorBoard-only worker (no W&B run found), and a W&B run linked by id (a link)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.launched import Launch, finished, open_tab
from tests.servers import ServerProcess

pytestmark = pytest.mark.e2e

TENSORBOARD = """
    import json, os
    from tensorboardX import SummaryWriter
    run_dir = os.environ["RUNWATCH_RUN_DIR"]
    writer = SummaryWriter(os.path.join(run_dir, "tb"))
    for step in range(10):
        writer.add_scalar("loss", 1.0 / (step + 1), step)
    writer.close()
    if {linked}:
        with open(os.path.join(run_dir, "artifacts_manifest.json"), "w") as f:
            json.dump({{"tensorboard_dir": "tb", "wandb_run_id": "team/rl/abc123",
                        "wandb_mode": "online"}}, f)
"""


def launch_to_end(
    server: ServerProcess, api: httpx.Client, tmp_path: Path, body: str
) -> dict[str, object]:
    launch = Launch(server, tmp_path, body, "msg")
    try:
        assert launch.wait() == 0
    finally:
        launch.close()
    return finished(api, str(launch.run(api)["id"]))


def test_a_finished_run_that_reported_nothing_says_so(
    page: Page, server: ServerProcess, api: httpx.Client, tmp_path: Path
) -> None:
    run = launch_to_end(server, api, tmp_path, "pass\n")
    open_tab(page, server, str(run["id"]), "live")
    notice = page.locator("#analytics-notice")
    expect(notice).to_be_visible()
    expect(notice).to_have_attribute("data-kind", "nothing")
    expect(notice.locator(".an-title")).to_have_text(
        "This run succeeded without reporting anything"
    )
    expect(notice.locator("a")).to_have_text(["Logs", "Artifacts"])
    expect(page.locator("#charts-empty")).to_be_hidden()  # not "Charts appear as soon as …"
    notice.locator("a", has_text="Artifacts").click()
    expect(page.locator("#tab-artifacts")).to_have_attribute("aria-selected", "true")
    assert page.console_errors == []


def test_tensorboard_files_without_a_wandb_run_say_none_was_found(
    page: Page, server: ServerProcess, api: httpx.Client, tmp_path: Path
) -> None:
    run = launch_to_end(server, api, tmp_path, TENSORBOARD.format(linked=False))
    open_tab(page, server, str(run["id"]), "artifacts")
    view = page.locator("#artifacts-view")
    expect(view.locator(".art-tensorboard")).to_be_visible()
    expect(view.locator(".art-no-wandb")).to_contain_text("No W&B run found")
    expect(view.locator(".art-wandb")).to_have_count(0)
    assert page.console_errors == []


def test_a_wandb_run_linked_by_id_is_a_link(
    page: Page, server: ServerProcess, api: httpx.Client, tmp_path: Path
) -> None:
    run = launch_to_end(server, api, tmp_path, TENSORBOARD.format(linked=True))
    open_tab(page, server, str(run["id"]), "artifacts")
    view = page.locator("#artifacts-view")
    card = view.locator(".art-wandb")
    expect(card).to_have_count(1)
    expect(card.locator(".art-who")).to_have_text("team / rl / abc123")
    link = card.locator("a.art-wandb-link")
    expect(link).to_have_attribute("href", "https://wandb.ai/team/rl/runs/abc123")
    expect(link).to_have_attribute("rel", "noopener noreferrer")
    expect(card).to_contain_text("Linked W&B run (online)")
    expect(view.locator(".art-no-wandb")).to_have_count(0)
    expect(view.locator(".art-tensorboard .panel-sub")).to_have_text("1 event file")
    row = view.locator('.art-table tr[data-kind="wandb"] a.art-link')
    expect(row).to_have_attribute("href", "https://wandb.ai/team/rl/runs/abc123")
    assert page.console_errors == []
