"""docs/deployment.md's nginx block, run as written (only its addresses changed), in front of two
replicas on PostgreSQL + Redis: the page, its WebSocket, SSE and ingest all pass through it, and a
replica killed behind it loses nothing."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.conftest import missing
from tests.e2e.charts import chart, inspect
from tests.scaleout.conftest import two_replicas
from tests.servers import ServerProcess, wait_until

pytestmark = pytest.mark.e2e
GUIDE = Path(__file__).resolve().parents[2] / "docs" / "deployment.md"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"  # sbin is not on every user's PATH
TOKEN = "rw_proxy_test_token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def guide_nginx_block() -> str:
    blocks = re.findall(r"```nginx\n(.*?)```", GUIDE.read_text(), flags=re.S)
    assert len(blocks) == 1, "docs/deployment.md has one nginx block, the tested one"
    return str(blocks[0])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Nginx:
    """nginx in the foreground with the guide's block as its whole http configuration."""

    def __init__(self, workdir: Path, upstreams: list[str]) -> None:
        self.port = free_port()
        block = guide_nginx_block()
        for placeholder, real in zip(["10.0.0.11:8765", "10.0.0.12:8765"], upstreams, strict=True):
            assert placeholder in block
            block = block.replace(placeholder, real)
        assert "listen 80;" in block
        block = block.replace("listen 80;", f"listen 127.0.0.1:{self.port};")
        temp = "".join(
            f"{kind}_temp_path {workdir}/{kind};\n"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        conf = workdir / "nginx.conf"
        conf.write_text(
            f"pid {workdir}/nginx.pid;\nerror_log {workdir}/error.log warn;\n"
            f"events {{}}\nhttp {{\naccess_log off;\n{temp}{block}\n}}\n"
        )
        self.proc = subprocess.Popen(
            [NGINX, "-c", str(conf), "-p", str(workdir), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.url = f"http://127.0.0.1:{self.port}"
        wait_until(self._up, 10, what="nginx to answer")

    def _up(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError("nginx exited (see its error.log in the test's tmp dir)")
        try:
            return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


@pytest.fixture
def proxied(tmp_path: Path) -> Iterator[tuple[Nginx, ServerProcess, ServerProcess]]:
    """The guide's nginx in front of two replicas with a token: an open server refuses what a
    proxy forwards (it would be public through it)."""
    if not Path(NGINX).exists():
        missing("nginx (Debian package nginx-light; `make test` installs it)")
    with two_replicas(tmp_path, TOKEN) as (a, b):
        (tmp_path / "nginx").mkdir()
        proxy = Nginx(tmp_path / "nginx", [f"127.0.0.1:{a.port}", f"127.0.0.1:{b.port}"])
        try:
            yield proxy, a, b
        finally:
            proxy.stop()


def post(api: httpx.Client, run_id: str, body: dict[str, Any]) -> None:
    """Post a batch through the proxy until it is acknowledged, as the SDK does (idempotent)."""

    def acked() -> bool:
        try:
            return api.post(f"/api/v1/runs/{run_id}/batches", json=body).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(acked, 30, what=f"batch {body['batch_seq']} to be acknowledged")


def points(batch_seq: int, steps: range) -> dict[str, Any]:
    rows = [[step, time.time(), {"loss": float(step)}] for step in steps]
    return {"producer": "p", "batch_seq": batch_seq, "points": rows}


def subscribers(server: ServerProcess) -> int:
    return int(httpx.get(f"{server.url}/healthz", timeout=5).json()["subscribers"])


def test_the_guides_nginx_passes_live_sockets_sse_and_ingest_and_survives_a_dead_replica(
    page: Page, proxied: tuple[Nginx, ServerProcess, ServerProcess]
) -> None:
    proxy, a, b = proxied
    sockets: list[str] = []
    page.on("websocket", lambda ws: sockets.append(ws.url))
    with httpx.Client(base_url=proxy.url, headers=AUTH, timeout=10) as api:
        run_id = api.post("/api/v1/runs", json={"project": "proxy"}).json()["id"]
        for i in range(5):
            post(api, run_id, points(i + 1, range(i * 10, i * 10 + 10)))
        before = {a.url: subscribers(a), b.url: subscribers(b)}
        page.add_init_script(f"sessionStorage.setItem('runwatch_token', '{TOKEN}')")
        page.goto(f"{proxy.url}/runs/{run_id}")
        expect(page.locator("#conn")).to_have_attribute("data-state", "live")
        loss = chart(page, "loss")
        expect(loss).to_have_attribute("data-points", "50")
        # Which replica the proxy gave the page's socket to: that one dies.
        holder = wait_until(
            lambda: next((s for s in (a, b) if subscribers(s) > before[s.url]), None),
            what="the page's socket to be counted by a replica",
        )
        survivor = b if holder is a else a
        holder.kill()
        for i in range(5, 15):  # the proxy moves on; the page reconnects with since=
            post(api, run_id, points(i + 1, range(i * 10, i * 10 + 10)))
        expect(loss).to_have_attribute("data-points", "150", timeout=30_000)

        # SSE through the proxy: an event arrives as it happens, not when a buffer fills.
        head = api.get(f"/api/v1/runs/{run_id}").json()["seq"]
        sse: list[int] = []

        def read_sse() -> None:
            with (
                httpx.Client(base_url=proxy.url, headers=AUTH, timeout=30) as client,
                client.stream("GET", f"/api/v1/runs/{run_id}/stream?since={head}") as r,
            ):
                for line in r.iter_lines():
                    if line.startswith("data: "):
                        sse.append(json.loads(line[6:])["seq"])
                        return

        reader = threading.Thread(target=read_sse)
        reader.start()
        wait_until(lambda: subscribers(survivor) > 1, what="the SSE stream to be subscribed")
        post(api, run_id, points(16, range(150, 151)))
        reader.join(20)
        post(
            api,
            run_id,
            {"producer": "p", "batch_seq": 17, "status": {"state": "succeeded", "ts": time.time()}},
        )
        expect(page.locator("#run-status")).to_have_attribute("data-status", "succeeded")
        traces = inspect(loss)["traces"]
        stored = api.get(
            f"/api/v1/runs/{run_id}/metrics", params={"keys": "loss", "max_points": 10_000}
        ).json()["series"]["loss"]
    assert holder.proc is not None and holder.proc.poll() is not None
    assert sse == [head + 1]
    assert len(sockets) >= 2  # the page's socket died with its replica and came back
    assert [t["x"] for t in traces] == [list(range(151))]
    assert stored["x"] == list(range(151))
    assert page.console_errors == []
