"""The managed TensorBoard embedded in the run page through the server's proxy, with tokens on:
a reader sees it in the page, every proxied request is authorised like the run's other reads
(a bearer token, or the page's ticket cookie for that run only), bodies are capped, and a
revoked token's ticket stops working."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from runwatch.server.tensorboard_proxy import MAX_PROXY_BODY
from runwatch.server.tensorboard_tickets import COOKIE
from runwatch.tokens import create
from tests.e2e.launched import open_tab
from tests.e2e.test_artifacts_tab import TB_START_MS, only_font_misses, watch_failures
from tests.servers import ServerProcess, wait_until

pytestmark = pytest.mark.e2e

WORKER = """
    import os
    from torch.utils.tensorboard import SummaryWriter
    writer = SummaryWriter(os.path.join(os.environ["RUNWATCH_RUN_DIR"], "tensorboard"))
    for step in range(50):
        writer.add_scalar("eval/accuracy", step / 50, step)
    writer.close()
"""


def launch(server: ServerProcess, token: str, tmp_path: Path) -> None:
    """``runwatch launch`` a worker that writes scalars with torch's SummaryWriter, to its end."""
    script = tmp_path / "worker.py"
    script.write_text(textwrap.dedent(WORKER))
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNWATCH_")}
    env.update(RUNWATCH_URL=server.url, RUNWATCH_TOKEN=token)
    args = [sys.executable, "-m", "runwatch", "launch", "--project", "tb",
            "--run-dir", str(tmp_path / "run"), "--", sys.executable, str(script)]  # fmt: skip
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr


def test_embedded_tensorboard_is_authorised_like_the_runs_reads(page: Page, tmp_path: Path) -> None:
    data = tmp_path / "data"
    admin, _ = create(data, "admin", None, None, "operator")
    read, read_info = create(data, "read", None, None, "viewer")
    server = ServerProcess(data).start()
    try:
        launch(server, admin, tmp_path)
        as_admin = {"Authorization": f"Bearer {admin}"}
        as_reader = {"Authorization": f"Bearer {read}"}
        with httpx.Client(base_url=server.url, timeout=90) as c:
            run_id = c.get("/api/v1/runs", headers=as_admin).json()["runs"][0]["id"]
            other = c.post("/api/v1/runs", json={"project": "tb"}, headers=as_admin).json()["id"]
            proxy = f"/api/v1/runs/{run_id}/tensorboard/proxy/"
            # A reader may not start one, and there is nothing to proxy yet.
            assert (
                c.post(f"/api/v1/runs/{run_id}/tensorboard", headers=as_reader).status_code == 403
            )
            assert (
                c.get(proxy, headers=as_reader).json()["error"]["code"] == "tensorboard_not_running"
            )
            started = c.post(f"/api/v1/runs/{run_id}/tensorboard", headers=as_admin)
            assert started.status_code == 200, started.text
            assert started.json()["proxy"] == proxy

            # Without a valid token: refused, like every read.
            assert c.get(proxy).status_code == 401
            assert c.get(proxy, headers={"Authorization": "Bearer rw_nonsense"}).status_code == 401
            assert c.get(proxy, headers={"Cookie": f"{COOKIE}={'forged'}"}).status_code == 401
            # A read token is enough; TensorBoard's page comes framed by our pages only.
            home = c.get(proxy, headers=as_reader)
            assert home.status_code == 200 and "text/html" in home.headers["content-type"]
            ancestors = "frame-ancestors 'self' http://localhost:* http://127.0.0.1:* file:"
            assert home.headers["content-security-policy"].endswith(ancestors)
            tags = c.get(f"{proxy}data/plugin/scalars/tags", headers=as_reader).json()
            assert "eval/accuracy" in tags["tensorboard"]
            # A body past the cap is a 413 naming it, before TensorBoard sees it.
            big = c.post(f"{proxy}data/plugin/scalars/scalars_multirun", headers=as_reader,
                         content=b"x" * (MAX_PROXY_BODY + 1),
                         )  # fmt: skip
            assert (
                big.status_code == 413
                and f"{MAX_PROXY_BODY}-byte" in big.json()["error"]["message"]
            )

            # The page's ticket: a cookie for this run's proxy path only, HttpOnly, Strict.
            session = c.post(f"/api/v1/runs/{run_id}/tensorboard/session", headers=as_reader)
            assert session.status_code == 200
            cookie = session.headers["set-cookie"]
            assert (
                f"Path={proxy}" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
            )
            ticket = session.cookies[COOKIE]
            assert (
                c.get(f"{proxy}data/runs", headers={"Cookie": f"{COOKIE}={ticket}"}).status_code
                == 200
            )
            other_proxy = f"/api/v1/runs/{other}/tensorboard/proxy/"
            assert c.get(other_proxy, headers={"Cookie": f"{COOKIE}={ticket}"}).status_code == 401
            assert (
                c.post(f"/api/v1/runs/{other}/tensorboard/session", headers=as_reader).status_code
                == 404
            )

        # A reader's page shows the TensorBoard an admin started, inside the page.
        failures = watch_failures(page)
        page.goto(f"{server.url}/favicon.ico")  # same origin, no API call: no 401 in flight
        page.evaluate("t => sessionStorage.setItem('runwatch_token', t)", read)
        failures.clear()
        open_tab(page, server, run_id, "artifacts")
        expect(page.locator("#artifacts-view .tb-open")).to_be_hidden()
        expect(page.locator("#artifacts-view .tb-stop")).to_be_hidden()  # only an admin stops it
        tensorboard = page.frame_locator("#artifacts-view iframe.tb-frame")
        expect(tensorboard.get_by_text("eval/accuracy").first).to_be_visible(timeout=TB_START_MS)
        only_font_misses(page, failures)

        # Revoked: its ticket stops opening the proxy (the authenticator's watch sweep).
        revoke = [sys.executable, "-m", "runwatch", "token", "revoke", str(read_info.id),
                  "--data", str(data)]  # fmt: skip
        subprocess.run(revoke, check=True, capture_output=True, timeout=60)
        with httpx.Client(base_url=server.url, timeout=30) as c:
            wait_until(
                lambda: (
                    c.get(f"{proxy}data/runs", headers={"Cookie": f"{COOKIE}={ticket}"}).status_code
                    == 401
                ),
                30,
                what="the revoked token's ticket to be refused",
            )
    finally:
        server.stop()
