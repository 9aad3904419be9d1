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

import httpx
import pytest
from playwright.sync_api import Page, expect

import runwatch
from tests.bus.conftest import redis_answers, redis_url
from tests.conftest import missing
from tests.e2e.charts import chart, inspect
from tests.pg import fresh_database
from tests.servers import ServerProcess, wait_until

pytestmark = pytest.mark.e2e
GUIDE = Path(__file__).resolve().parents[2] / "docs" / "deployment.md"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"  # sbin is not on every user's PATH


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
    if not Path(NGINX).exists():
        missing("nginx (Debian package nginx-light; `make test` installs it)")
    if not redis_answers():
        missing("Redis on 127.0.0.1:6379")
    with fresh_database() as pg_url:
        shared = ["--store", pg_url, "--bus", redis_url()]
        a = ServerProcess(tmp_path / "a", extra_args=shared).start()
        b = ServerProcess(tmp_path / "b", extra_args=shared).start()
        (tmp_path / "nginx").mkdir()
        proxy = Nginx(tmp_path / "nginx", [f"127.0.0.1:{a.port}", f"127.0.0.1:{b.port}"])
        try:
            yield proxy, a, b
        finally:
            proxy.stop()
            a.stop()
            b.stop()


def test_the_guides_nginx_passes_live_sockets_sse_and_ingest_and_survives_a_dead_replica(
    page: Page, proxied: tuple[Nginx, ServerProcess, ServerProcess], tmp_path: Path
) -> None:
    proxy, a, _ = proxied
    run = runwatch.init(project="proxy", url=proxy.url, run_dir=tmp_path / "run")
    for step in range(50):
        run.log({"loss": float(step)}, step=step)
    with httpx.Client(base_url=proxy.url, timeout=10) as api:
        wait_until(lambda: api.get(f"/api/v1/runs/{run.id}").json().get("seq", 0) > 1)
        page.goto(f"{proxy.url}/runs/{run.id}")
        expect(page.locator("#conn")).to_have_attribute("data-state", "live")
        loss = chart(page, "loss")
        expect(loss).to_have_attribute("data-points", "50")

        # SSE through the proxy: events arrive as they happen, not when a buffer fills.
        sse_seqs: list[int] = []
        head = api.get(f"/api/v1/runs/{run.id}").json()["seq"]

        def read_sse() -> None:
            with httpx.Client(base_url=proxy.url, timeout=30) as client:
                params = {"since": head}
                with client.stream("GET", f"/api/v1/runs/{run.id}/stream", params=params) as r:
                    for line in r.iter_lines():
                        if line.startswith("data: "):
                            sse_seqs.append(json.loads(line[6:])["seq"])
                            return

        reader = threading.Thread(target=read_sse)
        reader.start()
        run.log({"loss": 50.0}, step=50)
        reader.join(20)
        assert sse_seqs == [head + 1]
        expect(loss).to_have_attribute("data-points", "51")

        # Kill one replica behind the proxy while logging: the page reconnects, the SDK retries.
        a.kill()
        for step in range(51, 151):
            run.log({"loss": float(step)}, step=step)
            time.sleep(0.005)  # a training step's pace (load shaping, not synchronisation)
        run.finish(timeout=60)
        expect(loss).to_have_attribute("data-points", "151", timeout=60)
        traces = inspect(loss)["traces"]
        stored = api.get(
            f"/api/v1/runs/{run.id}/metrics", params={"keys": "loss", "max_points": 10_000}
        ).json()["series"]["loss"]
        status = api.get(f"/api/v1/runs/{run.id}").json()["status"]
    assert [t["x"] for t in traces] == [list(range(151))]
    assert stored["x"] == list(range(151))
    assert status == "succeeded"
    assert page.console_errors == []
