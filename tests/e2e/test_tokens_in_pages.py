"""The pages with a token: HTTP calls send it as a header, only sockets put it in the address
(the server refuses a query token on HTTP), and a read token is not offered a TensorBoard."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, Request, expect

from runwatch.tokens import create
from tests.e2e.launched import open_tab
from tests.queue.setup import serve_templates
from tests.servers import ServerProcess

pytestmark = pytest.mark.e2e


def test_pages_work_with_a_read_token_sent_as_a_header(page: Page, tmp_path: Path) -> None:
    data = tmp_path / "data"
    admin, _ = create(data, "admin", None, None, "operator")
    read, _ = create(data, "read", None, None, "viewer")
    server = ServerProcess(data).start()
    try:
        headers = {"Authorization": f"Bearer {admin}"}
        with httpx.Client(base_url=server.url, headers=headers) as c:
            run = c.post("/api/v1/runs", json={"project": "pages", "name": "tokened"}).json()
            tb = {
                "kind": "tensorboard",
                "path": "tb/events.out.tfevents.1",
                "size": 1,
                "mtime": 1.0,
            }
            batch = {"producer": "t", "batch_seq": 1, "manifests": [[tb]],
                     "points": [[0, 1.0, {"loss": 0.5}]]}  # fmt: skip
            assert c.post(f"/api/v1/runs/{run['id']}/batches", json=batch).status_code == 200

        # The token goes into the tab's storage from a file of the same origin that asks the
        # API nothing, so no page ever loads without it (no 401 in flight to race the check).
        page.goto(f"{server.url}/favicon.ico")
        page.evaluate("t => sessionStorage.setItem('runwatch_token', t)", read)
        requests: list[Request] = []
        sockets: list[str] = []
        page.on("request", lambda r: requests.append(r))
        page.on("websocket", lambda ws: sockets.append(ws.url))
        page.goto(server.url)
        expect(page.locator("#runs-body")).to_contain_text("tokened")

        open_tab(page, server, run["id"], "artifacts")
        expect(page.locator("#conn")).to_have_attribute("data-state", "live")
        # Offered disabled, with the scope it needs (whoami said 'read').
        expect(page.locator("#artifacts-view .tb-open")).to_be_disabled()
        expect(page.locator("#artifacts-view .tb-status")).to_have_text(
            "TensorBoard runs a process on the server: it needs the 'admin' scope;"
            " this token has 'read'."
        )

        calls = [r for r in requests if r.url.startswith(f"{server.url}/api/")]
        assert sockets and all(f"token={read}" in url for url in sockets)
        assert calls and all("token=" not in r.url for r in calls)
        assert all(r.headers.get("authorization") == f"Bearer {read}" for r in calls)
        assert page.console_errors == []
    finally:
        server.stop()


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, str, str]]:
    """A server with templates that needs a token: (server, its admin token, a run's id)."""
    server = serve_templates(tmp_path_factory.mktemp("guarded"))
    # `create` runs its own event loop: on another thread than Playwright's.
    with ThreadPoolExecutor(1) as pool:
        admin, _ = pool.submit(create, server.data_dir, "admin", None, None, "t").result()
    server.start()
    try:
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {admin}"}) as c:
            run = c.post("/api/v1/runs", json={"project": "pages", "name": "guarded-run"}).json()
            batch = {"producer": "t", "batch_seq": 1, "points": [[0, 1.0, {"loss": 0.5}]]}
            assert c.post(f"/api/v1/runs/{run['id']}/batches", json=batch).status_code == 200
        yield server, admin, run["id"]
    finally:
        server.stop()


# Each page, whether it keeps a socket open, and what it shows once it has the token.
PAGES = {
    "runs list": ("/?project=pages", True, "#runs-body", "guarded-run"),
    "compare": ("/compare?runs={run}", True, "#compare-runs", "guarded-run"),
    "sweep": ("/sweep?project=pages", True, "#sweep-count", "1 run"),
    "new run": ("/new?project=automl", False, "#template-select", "train"),
    "new sweep": ("/new-sweep", False, "#template-select", "train"),
}


@pytest.mark.parametrize("name", list(PAGES))
def test_every_page_asks_for_a_token_and_loads_with_it(
    page: Page, guarded: tuple[ServerProcess, str, str], name: str
) -> None:
    server, admin, run_id = guarded
    path, live, selector, shown = PAGES[name]
    page.goto(server.url + path.format(run=run_id))
    prompt = page.locator("#token-prompt")
    expect(prompt).to_be_visible()
    expect(page.locator("#token-error")).to_be_hidden()

    page.fill("#token-input", admin)
    with page.expect_navigation():
        page.click("#token-submit")
    expect(prompt).to_be_hidden()
    expect(page.locator(selector)).to_contain_text(shown)
    if live:
        expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    # Chromium logs the refused requests itself; nothing else may appear.
    assert all("401" in e for e in page.console_errors), page.console_errors
