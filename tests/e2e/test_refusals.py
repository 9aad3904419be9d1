"""A refusal shown on the page says why: a read token that tries to act is told the scope it
lacks, not that it may not read the run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page

from runwatch.tokens import create
from tests.servers import ServerProcess

pytestmark = pytest.mark.e2e


@pytest.fixture
def guarded(tmp_path: Path) -> Iterator[tuple[ServerProcess, str, str]]:
    data = tmp_path / "data"
    read = create(data, "read", None, None, "viewer")[0]
    admin = create(data, "admin", None, None, "operator")[0]
    server = ServerProcess(data, token=admin).start()
    yield server, read, admin
    server.stop()


def test_a_read_token_that_tries_to_cancel_is_told_the_scope_it_lacks(
    page: Page, guarded: tuple[ServerProcess, str, str]
) -> None:
    server, read, _ = guarded
    with server.client() as c:
        run_id = c.post("/api/v1/runs", json={"project": "p"}).json()["id"]
    page.goto(f"{server.url}/")
    page.evaluate("t => sessionStorage.setItem('runwatch_token', t)", read)
    shown = page.evaluate(
        """async (run) => {
            const api = await import("/static/js/api.js");
            await api.getJSON(`/api/v1/runs/${run}`);  // it may read the run
            try {
                await api.postJSON(`/api/v1/runs/${run}/commands`, { kind: "cancel" });
                return "not refused";
            } catch (err) {
                return api.describeError(err);
            }
        }""",
        run_id,
    )
    assert shown.startswith("Forbidden:") and "'admin'" in shown and "read this" not in shown
