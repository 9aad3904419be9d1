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
from fastapi.routing import APIWebSocketRoute
from starlette.routing import BaseRoute
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

import runwatch
from runwatch.tokens import create
from tests.proxy import RecordingProxy
from tests.queue.setup import kill_launchers
from tests.servers import ServerProcess, wait_until

_seq = itertools.count(1)


README = Path(__file__).resolve().parents[2] / "README.md"
PROJECT = "guarded-project"  # distinctive: a filtered answer must not mention it
# A row of the README's scope table: `METHOD /path` | scope | a token of another project.
_ROW = re.compile(
    r"^\| `(GET|POST|PUT|PATCH|DELETE|WS) (/\S*)` \| (none|any|read|write|admin) \| ([^|]+) \|$"
)
# Who calls, and the scope each token has (other: admin limited to another project; mine: read
# limited to the project every route here touches).
CALLERS = {"none": None, "bad": None, "read": "read", "write": "write", "admin": "admin",
           "other": "admin", "mine": "read"}  # fmt: skip


class Setup:
    def __init__(
        self,
        server: ServerProcess,
        tokens: dict[str, str],
        running: str,
        done: str,
        rule: int,
        sweep: str,
    ) -> None:
        self.server, self.tokens, self.running, self.done = server, tokens, running, done
        self.rule, self.sweep = rule, sweep


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    data = tmp_path_factory.mktemp("auth") / "data"
    tokens = {
        scope: create(data, scope, None, None, scope)[0] for scope in ("read", "write", "admin")
    }
    tokens["other"] = create(data, "admin", "elsewhere", None, "other project")[0]
    tokens["mine"] = create(data, "read", PROJECT, None, "this project")[0]
    tokens["bad"] = "rw_not-a-token"
    # The default templates file (DATA/runwatch.toml): a worker that exits at once.
    (data / "runwatch.toml").write_text(
        f"[templates.noop]\ncommand = [{json.dumps(sys.executable)}, '-c', 'pass']\n"
    )
    server = ServerProcess(data).start()
    admin = {"Authorization": f"Bearer {tokens['admin']}"}
    with httpx.Client(base_url=server.url, headers=admin) as c:
        # Never crashed by silence while the module runs: DELETE of it is refused (409), not
        # done, for every caller the table allows.
        spec = {"project": PROJECT, "heartbeat": 86_400}
        running = c.post("/api/v1/runs", json=spec).json()["id"]
        done = c.post("/api/v1/runs", json={"project": PROJECT}).json()["id"]
        body = {
            "producer": "t",
            "batch_seq": 1,
            "points": [[0, 1.0, {"x": 1.0}]],
            "status": {"state": "succeeded", "ts": 2.0},
        }
        assert c.post(f"/api/v1/runs/{done}/batches", json=body).status_code == 200
        rule = c.post(f"/api/v1/projects/{PROJECT}/rules", json=RULE).json()["id"]
        sweep = c.post("/api/v1/sweeps", json=SWEEP).json()["id"]
    yield Setup(server, tokens, running, done, rule, sweep)
    server.stop()
    kill_launchers(data)


RULE = {"name": "r", "condition": {"type": "nonfinite", "key": "x"}}
SWEEP = {"method": "random", "project": PROJECT, "parameters": {"x": {"min": 0.0, "max": 1.0}}}
BODIES: dict[tuple[str, str], object] = {
    ("PUT", "/api/v1/projects/{project}/retention"): {"raw_keep_steps": None},
    ("POST", "/api/v1/runs"): {"project": PROJECT},
    ("PATCH", "/api/v1/runs/{run_id}"): {"tags": ["t"]},
    ("POST", "/api/v1/runs/{run_id}/batches"): lambda: {"producer": "m", "batch_seq": next(_seq)},
    ("PUT", "/api/v1/runs/{run_id}/times"): {"created_at": 1.0},
    ("POST", "/api/v1/runs/{run_id}/commands"): {"kind": "note"},
    ("POST", "/api/v1/runs/{run_id}/promote"): {"name": "x"},
    ("POST", "/api/v1/templates/{name}/runs"): {"project": PROJECT},
    ("POST", "/api/v1/projects/{project}/rules"): RULE,
    ("POST", "/api/v1/sweeps"): SWEEP,
    ("POST", "/api/v1/sweeps/{sweep_id}/next"): {"agent": "a"},
}
QUERIES = {"/api/v1/runs/{run_id}/commands/next": {"wait": 0}}


def queries(s: Setup, path: str) -> dict[str, object] | None:
    """The query parameters a route needs (the finished run's curve of ``x``: another
    project's token gets none)."""
    if path == "/api/v1/run-curves":
        return {"key": "x", "ids": s.done}
    return QUERIES.get(path)


