"""Closed by default (issue #24): one regression test per hole an operator's audit found.

Servers bound beyond loopback listen on 0.0.0.0 but are only ever spoken to on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

import runwatch
from runwatch.rules.spec import RuleIn
from runwatch.tokens import create, with_store
from tests.rules.receiver import WebhookReceiver
from tests.server.sockets import REVOCATION_SECONDS, bearer, revoke, viewers
from tests.servers import ServerProcess, wait_until
from tests.test_cli import cli

PUBLIC = ["--host", "0.0.0.0"]


# -- 1. a server beyond loopback never falls open ----------------------------------------------
def test_a_public_server_refuses_every_request_once_its_last_token_goes(tmp_path: Path) -> None:
    data = tmp_path / "data"
    token, info = create(data, "read", None, None, "the only one")
    server = ServerProcess(data, extra_args=PUBLIC).start()
    try:
        runs = f"{server.url}/api/v1/runs"
        assert httpx.get(runs, headers=bearer(token)).status_code == 200
        assert httpx.get(runs).status_code == 401
        revoke(data, info.id)
        health = f"{server.url}/healthz"

        def decided() -> bool:
            """The server saw the revocation: closed (or, the bug, open to everyone)."""
            closed = httpx.get(health).json().get("auth") == "closed"
            return closed or httpx.get(runs).status_code == 200

        wait_until(decided, 15, what="the server to see that no valid token is left")
        assert httpx.get(runs).status_code == 401
        assert httpx.get(runs, headers=bearer(token)).status_code == 401
        refused = httpx.get(runs)
        assert "closed" in refused.json()["error"]["message"]
        assert httpx.post(runs, json={"project": "p"}).status_code == 401
        evil = {"Host": "evil.example"}
        assert httpx.get(runs, headers=evil).status_code == 401
        assert httpx.post(runs, json={"project": "p"}, headers=evil).status_code == 401
        with connect(f"{server.url.replace('http://', 'ws://')}/api/v1/live") as ws:
            with contextlib.suppress(ConnectionClosed):
                ws.recv(timeout=10)
            assert ws.close_code == 4401
        alive = httpx.get(health)  # the load balancer still sees it alive
        assert alive.status_code == 200 and alive.json()["auth"] == "closed"
        assert "every request is refused whenever no valid token exists" in (
            server.log_path.read_text()
        )
    finally:
        server.stop()


def test_a_loopback_server_that_had_tokens_stays_closed_once_the_last_goes(tmp_path: Path) -> None:
    """Revoking the only token of a loopback server must not open it (a reverse proxy on the
    same host would hand everyone admin), nor may a restart."""
    data = tmp_path / "data"
    token, info = create(data, "admin", None, None, "the only one")
    server = ServerProcess(data).start()
    try:
        runs, health = f"{server.url}/api/v1/runs", f"{server.url}/healthz"
        assert httpx.get(runs, headers=bearer(token)).status_code == 200
        revoke(data, info.id)
        wait_until(
            lambda: httpx.get(health).json().get("auth") != "tokens", 15,
            what="the server to see that no valid token is left",
        )  # fmt: skip
        assert httpx.get(health).json()["auth"] == "closed"
        refused = httpx.get(runs)
        assert refused.status_code == 401 and "revoked or expired" in refused.text
        assert httpx.post(runs, json={"project": "p"}).status_code == 401
        with connect(f"{server.url.replace('http://', 'ws://')}/api/v1/live") as ws:
            with contextlib.suppress(ConnectionClosed):
                ws.recv(timeout=10)
            assert ws.close_code == 4401
        server.restart()
        assert httpx.get(health).json()["auth"] == "closed"
        assert httpx.get(runs).status_code == 401
        assert "every request is refused whenever no valid token exists" in (
            server.log_path.read_text()
        )
    finally:
        server.stop()


def test_an_open_server_refuses_what_a_reverse_proxy_forwarded(server: ServerProcess) -> None:
    """An open server answers loopback only; a proxy on the same host would make it public, so
    a request a proxy forwarded needs a token, which an open server has not."""
    runs = f"{server.url}/api/v1/runs"
    assert httpx.get(runs).status_code == 200
    for header in ("X-Forwarded-For", "Forwarded", "X-Real-IP"):
        refused = httpx.get(runs, headers={header: "for=203.0.113.7"})
        assert refused.status_code == 401, header
        assert "through a proxy" in refused.json()["error"]["message"]
    live = f"{server.url.replace('http://', 'ws://')}/api/v1/live"
    with connect(live, additional_headers={"X-Forwarded-For": "203.0.113.7"}) as ws:
        with contextlib.suppress(ConnectionClosed):
            ws.recv(timeout=10)
        assert ws.close_code == 4401


# -- 2. TensorBoard: admin only, over run dirs the server knows --------------------------------
def test_tensorboard_starts_only_for_admin_and_only_over_a_known_run_dir(tmp_path: Path) -> None:
    data = tmp_path / "data"
    tokens = {s: create(data, s, None, None, s)[0] for s in ("read", "write", "admin")}
    server = ServerProcess(data).start()
    try:
        with httpx.Client(base_url=server.url, headers=bearer(tokens["write"])) as producer:
            claimed = tmp_path / "claimed"
            claimed.mkdir()
            runs = {
                "etc": {"project": "p", "snapshot": {"run_dir": "/etc"}},
                "sdk": {"project": "p", "snapshot": {"run_dir": str(claimed)}},
                "forged": {"project": "p", "snapshot": {"run_dir": str(tmp_path / "forged")}},
            }
            ids = {k: producer.post("/api/v1/runs", json=v).json()["id"] for k, v in runs.items()}
        # A marker naming another run does not register the dir for this one.
        (tmp_path / "forged").mkdir()
        (tmp_path / "forged" / ".runwatch-run").write_text(ids["etc"])
        for who in ("read", "write"):
            tb = httpx.post(
                f"{server.url}/api/v1/runs/{ids['etc']}/tensorboard",
                headers=bearer(tokens[who]),
                timeout=90,
            )
            assert tb.status_code == 403, (who, tb.text)
        for name, run_id in ids.items():
            tb = httpx.post(
                f"{server.url}/api/v1/runs/{run_id}/tensorboard",
                headers=bearer(tokens["admin"]),
                timeout=90,
            )
            assert tb.status_code == 404 and tb.json()["error"]["code"] == "no_run_dir", name
    finally:
        server.stop()


def test_promote_reads_only_a_run_dir_the_server_knows(tmp_path: Path) -> None:
    """A writer names its run's directory; promote (admin) hashes a file only inside one the
    server knows: a directory a producer merely reports (``/etc``), or one whose marker names
    another run, is 404 ``no_run_dir``, never a checksum of the server's files. An SDK run on
    this machine marks its own directory, so its artifacts promote."""
    data = tmp_path / "data"
    tokens = {s: create(data, s, None, None, s)[0] for s in ("write", "admin")}
    server = ServerProcess(data).start()
    try:
        (tmp_path / "forged").mkdir()
        (tmp_path / "forged" / "secret.txt").write_text("not the run's")
        with httpx.Client(base_url=server.url, headers=bearer(tokens["write"])) as producer:
            claims = {"etc": "/etc", "forged": str(tmp_path / "forged")}
            ids = {
                name: producer.post(
                    "/api/v1/runs", json={"project": "p", "snapshot": {"run_dir": claimed}}
                ).json()["id"]
                for name, claimed in claims.items()
            }
            for run_id in ids.values():
                done = {
                    "producer": "w",
                    "batch_seq": 1,
                    "status": {"state": "succeeded", "ts": 1.0},
                }
                assert producer.post(f"/api/v1/runs/{run_id}/batches", json=done).is_success
        (tmp_path / "forged" / ".runwatch-run").write_text(ids["etc"])  # names another run
        sdk_dir = tmp_path / "sdk"
        run = runwatch.init(project="p", url=server.url, run_dir=sdk_dir, token=tokens["write"])
        (sdk_dir / "model.pt").write_bytes(b"weights")
        assert run.finish(timeout=30)
        with httpx.Client(base_url=server.url, headers=bearer(tokens["admin"])) as admin:
            for name, artifact in (("etc", "passwd"), ("forged", "secret.txt")):
                url = f"/api/v1/runs/{ids[name]}/promote"
                refused = admin.post(url, json={"name": "leak", "artifact": artifact})
                assert refused.status_code == 404, (name, refused.text)
                assert refused.json()["error"]["code"] == "no_run_dir", name
            url = f"/api/v1/runs/{run.id}/promote"
            promoted = admin.post(url, json={"name": "best", "artifact": "model.pt"})
            assert promoted.status_code == 201, promoted.text
            assert promoted.json()["detail"]["size"] == len(b"weights")
    finally:
        server.stop()


# -- 3. webhooks: no SSRF, no 500s, no pending forever -----------------------------------------
NAN_RULE: dict[str, Any] = {"name": "nan", "condition": {"type": "nonfinite", "key": "x"}}


def webhook_rule(url: str) -> dict[str, Any]:
    return {**NAN_RULE, "actions": [{"type": "webhook", "url": url}]}


def test_webhook_urls_are_checked_in_full_and_private_targets_refused(
    server: ServerProcess,
) -> None:
    refused = [
        "http://127.0.0.1/x",
        "http://0x7f000001/x",
        "http://2130706433/x",
        "http://127.1:8080/x",
        "http://localhost:6379/x",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]:19259/x",
        "http://[::ffff:127.0.0.1]/x",
        "http://10.1.2.3/x",
        "http://192.168.0.1/x",
        "https://0.0.0.0/x",
    ]
    with server.client() as c:
        for url in refused:
            r = c.post("/api/v1/projects/p/rules", json=webhook_rule(url))
            assert r.status_code == 422, (url, r.text)
            error = r.json()["error"]
            assert error["code"] == "webhook_refused" and error["field"] == "$.actions[0].url"
            assert "--webhook-allow" in error["message"]
        bad = c.post("/api/v1/projects/p/rules", json=webhook_rule("http://\u00b9/x"))
        assert bad.status_code == 400 and bad.json()["error"]["field"] == "$.actions[0].url"
        listed = c.get("/api/v1/projects/p/rules")
        assert listed.status_code == 200 and listed.json()["rules"] == []
        public = c.post("/api/v1/projects/p/rules", json=webhook_rule("https://hooks.example/x"))
        assert public.status_code == 201


def test_an_ipv6_webhook_is_listed_masked_and_saved_only_when_allowed(tmp_path: Path) -> None:
    data = tmp_path / "data"
    spec = msgspec.convert(webhook_rule("http://[::1]:19259/x"), RuleIn)
    with_store(data, lambda s: s.add_rule("p", spec))  # as an older server saved it
    masked = [{"type": "webhook", "url": "http://[::1]/…"}]
    server = ServerProcess(data).start()
    try:
        with server.client() as c:
            listed = c.get("/api/v1/projects/p/rules")
            assert listed.status_code == 200, listed.text
            assert listed.json()["rules"][0]["actions"] == masked
    finally:
        server.stop()
    server = ServerProcess(data, extra_args=["--webhook-allow", "::1"]).start()
    try:
        with server.client() as c:
            made = c.post("/api/v1/projects/p/rules", json=webhook_rule("http://[::1]:19259/y"))
            assert made.status_code == 201, made.text
            assert made.json()["actions"] == masked
            # 127.0.0.1 is not ::1: still refused.
            v4 = c.post("/api/v1/projects/p/rules", json=webhook_rule("http://127.0.0.1/x"))
            assert v4.status_code == 422
    finally:
        server.stop()


def test_every_delivery_is_checked_after_resolution_and_ends_delivered_or_failed(
    tmp_path: Path,
) -> None:
    """Rules stored without the save-time check (an older server's, or a since-narrowed
    allow-list): each delivery resolves and checks its target, and ends with a reason."""
    data = tmp_path / "data"
    with WebhookReceiver(200) as hook:
        port = hook.url.split(":")[2].split("/")[0]
        urls = [
            f"http://localhost:{port}/by-name",
            f"http://0x7f000001:{port}/hex",
            f"http://127.0.0.1:{port}/plain",
            "http://\u00b9/not-a-name",
        ]
        actions = [{"type": "webhook", "url": u} for u in urls]
        spec = msgspec.convert({**NAN_RULE, "cooldown": 0, "actions": actions}, RuleIn)
        with_store(data, lambda s: s.add_rule("w", spec))
        server = ServerProcess(data).start()
        try:
            with server.client() as c:
                run_id = c.post("/api/v1/runs", json={"project": "w"}).json()["id"]
                batch = {"producer": "t", "batch_seq": 1, "points": [[0, 1.0, {"x": "nan"}]]}
                assert c.post(f"/api/v1/runs/{run_id}/batches", json=batch).status_code == 200

                def settled() -> list[dict[str, Any]] | None:
                    alerts = c.get("/api/v1/projects/w/alerts").json()["alerts"]
                    done = alerts and all(
                        a["state"] in ("delivered", "failed") for a in alerts[0]["actions"]
                    )
                    return alerts[0]["actions"] if done else None

                outcomes = wait_until(settled, 30, what="every delivery to end")
        finally:
            server.stop()
        assert hook.bodies == []
    assert [o["state"] for o in outcomes] == ["failed"] * 4
    for outcome in outcomes[:3]:
        assert "loopback address" in outcome["error"], outcome
    assert (
        "localhost is 127.0.0.1" in outcomes[0]["error"]
        or "localhost is ::1" in (outcomes[0]["error"])
    )
    assert "IDNA" in outcomes[3]["error"]
    assert "Traceback" not in server.log_path.read_text()


# -- 4. the artifact scanner stays inside the run dir -------------------------------------------
WORKER = """
    import os
    run_dir = os.environ["RUNWATCH_RUN_DIR"]
    os.makedirs(os.path.join(run_dir, "checkpoints"), exist_ok=True)
    with open(os.path.join(run_dir, "checkpoints", "policy.pt"), "wb") as f:
        f.write(b"weights")
    os.symlink({secret!r}, os.path.join(run_dir, "checkpoints", "evil.pt"))
    os.symlink("policy.pt", os.path.join(run_dir, "checkpoints", "alias.pt"))
    os.symlink({outside!r}, os.path.join(run_dir, "checkpoints", "linked-dir"))
