"""Auth from the outside: every route, for no token, a bad one, and each scope."""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

import runwatch
from runwatch.tokens import create
from tests.proxy import RecordingProxy
from tests.queue.setup import kill_launchers
from tests.servers import ServerProcess, wait_until

_seq = itertools.count(1)


class Setup:
    def __init__(
        self, server: ServerProcess, tokens: dict[str, str], running: str, done: str
    ) -> None:
        self.server, self.tokens, self.running, self.done = server, tokens, running, done


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    data = tmp_path_factory.mktemp("auth") / "data"
    tokens = {
        scope: create(data, scope, None, None, scope)[0] for scope in ("read", "write", "admin")
    }
    tokens["other"] = create(data, "read", "elsewhere", None, "other project")[0]
    # The default templates file (DATA/runwatch.toml): a worker that exits at once.
    (data / "runwatch.toml").write_text(
        f"[templates.noop]\ncommand = [{json.dumps(sys.executable)}, '-c', 'pass']\n"
    )
    server = ServerProcess(data).start()
    admin = {"Authorization": f"Bearer {tokens['admin']}"}
    with httpx.Client(base_url=server.url, headers=admin) as c:
        running = c.post("/api/v1/runs", json={"project": "p"}).json()["id"]
        done = c.post("/api/v1/runs", json={"project": "p"}).json()["id"]
        body = {
            "producer": "t",
            "batch_seq": 1,
            "points": [[0, 1.0, {"x": 1.0}]],
            "status": {"state": "succeeded", "ts": 2.0},
        }
        assert c.post(f"/api/v1/runs/{done}/batches", json=body).status_code == 200
    yield Setup(server, tokens, running, done)
    server.stop()
    kill_launchers(data)


def routes(s: Setup) -> list[tuple[str, str, object, str]]:
    """(method, path, JSON body, the scope it needs)."""
    r, d = s.running, s.done
    return [
        ("GET", "/api/v1/projects", None, "read"),
        ("GET", "/api/v1/runs", None, "read"),
        ("GET", f"/api/v1/runs/{r}", None, "read"),
        ("GET", f"/api/v1/runs/{r}/metrics", None, "read"),
        ("GET", f"/api/v1/runs/{r}/sparklines", None, "read"),
        ("GET", f"/api/v1/runs/{r}/events", None, "read"),
        ("GET", f"/api/v1/runs/{r}/state", None, "read"),
        ("GET", f"/api/v1/runs/{r}/commands", None, "read"),
        ("GET", f"/api/v1/runs/{d}/stream", None, "read"),
        ("GET", "/api/v1/promoted", None, "read"),
        ("GET", "/api/v1/projects/p/retention", None, "read"),
        ("POST", "/api/v1/runs", {"project": "p"}, "write"),
        (
            "POST",
            f"/api/v1/runs/{r}/batches",
            lambda: {"producer": "m", "batch_seq": next(_seq)},
            "write",
        ),
        ("POST", f"/api/v1/runs/{r}/heartbeat", None, "write"),
        ("GET", f"/api/v1/runs/{r}/commands/next?wait=0", None, "write"),
        ("POST", f"/api/v1/runs/{r}/commands", {"kind": "note"}, "admin"),
        ("POST", f"/api/v1/runs/{d}/promote", {"name": "x"}, "admin"),
        ("PUT", "/api/v1/projects/p/retention", {"raw_keep_steps": None}, "admin"),
        ("GET", "/api/v1/templates", None, "read"),
        ("POST", "/api/v1/templates/noop/runs", {"project": "p"}, "admin"),
    ]


def call(s: Setup, method: str, path: str, body: object, token: str | None) -> int:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    payload = body() if callable(body) else body
    r = httpx.request(method, s.server.url + path, json=payload, headers=headers, timeout=10)
    return r.status_code


@pytest.mark.parametrize("who", ["none", "bad", "read", "write", "admin"])
def test_every_route_answers_each_caller_as_its_scope_allows(guarded: Setup, who: str) -> None:
    token = {"none": None, "bad": "rw_not-a-token"}.get(who, guarded.tokens.get(who))
    for method, path, body, scope in routes(guarded):
        status = call(guarded, method, path, body, token)
        if who in ("none", "bad"):
            expected = {401}
        elif who == "admin" or who == scope:
            expected = {200, 201}
        else:
            expected = {403}
        assert status in expected, f"{who} {method} {path}: {status}"


