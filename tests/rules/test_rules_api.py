"""Rule and alert routes: validation and fuzzing in process; scopes, masking and the alerts socket
on a real server; rules loaded from a TOML file by ``runwatch serve --rules``."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from pathlib import Path

import httpx
from websockets.sync.client import connect

from runwatch.tokens import create
from tests.asgi import InProcessServer
from tests.servers import ServerProcess

NAN_RULE = {"name": "nan", "condition": {"type": "nonfinite", "key": "loss"}}


def post_batch(c: httpx.Client, run_id: str, seq: int, points: list[list[object]]) -> None:
    body = {"producer": "t", "batch_seq": seq, "points": points}
    assert c.post(f"/api/v1/runs/{run_id}/batches", json=body).status_code == 200


def test_bad_rules_are_400_naming_the_field_and_unknowns_are_404(
    app_server: InProcessServer,
) -> None:
    with app_server.client() as c:
        cases = [
            ({"name": "x", "condition": {"type": "sometimes"}}, "$.condition.type"),
            ({"name": "x", "condition": {"type": "stalled"}}, "$.condition.minutes"),
            ({"name": "x", "condition": {"type": "stalled", "minutes": -1}}, "$.condition.minutes"),
            ({**NAN_RULE, "actions": [{"type": "webhook", "url": "ftp://x"}]}, "$.actions[0].url"),
            ({**NAN_RULE, "actions": [{"type": "webhook", "url": "https://[x"}]}, "$.actions[0]"),
            (
                {**NAN_RULE, "actions": [{"type": "webhook", "url": "https://h:99999"}]},
                "$.actions[0]",
            ),
            ({**NAN_RULE, "cooldown": "soon"}, "$.cooldown"),
            ({**NAN_RULE, "colour": "red"}, "$.colour"),
        ]
        for body, field in cases:
            r = c.post("/api/v1/projects/p/rules", json=body)
            assert r.status_code == 400, (body, r.text)
            assert r.json()["error"]["field"] == field, (body, r.json())
        r = c.post("/api/v1/projects/p/rules", json={**NAN_RULE, "run": "nosuchrun"})
        assert r.status_code == 404 and r.json()["error"]["field"] == "$.run"
        assert c.delete("/api/v1/projects/p/rules/999").status_code == 404
        assert c.get("/api/v1/projects/p/rules").json() == {"rules": []}


def test_reading_needs_read_and_changing_needs_admin(tmp_path: Path) -> None:
    data = tmp_path / "data"
    read = create(data, "read", None, None, "viewer")[0]
    other = create(data, "read", "elsewhere", None, "another project")[0]
    write = create(data, "write", None, None, "producer")[0]
    admin = create(data, "admin", None, None, "admin")[0]
    server = ServerProcess(data).start()
    try:

        def call(method: str, path: str, token: str | None, body: object = None) -> int:
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            return httpx.request(
                method, server.url + path, json=body, headers=headers, timeout=10
            ).status_code

        for token in (None, "rw_wrong"):
            assert call("GET", "/api/v1/projects/p/rules", token) == 401
            assert call("GET", "/api/v1/projects/p/alerts", token) == 401
        assert call("GET", "/api/v1/projects/p/rules", read) == 200
        assert call("GET", "/api/v1/projects/p/alerts", read) == 200
        for token in (read, write):
            assert call("POST", "/api/v1/projects/p/rules", token, NAN_RULE) == 403
        assert call("POST", "/api/v1/projects/p/rules", admin, NAN_RULE) == 201
        assert call("GET", "/api/v1/projects/p/rules", other) == 403
        assert call("DELETE", "/api/v1/projects/p/rules/1", write) == 403
        assert call("DELETE", "/api/v1/projects/p/rules/1", admin) == 200
        ws_url = server.url.replace("http://", "ws://") + "/api/v1/projects/p/alerts/live"
        for token, code in ((None, 4401), ("rw_bad", 4401), (write, 4403), (other, 4403)):
            with connect(ws_url + (f"?token={token}" if token else "")) as ws:
                with contextlib.suppress(Exception):
                    ws.recv(timeout=10)
                assert ws.close_code == code, (token, ws.close_code)
        with connect(f"{ws_url}?token={read}") as ws:
            assert json.loads(ws.recv(timeout=10)) == {"seq": 0, "type": "alerts", "alerts": []}
    finally:
        server.stop()


def test_the_alerts_socket_starts_with_a_snapshot_then_pushes_each_alert(
    server: ServerProcess,
) -> None:
    with server.client() as c:
        rule = {**NAN_RULE, "cooldown": 0, "actions": [{"type": "event", "level": "error"}]}
        assert c.post("/api/v1/projects/p/rules", json=rule).status_code == 201
        run_id = c.post("/api/v1/runs", json={"project": "p", "name": "r"}).json()["id"]
        post_batch(c, run_id, 1, [[0, 1.0, {"loss": "nan"}]])
        ws_url = server.url.replace("http://", "ws://") + "/api/v1/projects/p/alerts/live"
        with connect(ws_url) as ws:
            first = json.loads(ws.recv(timeout=10))
            # Subscribed before the snapshot: the first alert is in it (or pushed after it).
            seen = {a["detail"]["step"] for a in first["alerts"]}
            assert first["type"] == "alerts"
            post_batch(c, run_id, 2, [[1, 2.0, {"loss": 0.5}], [2, 3.0, {"loss": "inf"}]])
            while 2 not in seen:
                message = json.loads(ws.recv(timeout=10))
                for m in message if isinstance(message, list) else [message]:
                    assert m["type"] == "alert"
                    seen.add(m["alert"]["detail"]["step"])
            assert seen == {0, 2}
        alerts = c.get("/api/v1/projects/p/alerts", params={"run": run_id}).json()["alerts"]
        assert [(a["detail"]["step"], a["level"]) for a in alerts] == [(2, "error"), (0, "error")]
        health = c.get("/healthz").json()["rules"]
        assert health["rules"] == 1 and health["fired"] == 2 and health["dropped_commits"] == 0


def write_rules(path: Path, threshold: float) -> Path:
    path.write_text(
        f"""
