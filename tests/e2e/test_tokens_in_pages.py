"""The pages with a token: HTTP calls send it as a header, only sockets put it in the address
(the server refuses a query token on HTTP), and a read token is not offered a TensorBoard; every
page asks for a token it lacks, and so do the requests one module makes alone (a Media image,
a New-run upload, a TensorBoard stop)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, Request, expect

from runwatch.server.scheduler import run_dir_of
from runwatch.tokens import create
from tests.e2e.launched import open_tab
from tests.e2e.media import MediaProducer, png
from tests.e2e.test_artifacts_tab import TB_START_MS
from tests.queue.setup import serve_templates
from tests.server.test_template_checks import write
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


def with_token(page: Page, server: ServerProcess, token: str) -> None:
    """Put ``token`` in the tab's storage from a same-origin file that asks the API nothing."""
    page.goto(f"{server.url}/favicon.ico")
    page.evaluate("t => sessionStorage.setItem('runwatch_token', t)", token)


def refusals(page: Page) -> list[str]:
    """The page's requests the server answered 401, as "METHOD address", as they happen."""
    refused: list[str] = []
    page.on("response", lambda r: r.status == 401 and refused.append(f"{r.request.method} {r.url}"))
    return refused


def drop_token(page: Page) -> None:
    """Forget the tab's token, as if it had never been given: the page's next request has none
    (the open socket stays: it was let in when it connected)."""
    page.evaluate("sessionStorage.removeItem('runwatch_token')")


def give_token(page: Page, token: str) -> None:
    """Answer the prompt with ``token``; it reloads the page."""
    page.fill("#token-input", token)
    with page.expect_navigation():
        page.click("#token-submit")
    expect(page.locator("#token-prompt")).to_be_hidden()


def test_a_media_image_refused_asks_for_the_token_and_loads_with_it(
    page: Page, guarded: tuple[ServerProcess, str, str]
) -> None:
    server, admin, _ = guarded
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {admin}"}) as c:
        run_id = c.post("/api/v1/runs", json={"project": "pages", "name": "media"}).json()["id"]
        producer = MediaProducer(c, run_id)
        producer.image("samples/rec", 0, png(8, 4, lambda x, y: (200, x * 30, y * 60)), 8, 4)
        with_token(page, server, admin)
        refused = refusals(page)
        open_tab(page, server, run_id, "media")
        rec = page.locator('#media-view .media-panel[data-key="samples/rec"]')
        expect(rec).to_have_attribute("data-step", "0")

        # A live image is fetched by the Media tab alone: its 401 must ask for the token too.
        drop_token(page)
        producer.image("samples/rec", 1, png(6, 3, lambda x, y: (10, x * 40, y * 80)), 6, 3)
        expect(page.locator("#token-prompt")).to_be_visible()
    assert refused and all(r.startswith("GET ") and "/blobs/" in r for r in refused), refused
    expect(rec).to_have_attribute("data-step", "0")

    give_token(page, admin)
    expect(rec).to_have_attribute("data-step", "1")
    canvas = rec.locator("canvas.media-canvas")
    assert canvas.evaluate("c => [c.width, c.height]") == [6, 3]  # the new image, decoded
    rgba = canvas.evaluate("c => [...c.getContext('2d').getImageData(5, 2, 1, 1).data]")
    assert rgba == [10, 200, 160, 255]


def test_an_upload_refused_asks_for_the_token_and_is_stored_with_it(
    page: Page, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    admin, _ = create(data, "admin", None, None, "t")
    server = ServerProcess(data, extra_args=["--templates", str(write(tmp_path))]).start()
    try:
        local = tmp_path / "my data.csv"
        local.write_text("x,y\n3,4\n")
        with_token(page, server, admin)
        refused = refusals(page)
        page.goto(f"{server.url}/new")
        picker = page.locator("#upload-data")
        expect(picker).to_be_attached()

        drop_token(page)
        picker.set_input_files(str(local))
        expect(page.locator("#token-prompt")).to_be_visible()
        assert refused == [f"POST {server.url}/api/v1/uploads?name=my%20data.csv"]
        assert not (data / "uploads").exists()

        # The prompt reloads the page: the file is picked again, and this time stored.
        give_token(page, admin)
        picker.set_input_files(str(local))
        expect(page.locator(".upload-status")).to_have_text("Uploaded my_data.csv.")
        expect(page.locator("#param-data")).to_have_value("@uploads/my_data.csv")
        assert (data / "uploads" / "my_data.csv").read_text() == "x,y\n3,4\n"
        assert len(refused) == 1
    finally:
        server.stop()


def test_a_tensorboard_stop_refused_asks_for_the_token_and_stops_it_with_it(
    page: Page, guarded: tuple[ServerProcess, str, str]
) -> None:
    server, admin, _ = guarded
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {admin}"}) as c:
        run_id = c.post("/api/v1/runs", json={"project": "pages", "name": "tb"}).json()["id"]
        # The Artifacts tab offers TensorBoard for a run with its files; a directory the server
        # made is one it may serve (TensorBoard starts on an empty logdir).
        tb = {"kind": "tensorboard", "path": "tb/events.out.tfevents.1", "size": 1, "mtime": 1.0}
        batch = {"producer": "t", "batch_seq": 1, "manifests": [[tb]]}
        assert c.post(f"/api/v1/runs/{run_id}/batches", json=batch).status_code == 200
        run_dir_of(server.data_dir, run_id).mkdir(parents=True)
        state = f"/api/v1/runs/{run_id}/tensorboard"
        try:
            with_token(page, server, admin)
            refused = refusals(page)
            open_tab(page, server, run_id, "artifacts")
            stop = page.locator("#artifacts-view .tb-stop")
            page.locator("#artifacts-view .tb-open").click()
            expect(stop).to_be_visible(timeout=TB_START_MS)

            drop_token(page)
            stop.click()
            expect(page.locator("#token-prompt")).to_be_visible()
            assert refused == [f"DELETE {server.url}{state}"]
            assert c.get(state).json()["running"] is True  # refused: still running

            give_token(page, admin)
            page.locator("#artifacts-view .tb-open").click()
            expect(stop).to_be_visible(timeout=TB_START_MS)
            with page.expect_response(lambda r: r.request.method == "DELETE") as stopped:
                stop.click()
            assert stopped.value.status == 200 and stopped.value.url == f"{server.url}{state}"
            expect(page.locator("#artifacts-view .tb-status")).to_have_text("Stopped.")
            assert c.get(state).json()["running"] is False
            assert len(refused) == 1
        finally:
            c.delete(state)