def test_sockets_close_4401_without_a_token_and_4403_without_read(guarded: Setup) -> None:
    base = guarded.server.url.replace("http://", "ws://")
    cases = [
        (None, 4401),
        ("rw_bad", 4401),
        (guarded.tokens["write"], 4403),
        (guarded.tokens["other"], 4403),
    ]
    for path in ("/api/v1/live?project=p", f"/api/v1/runs/{guarded.running}/live"):
        for token, code in cases:
            url = base + path + (("&" if "?" in path else "?") + f"token={token}" if token else "")
            with connect(url) as ws:
                with contextlib.suppress(Exception):
                    ws.recv(timeout=10)
                assert ws.close_code == code, (path, token, ws.close_code)
        with connect(
            base + path + ("&" if "?" in path else "?") + f"token={guarded.tokens['read']}"
        ) as ws:
            assert ws.recv(timeout=10)


def test_a_project_token_sees_only_its_project(guarded: Setup) -> None:
    other = guarded.tokens["other"]
    assert call(guarded, "GET", f"/api/v1/runs/{guarded.running}", None, other) == 403
    headers = {"Authorization": f"Bearer {other}"}
    listed = httpx.get(f"{guarded.server.url}/api/v1/runs", headers=headers).json()["runs"]
    assert listed == []
    projects = httpx.get(f"{guarded.server.url}/api/v1/projects", headers=headers).json()[
        "projects"
    ]
    assert projects == []


def test_tokens_are_stored_hashed(guarded: Setup) -> None:
    raw = (guarded.server.data_dir / "runwatch.sqlite3").read_bytes()
    for token in guarded.tokens.values():
        assert token.encode() not in raw
    conn = sqlite3.connect(guarded.server.data_dir / "runwatch.sqlite3")
    stored = {h for (h,) in conn.execute("SELECT hash FROM tokens")}
    conn.close()
    # The fixture's tokens, and those the server made for the runs it launched (hashed alike).
    made = [guarded.tokens[name] for name in ("read", "write", "admin", "other")]
    assert {hashlib.sha256(t.encode()).hexdigest() for t in made} <= stored
    assert all(re.fullmatch("[0-9a-f]{64}", h) for h in stored)


def test_revoked_and_expired_tokens_stop_working(tmp_path: Path) -> None:
    data = tmp_path / "data"
    keep, _ = create(data, "read", None, None, "keep")
    gone, info = create(data, "read", None, None, "gone")
    brief, _ = create(data, "read", None, "1s", "brief")
    server = ServerProcess(data).start()
    try:
        url = f"{server.url}/api/v1/runs"

        def status(token: str) -> int:
            return httpx.get(url, headers={"Authorization": f"Bearer {token}"}).status_code

        assert status(gone) == 200
        done = subprocess.run(
            [sys.executable, "-m", "runwatch", "token", "revoke", str(info.id), "--data", str(data)],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        wait_until(lambda: status(gone) == 401, 15, what="the revocation to take effect")
        wait_until(lambda: status(brief) == 401, 15, what="the token to expire")
        assert status(keep) == 200
    finally:
        server.stop()


def test_token_cli_creates_lists_and_never_shows_the_secret_again(tmp_path: Path) -> None:
    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "runwatch", "token", *args, "--data", str(tmp_path)],
                              capture_output=True, text=True, timeout=60)  # fmt: skip

    made = cli("create", "--scope", "write", "--project", "mnist", "--expires", "30d")
    assert made.returncode == 0, made.stderr
    token = made.stdout.split()[0]
    assert token.startswith("rw_") and "scope write, project mnist" in made.stdout
    listed = cli("list")
    assert "mnist" in listed.stdout and token not in listed.stdout and token[:10] in listed.stdout
    bad = cli("create", "--scope", "superuser")
    assert bad.returncode == 1 and "unknown scope" in bad.stderr