"""


def test_the_scanner_lists_no_file_a_symlink_leads_out_of_the_run_dir_to(
    server: ServerProcess, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("not for the dashboard")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "leaked.pt").write_text("also not")
    script = tmp_path / "worker.py"
    script.write_text(textwrap.dedent(WORKER.format(secret=str(secret), outside=str(outside))))
    run_dir = tmp_path / "run"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNWATCH_")}
    env["RUNWATCH_URL"] = server.url
    done = subprocess.run(
        [sys.executable, "-m", "runwatch", "launch", "--project", "art", "--run-dir", str(run_dir),
         "--", sys.executable, str(script)],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    with server.client() as c:
        run_id = c.get("/api/v1/runs", params={"project": "art"}).json()["runs"][0]["id"]
        listed = c.get(f"/api/v1/runs/{run_id}/artifacts").json()["artifacts"]
    paths = sorted(a["path"] for a in listed if a["kind"] == "checkpoint")
    assert paths == ["checkpoints/alias.pt", "checkpoints/policy.pt"]
    manifest = (run_dir / "artifacts.json").read_text()
    assert "evil" not in manifest and "leaked" not in manifest
    assert str(len("not for the dashboard")) not in {str(a["size"]) for a in listed}


# -- 5. bounded input, no NUL, harmless control characters --------------------------------------
def test_a_huge_config_is_413_or_422_naming_the_limit(server: ServerProcess) -> None:
    with server.client() as c:
        big = c.post("/api/v1/runs", json={"project": "p", "config": {"blob": "x" * 10_000_000}})
        assert big.status_code == 422, big.text[:200]
        assert "max_config_bytes" in big.json()["error"]["message"]
        assert big.json()["error"]["field"] == "$.config"
        snapshot = {"project": "p", "snapshot": {"blob": "x" * 300_000}}
        huge = c.post("/api/v1/runs", json=snapshot)
        assert huge.status_code == 422 and "max_run_snapshot_bytes" in huge.text
        assert len(c.get("/api/v1/runs").content) < 10_000  # nothing of them was stored
        fits = c.post("/api/v1/runs", json={"project": "p", "config": {"lr": 0.1}})
        assert fits.status_code == 201


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"project": "a\x00b"}, "$.project"),
        ({"project": "p", "name": "run\x00"}, "$.name"),
        ({"project": "p", "group": "\x00"}, "$.group"),
        ({"project": "p", "tags": ["ok", "t\x00"]}, "$.tags[1]"),
    ],
)
def test_nul_in_names_is_refused_naming_the_field(
    server: ServerProcess, body: dict[str, Any], field: str
) -> None:
    with server.client() as c:
        r = c.post("/api/v1/runs", json=body)
        assert r.status_code == 400 and r.json()["error"]["field"] == field, r.text
        assert c.get("/api/v1/runs").json()["runs"] == []


def test_terminal_views_show_control_characters_as_text(
    server: ServerProcess, tmp_path: Path
) -> None:
    hostile = "evil\x1b[2J\x1b]0;pwned\x07\r\u202eboom"
    with server.client() as c:
        run = c.post("/api/v1/runs", json={"project": f"p{hostile}", "name": hostile}).json()
        event = {"kind": f"k{hostile}", "ts": 1.0, "payload": {"m": hostile}}
        batch = {"producer": "t", "batch_seq": 1, "events": [event],
                 "points": [[0, 1.0, {f"loss{hostile}": 0.5}]]}  # fmt: skip
        assert c.post(f"/api/v1/runs/{run['id']}/batches", json=batch).status_code == 200
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNWATCH_")}
    env.update(RUNWATCH_URL=server.url, COLUMNS="400")
    for args in (("runs",), ("tail", run["id"], "--frames", "1")):
        shown = cli(*args, env=env)
        assert shown.returncode == 0, shown.stderr
        for control in ("\x1b", "\x07", "\r", "\u202e"):
            assert control not in shown.stdout, (args, repr(control))
        assert "evil\\x1b[2J" in shown.stdout and "\\u202eboom" in shown.stdout, args


# -- 6. revocation reaches open sockets and streams, on every replica ---------------------------
def test_a_revoked_token_closes_its_open_sockets_and_streams_within_5_s(tmp_path: Path) -> None:
    data = tmp_path / "data"
    admin, _ = create(data, "admin", None, None, "admin")
    read, info = create(data, "read", None, None, "viewer")
    server = ServerProcess(data, token=admin).start()
    try:
        with server.client() as c:
            run_id = c.post("/api/v1/runs", json={"project": "p"}).json()["id"]
        with viewers(server, read, run_id) as open_ones:
            revoked = revoke(data, info.id)
            open_ones.closed_by(revoked + REVOCATION_SECONDS)
    finally:
        server.stop()
