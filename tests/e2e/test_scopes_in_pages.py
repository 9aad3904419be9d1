"""The pages offer only what their token may do (GET /api/v1/whoami): a read token sees no
Cancel, Promote, Deprecate, New run or rule editing, and notes name the scope those need; an
admin token gets them, and they work; a token limited to a project launches only there."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from runwatch.tokens import create
from tests.e2e.helpers import Producer, create_run, event, handles, rows
from tests.e2e.launched import SETTLED
from tests.e2e.widgets import open_run
from tests.queue.setup import running, serve_templates
from tests.servers import ServerProcess

pytestmark = pytest.mark.e2e
PROJECT = "automl"  # the test templates' project


class Setup:
    def __init__(self, server: ServerProcess, tokens: dict[str, str], live: str, done: str):
        self.server, self.tokens, self.live, self.done = server, tokens, live, done


@pytest.fixture
def scoped(tmp_path: Path) -> Iterator[Setup]:
    """A server with run templates and read, admin and project-limited admin tokens; one run
    still running with an entity event, one succeeded."""
    data = tmp_path / "data"
    tokens = {
        "read": create(data, "read", None, None, "viewer")[0],
        "admin": create(data, "admin", None, None, "operator")[0],
        "automl": create(data, "admin", PROJECT, None, "automl operator")[0],
    }
    with running(serve_templates(tmp_path)) as server:
        headers = {"Authorization": f"Bearer {tokens['admin']}"}
        with httpx.Client(base_url=server.url, headers=headers, timeout=10) as c:
            live = create_run(c, PROJECT, "still-running")["id"]
            Producer(c, live).send(rows([0], loss=[1.0]), [event("birth", entity=47, size=3)])
            handles(c, live, "deprecate")
            done = create_run(c, PROJECT, "finished")["id"]
            Producer(c, done).finish()
        yield Setup(server, tokens, live, done)


def use_token(page: Page, server: ServerProcess, token: str) -> None:
    """Give this tab the token (sessionStorage, as the token prompt does), from a file of the
    same origin that asks the API nothing: no 401 is in flight when the test starts."""
    page.goto(f"{server.url}/favicon.ico")
    page.evaluate("t => sessionStorage.setItem('runwatch_token', t)", token)


def test_a_read_token_is_offered_no_action_and_told_the_scope_they_need(
    page: Page, scoped: Setup
) -> None:
    server = scoped.server
    use_token(page, server, scoped.tokens["read"])
    page.goto(f"{server.url}/?project={PROJECT}")
    expect(page.locator("#runs-body")).to_contain_text("still-running")
    expect(page.locator("#new-run-link")).to_be_hidden()
    expect(page.locator("#queue-again-note")).to_have_text(
        "Queuing a run again needs the 'admin' scope; this token has 'read'."
    )
    expect(page.locator("#queue-again")).to_be_visible()
    expect(page.locator("#queue-again")).to_be_disabled()

    open_run(page, server, scoped.live)
    note = "Cancelling or promoting a run needs the 'admin' scope; this token has 'read'."
    expect(page.locator("#controls-note")).to_have_text(note)
    expect(page.locator("#cancel-run")).to_be_hidden()
    row = page.locator('#event-feed .event[data-entity="47"]')
    expect(row).to_be_visible()
    expect(page.locator("#event-feed")).to_have_attribute("data-actions", "off")
    row.hover()
    expect(row.locator(".ev-action")).to_be_hidden()

    open_run(page, server, scoped.done, state=SETTLED)  # type: ignore[arg-type]
    expect(page.locator("#controls-note")).to_have_text(note)
    expect(page.locator("#promote-form")).to_be_hidden()
    expect(page.locator("#promote-toggle")).to_be_hidden()

    page.goto(f"{server.url}/new?project={PROJECT}")
    expect(page.locator("#scope-note")).to_have_text(
        "Queuing a run needs the 'admin' scope; this token has 'read'."
    )
    expect(page.locator("#new-run-form")).to_be_visible()
    for field in ("#template-select", "#run-project", "#param-lr", "#submit-run"):
        expect(page.locator(field)).to_be_disabled()

    page.goto(f"{server.url}/alerts?project={PROJECT}")
    expect(page.locator("#rules-note")).to_have_text(
        "Adding or deleting rules needs the 'admin' scope; this token has 'read'."
    )
    expect(page.locator("#rule-form")).to_be_hidden()
    assert page.console_errors == []  # type: ignore[attr-defined]


def test_an_admin_token_is_offered_every_action_and_they_work(page: Page, scoped: Setup) -> None:
    server = scoped.server
    use_token(page, server, scoped.tokens["admin"])
    page.goto(f"{server.url}/?project={PROJECT}")
    expect(page.locator("#new-run-link")).to_be_visible()
    expect(page.locator("#queue-again")).to_be_enabled()
    expect(page.locator("#queue-again-note")).to_be_hidden()

    open_run(page, server, scoped.live)
    expect(page.locator("#controls-note")).to_be_hidden()
    expect(page.locator("#event-feed")).to_have_attribute("data-actions", "on")
    row = page.locator('#event-feed .event[data-entity="47"]')
    row.hover()
    expect(row.locator(".ev-action")).to_be_visible()
    page.locator("#cancel-run").click()
    page.locator("#cancel-confirm").click()
    expect(page.locator("#cancel-state")).to_have_attribute("data-state", "pending")
    headers = {"Authorization": f"Bearer {scoped.tokens['admin']}"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=10) as c:
        sent = c.get(f"/api/v1/runs/{scoped.live}/commands").json()["commands"]
    assert [cmd["kind"] for cmd in sent] == ["cancel"]

    open_run(page, server, scoped.done, state=SETTLED)  # type: ignore[arg-type]
    page.fill("#promote-name", "by-admin")
    page.click("#promote-submit")
    expect(page.locator("#promote-submit")).to_have_text("✓ promoted")

    page.goto(f"{server.url}/new?project={PROJECT}")
    expect(page.locator("#template-select")).to_have_value("train")
    expect(page.locator("#scope-note")).to_be_hidden()
    page.locator("#param-data").select_option("mnist.csv")
    page.locator("#submit-run").click()
    expect(page).to_have_url(
        re.compile(re.escape(f"{server.url}/runs/") + r"[^/]+$"), timeout=20_000
    )
    assert page.url.rsplit("/", 1)[1] not in (scoped.live, scoped.done)
    assert page.console_errors == []  # type: ignore[attr-defined]


def test_a_project_limited_token_launches_only_in_its_project(page: Page, scoped: Setup) -> None:
    server = scoped.server
    use_token(page, server, scoped.tokens["automl"])
    page.goto(f"{server.url}/new?project=elsewhere")
    project = page.locator("#run-project")
    expect(project).to_have_value(PROJECT)
    expect(project).to_have_attribute("readonly", "")
    expect(page.locator("#submit-run")).to_be_enabled()
    page.goto(f"{server.url}/alerts?project=elsewhere")
    expect(page.locator("#rules-note")).to_have_text(
        f"Adding or deleting rules: this token is limited to project '{PROJECT}'."
    )