[[rules]]
project = "mnist"
name = "exploding loss"
condition = {{ type = "threshold", key = "loss", op = "above", value = {threshold} }}
actions = [{{ type = "webhook", url = "https://hooks.slack.com/services/T/B/SECRET" }}]

[[rules]]
project = "mnist"
name = "stalled"
condition = {{ type = "stalled", minutes = 30 }}
"""
    )
    return path


def test_serve_loads_a_rules_file_and_replaces_its_rules_on_restart(tmp_path: Path) -> None:
    rules = write_rules(tmp_path / "rules.toml", 10)
    server = ServerProcess(tmp_path / "data", extra_args=["--rules", str(rules)]).start()
    try:
        with server.client() as c:
            assert c.post("/api/v1/projects/mnist/rules", json=NAN_RULE).status_code == 201
            listed = c.get("/api/v1/projects/mnist/rules").json()["rules"]
            assert [(r["name"], r["source"]) for r in listed] == [
                ("exploding loss", "file"), ("stalled", "file"), ("nan", "api"),
            ]  # fmt: skip
            assert listed[0]["actions"] == [{"type": "webhook", "url": "https://hooks.slack.com/…"}]
            # A file's rule is removed from the file: deleted by API it would come back.
            refused = c.delete(f"/api/v1/projects/mnist/rules/{listed[0]['id']}")
            assert refused.status_code == 409
            assert refused.json()["error"]["code"] == "rule_from_file"
            assert "'exploding loss'" in refused.json()["error"]["message"]
            assert len(c.get("/api/v1/projects/mnist/rules").json()["rules"]) == 3
            write_rules(rules, 99)
            server.restart()
            listed = c.get("/api/v1/projects/mnist/rules").json()["rules"]
            assert [(r["name"], r["source"]) for r in listed] == [
                ("nan", "api"), ("exploding loss", "file"), ("stalled", "file"),
            ]  # fmt: skip
            assert listed[1]["condition"]["value"] == 99
    finally:
        server.stop()


def test_a_bad_rules_file_is_one_line_naming_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[[rules]]\nproject = "p"\nname = "x"\ncondition = { type = "stalled" }\n')
    done = subprocess.run(
        [sys.executable, "-m", "runwatch", "serve", "--port", "0", "--rules", str(bad),
         "--data", str(tmp_path / "data")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith(f"runwatch: error: rules file {bad}: rules[0]:")
    assert "`$.condition`" in done.stderr and "minutes" in done.stderr


def test_the_readme_examples_are_valid_rules(tmp_path: Path) -> None:
    import re

    import msgspec

    from runwatch.rules.rulesfile import load_rules_file
    from runwatch.rules.spec import RuleIn

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("## Watch rules and alerts", 1)[1].split("\n## ", 1)[0]
    toml = re.search(r"```toml\n(.*?)```", section, re.S)
    curl = re.search(r"-d '(\{.*?\})'", section, re.S)
    assert toml and curl
    (tmp_path / "rules.toml").write_text(toml.group(1))
    loaded = load_rules_file(tmp_path / "rules.toml")
    assert [(p, r.name) for p, r in loaded] == [("mnist", "stuck"), ("mnist", "silent")]
    rule = msgspec.json.decode(curl.group(1).encode(), type=RuleIn)
    assert [type(a).__name__ for a in rule.actions] == [
        "EventAction",
        "WebhookAction",
        "CancelAction",
    ]


def test_no_input_to_the_rules_and_alerts_routes_makes_a_5xx(app_server: InProcessServer) -> None:
    from tests.fuzzing import assert_no_5xx, schema_operations

    operations = [
        op for op in schema_operations(app_server) if "/rules" in op.path or "/alerts" in op.path
    ]
    assert len(operations) == 4
    assert_no_5xx(app_server, operations, max_examples=60)
    with app_server.client() as c:  # whatever was stored is still readable
        assert c.get("/api/v1/projects/p/rules").status_code == 200
        big = {
            **NAN_RULE,
            "actions": [{"type": "command", "kind": "k", "payload": {"x": "y" * 70_000}}],
        }
        r = c.post("/api/v1/projects/p/rules", json=big)
        assert r.status_code == 422 and r.json()["error"]["field"] == "$.actions[0].payload"
        r = c.post(
            "/api/v1/projects/p/rules",
            content=b'{"name":"x","condition":{"type":"threshold","key":"k","op":"above","value":1e999}}',
            headers={"Content-Type": "application/json"},
        )
        assert r.status_code == 400 and r.json()["error"]["field"] == "$.condition.value"