def test_a_public_bind_without_tokens_is_refused_with_how_to_fix(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "runwatch", "serve", "--host", "0.0.0.0", "--port", "0",
         "--data", str(tmp_path)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1 and "runwatch token create" in done.stderr


def test_bootstrap_token_and_sdk(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", token="s3cret").start()
    try:
        assert httpx.get(f"{server.url}/api/v1/runs").status_code == 401
        with runwatch.init(project="auth", url=server.url, token="s3cret", run_dir=tmp_path) as run:
            run.log({"x": 1.0})
        with server.client() as c:
            assert c.get(f"/api/v1/runs/{run.id}").json()["status"] == "succeeded"
    finally:
        server.stop()


def test_cross_site_and_rebinding_requests_are_refused(server: ServerProcess) -> None:
    url = f"{server.url}/api/v1/runs"
    evil = httpx.post(url, json={"project": "p"}, headers={"Origin": "https://evil.example"})
    assert evil.status_code == 403 and evil.json()["error"]["code"] == "cross_site"
    same = httpx.post(url, json={"project": "p"}, headers={"Origin": server.url})
    assert same.status_code == 201
    form = httpx.post(url, content=b'{"project":"p"}', headers={"Content-Type": "text/plain"})
    assert form.status_code == 415
    rebound = httpx.get(url, headers={"Host": "attacker.example:8765"})
    assert rebound.status_code == 403 and rebound.json()["error"]["code"] == "bad_host"
    ws = connect(
        server.url.replace("http://", "ws://") + "/api/v1/live", origin="https://evil.example"
    )  # type: ignore[arg-type]
    with ws, pytest.raises(ConnectionClosed):
        ws.recv(timeout=10)
    assert ws.close_code == 4403


def test_ingest_rate_limit_answers_429_and_the_sdk_waits(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", extra_args=["--ingest-rate", "2"]).start()
    try:
        with server.client() as c:
            run_id = c.post("/api/v1/runs", json={"project": "p"}).json()["id"]
            statuses = [
                c.post(f"/api/v1/runs/{run_id}/batches", json={"producer": "x", "batch_seq": i})
                for i in range(6)
            ]
        limited = [r for r in statuses if r.status_code == 429]
        assert limited and int(limited[0].headers["Retry-After"]) >= 1
        assert "rate limit" in limited[0].json()["error"]["message"]
        # The SDK's requests go through a proxy that notes when each came and how it was answered.
        with (
            RecordingProxy(server.url) as proxy,
            runwatch.init(project="p", url=proxy.url, run_dir=tmp_path / "run") as run,
        ):
            for i in range(5):
                run.log({"x": float(i)}, step=i)
                run._sender.wake()
                wait_until(lambda: not run._queue, 10)
        with server.client() as c:
            values = c.get(f"/api/v1/runs/{run.id}/metrics").json()["series"]["x"]["value"]
        assert values == [0.0, 1.0, 2.0, 3.0, 4.0]
    finally:
        server.stop()
    batches = [e for e in proxy.exchanges if e.path == f"/api/v1/runs/{run.id}/batches"]
    refused = [i for i, e in enumerate(batches) if e.status == 429]
    assert refused, "the SDK's batches (more than 2/s) never met the limit"
    for i in refused:
        retry_after = batches[i].retry_after
        waited = batches[i + 1].at - batches[i].at  # a refused batch is always sent again
        assert retry_after is not None and waited >= float(retry_after), (i, waited, batches)


def test_limits_are_422_naming_the_limit(server: ServerProcess) -> None:
    with server.client() as c:
        run_id = c.post("/api/v1/runs", json={"project": "p"}).json()["id"]
        big_payload = {
            "producer": "t",
            "batch_seq": 1,
            "events": [{"kind": "k", "ts": 1.0, "payload": {"s": "x" * 70_000}}],
        }
        r = c.post(f"/api/v1/runs/{run_id}/batches", json=big_payload)
        assert r.status_code == 422 and "max_event_payload_bytes" in r.json()["error"]["message"]
        long_key = {"producer": "t", "batch_seq": 2, "points": [[0, 1.0, {"k" * 300: 1.0}]]}
        r = c.post(f"/api/v1/runs/{run_id}/batches", json=long_key)
        assert r.status_code == 422 and "max_key_length=256" in r.json()["error"]["message"]


def test_every_api_route_declares_the_scope_it_needs() -> None:
    from fastapi.routing import APIRoute

    from runwatch.server import create_app

    app = create_app()
    unguarded = [
        route.path
        for route in app.routes
        if isinstance(route, APIRoute)
        and route.path.startswith("/api/")
        and not any(d.call.__qualname__.startswith("need.") for d in route.dependant.dependencies)
    ]
    assert unguarded == []
