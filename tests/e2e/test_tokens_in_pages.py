"""The pages with a token: HTTP calls send it as a header, only sockets put it in the address
(the server refuses a query token on HTTP), and a read token is not offered a TensorBoard."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, Request, expect

from runwatch.tokens import create
from tests.e2e.launched import open_tab
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