def scope_table() -> dict[tuple[str, str], tuple[str, str]]:
    """The README's ``## Scopes`` table: (method, path) -> (scope, what another project's
    token gets)."""
    section = README.read_text().split("\n## Scopes\n", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        match = _ROW.match(line.strip())
        if match:
            rows[(match[1], match[2])] = (match[3], match[4].strip())
    return rows


def concrete(s: Setup, path: str) -> str:
    """A path template filled with things that exist (the finished run for routes that need
    one: its stream ends, and it may be promoted)."""
    finished = path.endswith(("/stream", "/promote"))
    values = {
        "project": PROJECT,
        "run_id": s.done if finished else s.running,
        "entity": "e",
        "key": "x",
        "rule_id": str(s.rule),
        "sweep_id": s.sweep,
        "path": "data/logdir",
        "sha256": "0" * 64,
        "name": "noop" if path.startswith("/api/v1/templates/") else "t",
    }
    return re.sub(r"\{(\w+)\}", lambda m: values[m[1]], path)


def expected(who: str, scope: str, other: str) -> str:
    """``allowed``, ``401`` or ``403`` for a caller of a route needing ``scope``."""
    if scope == "none":
        return "allowed"
    has = CALLERS[who]
    if has is None:
        return "401"
    if has != "admin" and scope not in (has, "any"):
        return "403"
    if who == "other" and other in ("403", "4403"):
        return "403"
    return "allowed"


def socket_paths(routes: list[BaseRoute]) -> set[str]:
    """Every WebSocket route's path (FastAPI keeps an included router whole, in a wrapper)."""
    found: set[str] = set()
    for route in routes:
        if isinstance(route, APIWebSocketRoute):
            found.add(route.path)
        included = getattr(route, "original_router", None)
        if included is not None:
            found |= socket_paths(included.routes)
    return found


def test_the_scope_table_lists_every_route_and_socket() -> None:
    from runwatch.server import create_app

    app = create_app()
    documented = {
        (method.upper(), path) for path, ops in app.openapi()["paths"].items() for method in ops
    }
    sockets = {("WS", path) for path in socket_paths(app.routes)}
    assert len(sockets) >= 3 and len(documented) > 30
    assert set(scope_table()) == documented | sockets


@pytest.mark.parametrize("who", list(CALLERS))
def test_every_route_answers_each_caller_as_the_scope_table_says(guarded: Setup, who: str) -> None:
    table = scope_table()
    schema = httpx.get(f"{guarded.server.url}/openapi.json").json()
    token = guarded.tokens.get(who)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    checked = 0
    for path, ops in schema["paths"].items():
        for method in ops:
            scope, other = table[(method.upper(), path)]
            body = BODIES.get((method.upper(), path))
            payload = body() if callable(body) else body
            r = httpx.request(
                method, guarded.server.url + concrete(guarded, path), json=payload,
                params=queries(guarded, path), headers=headers, timeout=30,
            )  # fmt: skip
            want = expected(who, scope, other)
            where = f"{who} {method.upper()} {path}: {r.status_code} {r.text[:200]}"
            if want == "allowed":
                assert r.status_code not in (401, 403) and r.status_code < 500, where
                if who == "other":
                    assert PROJECT not in r.text, where  # only its own project
            else:
                assert r.status_code == int(want), where
            checked += 1
    assert checked == sum(1 for method, _ in table if method != "WS")


@pytest.mark.parametrize("who", list(CALLERS))
def test_every_socket_answers_each_caller_as_the_scope_table_says(guarded: Setup, who: str) -> None:
    base = guarded.server.url.replace("http://", "ws://")
    token = guarded.tokens.get(who)
    for (method, path), (scope, other) in scope_table().items():
        if method != "WS":
            continue
        url = base + concrete(guarded, path) + (f"?token={token}" if token else "")
        want = expected(who, scope, other)
        with connect(url) as ws:
            if want == "allowed":
                first = ws.recv(timeout=10)
                assert isinstance(first, str) and first, (who, path)
                if who == "other":
                    assert PROJECT not in first, (who, path)
            else:
                with contextlib.suppress(Exception):
                    ws.recv(timeout=10)
                assert ws.close_code == 4400 + int(want) - 400, (who, path, ws.close_code)


def test_pages_need_no_token_and_hold_no_data(guarded: Setup) -> None:
    for page in ("/", f"/runs/{guarded.running}", "/compare", "/alerts"):
        r = httpx.get(guarded.server.url + page)
        assert r.status_code == 200 and PROJECT not in r.text, page


def test_a_query_token_is_refused_on_http_and_accepted_on_sockets(guarded: Setup) -> None:
    read = guarded.tokens["read"]
    url = f"{guarded.server.url}/api/v1/runs"
    assert httpx.get(url, params={"token": read}).status_code == 401
    assert httpx.get(url, headers={"Authorization": f"Bearer {read}"}).status_code == 200
    stream = f"{guarded.server.url}/api/v1/runs/{guarded.done}/stream"
    assert httpx.get(stream, params={"token": read}).status_code == 401
    with connect(
        f"{guarded.server.url.replace('http://', 'ws://')}/api/v1/live?token={read}"
    ) as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "runs"


def test_a_project_token_sees_only_its_project(guarded: Setup) -> None:
    headers = {"Authorization": f"Bearer {guarded.tokens['other']}"}
    run = httpx.get(f"{guarded.server.url}/api/v1/runs/{guarded.running}", headers=headers)
    assert run.status_code == 403
    listed = httpx.get(f"{guarded.server.url}/api/v1/runs", headers=headers).json()["runs"]
    assert listed == []
    projects = httpx.get(f"{guarded.server.url}/api/v1/projects", headers=headers).json()[
        "projects"
    ]
    assert projects == []


@pytest.mark.parametrize(
    ("who", "answer"),
    [
        ("read", {"scope": "read", "project": None, "auth": "tokens"}),
        ("write", {"scope": "write", "project": None, "auth": "tokens"}),
        ("admin", {"scope": "admin", "project": None, "auth": "tokens"}),
        ("mine", {"scope": "read", "project": PROJECT, "auth": "tokens"}),
        ("other", {"scope": "admin", "project": "elsewhere", "auth": "tokens"}),
    ],
)
def test_whoami_says_what_the_token_may_do(
    guarded: Setup, who: str, answer: dict[str, object]
) -> None:
    headers = {"Authorization": f"Bearer {guarded.tokens[who]}"}
    r = httpx.get(f"{guarded.server.url}/api/v1/whoami", headers=headers)
    assert r.status_code == 200 and r.json() == answer


def token_cli(data: Path, *args: str) -> str:
    """Run ``runwatch token ARGS --data DATA`` as an operator would; its standard output."""
    done = subprocess.run(
        [sys.executable, "-m", "runwatch", "token", *args, "--data", str(data)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_whoami_answers_any_valid_token_and_a_write_token_still_reads_nothing(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    write = token_cli(data, "create", "--scope", "write", "--project", "mnist").split()[0]
    gone, _, number = token_cli(data, "create", "--scope", "write").split()[:3]  # TOKEN token N:
    server = ServerProcess(data).start()
    try:
        url = f"{server.url}/api/v1"
        producer = {"Authorization": f"Bearer {write}"}
        r = httpx.get(f"{url}/whoami", headers=producer)
        assert r.status_code == 200, r.text
        assert r.json() == {"scope": "write", "project": "mnist", "auth": "tokens"}
        # What it may do is what it did before: produce, and read nothing.
        run_id = httpx.post(f"{url}/runs", json={"project": "mnist"}, headers=producer).json()["id"]
        for path in ("/projects", "/runs", f"/runs/{run_id}", f"/runs/{run_id}/state"):
            refused = httpx.get(url + path, headers=producer)
            assert refused.status_code == 403, (path, refused.text)
            assert refused.json()["error"]["message"].endswith("it needs 'read'")
        # Without a valid token whoami is still a 401: none, an unknown one, a revoked one.
        assert httpx.get(f"{url}/whoami").status_code == 401
        bad = {"Authorization": "Bearer rw_not-a-token"}
        assert httpx.get(f"{url}/whoami", headers=bad).status_code == 401
        revoked = {"Authorization": f"Bearer {gone}"}
        assert httpx.get(f"{url}/whoami", headers=revoked).json()["scope"] == "write"
        token_cli(data, "revoke", number.rstrip(":"))
        wait_until(
            lambda: httpx.get(f"{url}/whoami", headers=revoked).status_code == 401,
            15,
            what="the revocation to reach whoami",
        )
    finally:
        server.stop()


def test_whoami_on_an_open_server_and_with_the_bootstrap_token(
    server: ServerProcess, tmp_path: Path
) -> None:
    with server.client() as c:
        assert c.get("/api/v1/whoami").json() == {"scope": "admin", "project": None, "auth": "open"}
    guarded = ServerProcess(tmp_path / "boot", token="s3cret").start()
    try:
        assert httpx.get(f"{guarded.url}/api/v1/whoami").status_code == 401
        with guarded.client() as c:  # it sends the bootstrap token
            r = c.get("/api/v1/whoami")
            assert r.json() == {"scope": "admin", "project": None, "auth": "tokens"}
    finally:
        guarded.stop()


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
    spec = httpx.get(f"{server.url}/openapi.json").json()
    forbidden = spec["paths"]["/api/v1/runs"]["post"]["responses"]["403"]["description"]
    assert "`cross_site`" in forbidden and "`bad_host`" in forbidden


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
