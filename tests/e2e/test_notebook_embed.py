"""Notebook display in a real Chromium: ``run._repr_html_()`` and ``runwatch.show()`` rendered into
a page on another origin (as Jupyter serves it) or a local file, framing the live pages."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

import runwatch
from runwatch.server.pages import CSP, csp_for
from tests.servers import ServerProcess

pytestmark = pytest.mark.e2e


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return  # the notebook stand-in's access log is noise in test output


@pytest.fixture
def notebook_origin(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A plain static server on another loopback port: the origin a Jupyter page comes from."""
    root = tmp_path / "notebook"
    root.mkdir()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://localhost:{httpd.server_address[1]}", root
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(10)


def notebook_page(body: str) -> str:
    head = "<meta charset='utf-8'><link rel='icon' href='data:,'>"  # no favicon request
    return f"<!doctype html><html><head>{head}</head><body>{body}</body></html>"


@pytest.mark.parametrize("where", ["other-origin", "file"])
def test_a_run_displays_its_live_page_in_an_iframe_with_a_link_out(
    page: Page, server: ServerProcess, tmp_path: Path, notebook_origin: tuple[str, Path], where: str
) -> None:
    run = runwatch.init(project="nb", name="nb-run", url=server.url, run_dir=tmp_path / "run")
    try:
        html = run._repr_html_()
        origin, root = notebook_origin
        (root / "cell.html").write_text(notebook_page(html))
        page.goto(
            f"{origin}/cell.html" if where == "other-origin" else (root / "cell.html").as_uri()
        )
        link = page.locator(".runwatch-embed a")
        expect(link).to_have_attribute("href", f"{server.url}/runs/{run.id}")
        expect(link).to_have_attribute("target", "_blank")
        frame = page.frame_locator(".runwatch-embed iframe")
        expect(frame.locator("#run-name")).to_have_text("nb-run")
        expect(frame.locator("#conn")).to_have_attribute("data-state", "live")
        run.log({"loss": 0.5}, step=0)  # logged after the page opened: it arrives live
        expect(frame.locator('.chart[data-key="loss"]')).to_have_attribute("data-points", "1")
        run.finish()
        expect(frame.locator("#run-status")).to_have_text("succeeded")
        assert page.console_errors == []
    finally:
        run.finish()


def test_show_displays_the_runs_list_of_a_project(
    page: Page, server: ServerProcess, tmp_path: Path, notebook_origin: tuple[str, Path]
) -> None:
    ours = runwatch.init(project="nb", name="mine", url=server.url, run_dir=tmp_path / "a")
    other = runwatch.init(
        project="elsewhere", name="theirs", url=server.url, run_dir=tmp_path / "b"
    )
    try:
        shown = runwatch.show(url=server.url, project="nb")
        assert str(shown) == f"{server.url}/?project=nb"
        origin, root = notebook_origin
        (root / "list.html").write_text(notebook_page(shown._repr_html_()))
        page.goto(f"{origin}/list.html")
        frame = page.frame_locator(".runwatch-embed iframe")
        row = frame.locator(f'#runs-body tr[data-run-id="{ours.id}"]')
        expect(row.locator(".run-link")).to_have_text("mine")
        expect(frame.locator(f'#runs-body tr[data-run-id="{other.id}"]')).to_have_count(0)
        expect(page.locator(".runwatch-embed a")).to_have_text("Open runs of nb in a new tab ↗")
        assert page.console_errors == []
    finally:
        ours.finish()
        other.finish()


def test_only_a_loopback_server_may_be_framed_by_other_local_pages(server: ServerProcess) -> None:
    header = httpx.get(f"{server.url}/", timeout=10).headers["content-security-policy"]
    assert header == csp_for(True) and "http://127.0.0.1:*" in header
    assert csp_for(False) == CSP and CSP.endswith("frame-ancestors 'self'")


def test_the_display_escapes_what_it_embeds() -> None:
    from runwatch.notebook import embed_html

    html = embed_html('http://127.0.0.1:1/runs/x"><script>alert(1)</script>', "run <b>x</b>")
    assert "<script>" not in html and "<b>" not in html and "&quot;&gt;&lt;script&gt;" in html
