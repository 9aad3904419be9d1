"""`runwatch serve --store postgresql://…`: a real server process on a real PostgreSQL database,
fed by the SDK; tokens managed with `runwatch token … --store` (or RUNWATCH_STORE) guarding the
app; the rules, alerts and run queue routes answered from PostgreSQL (the app in process where
no process needs to reach it)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import runwatch
from tests.asgi import serve_in_process, settings_for
from tests.pg import fresh_database
from tests.queue.setup import release, running, serve_templates, status, submit
from tests.servers import ServerProcess, wait_until


@pytest.fixture
def pg_url() -> Iterator[str]:
    with fresh_database() as url:
        yield url


def cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("RUNWATCH_")}
    return subprocess.run(
        [sys.executable, "-m", "runwatch", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**clean, **env},
    )


def test_sdk_to_a_postgres_backed_server_and_back(pg_url: str, tmp_path: Path) -> None:
    args = ["--store", pg_url, "--store-pool", "3"]
    server = ServerProcess(tmp_path / "data", extra_args=args).start()
    try:
        with runwatch.init(project="pg", name="via-pg", url=server.url, run_dir=tmp_path) as run:
            for step in range(5000):
                run.log({"loss": 1.0 / (step + 1), "acc": step / 5000}, step=step)
            run.event("birth", entity=7, size=3)
            run.table("board", [{"name": "a", "score": 1.0}])
        with server.client() as c:
            health = c.get("/healthz").json()
            params = {"keys": "loss,acc", "max_points": 10_000}
            series = c.get(f"/api/v1/runs/{run.id}/metrics", params=params).json()["series"]
            info = c.get(f"/api/v1/runs/{run.id}").json()
            events = c.get(f"/api/v1/runs/{run.id}/entities/7/events").json()
    finally:
        server.stop()
    assert health["store"]["backend"] == "postgresql"
    assert "password" not in str(health) and health["store"]["database"].endswith(
        pg_url.rsplit("/", 1)[1]
    )
    assert series["loss"]["x"] == list(range(5000))
    assert series["loss"]["value"] == [1.0 / (s + 1) for s in range(5000)]
    assert info["status"] == "succeeded" and info["summary"]["acc"] == 4999 / 5000
    assert [e["kind"] for e in events["events"]] == ["birth"]
    assert not (tmp_path / "data" / "runwatch.sqlite3").exists()  # nothing went to SQLite
    assert health["store"]["pool"] == 3


def test_tokens_in_postgres_guard_the_server(pg_url: str, tmp_path: Path) -> None:
    created = cli("token", "create", "--scope", "admin", "--store", pg_url)
    assert created.returncode == 0, created.stderr
    token = created.stdout.splitlines()[0]
    listed = cli("token", "list", RUNWATCH_STORE=pg_url)
    assert listed.returncode == 0 and token[:10] in listed.stdout
    settings = settings_for(tmp_path / "data", store_url=pg_url)
    with serve_in_process(settings) as server, server.client() as c:
        assert c.get("/api/v1/runs").status_code == 401
        ok = c.get("/api/v1/runs", headers={"Authorization": f"Bearer {token}"})
        assert ok.status_code == 200
    revoked = cli("token", "revoke", "1", "--store", pg_url)
    assert revoked.returncode == 0 and "revoked" in revoked.stdout


def test_an_unknown_store_scheme_is_one_clear_line(tmp_path: Path) -> None:
    done = cli("serve", "--port", "0", "--store", "mysql://x/y")
    assert done.returncode == 1
    assert done.stderr.startswith("runwatch: error: unknown store mysql://")
    assert "Traceback" not in done.stderr


def test_rules_and_alerts_routes_on_a_postgres_backed_server(pg_url: str, tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "data", store_url=pg_url)
    with serve_in_process(settings) as server, server.client() as c:
        rule = {"name": "nan", "condition": {"type": "nonfinite", "key": "loss"}}
        created = c.post("/api/v1/projects/p/rules", json=rule)
        assert created.status_code == 201, created.text
        run_id = c.post("/api/v1/runs", json={"project": "p"}).json()["id"]
        batch = {"producer": "t", "batch_seq": 1, "points": [[4, 1.0, {"loss": "nan"}]]}
        assert c.post(f"/api/v1/runs/{run_id}/batches", json=batch).status_code == 200

        def alerts() -> list[dict[str, Any]] | None:
            got = c.get("/api/v1/projects/p/alerts").json()["alerts"]
            return got or None

        (alert,) = wait_until(alerts, what="the alert")
        events = c.get(f"/api/v1/runs/{run_id}/events", params={"kind": "alert"}).json()
        rules = c.get("/api/v1/projects/p/rules").json()["rules"]
        deleted = c.delete(f"/api/v1/projects/p/rules/{created.json()['id']}")
    assert alert["run_id"] == run_id and alert["detail"]["step"] == 4
    (event,) = events["events"]
    assert event["seq"] == alert["event_seq"] and event["payload"]["alert_id"] == alert["id"]
    assert [r["name"] for r in rules] == ["nan"] and deleted.status_code == 200


def test_the_run_queue_on_a_postgres_backed_server(pg_url: str, tmp_path: Path) -> None:
    with running(serve_templates(tmp_path, "--store", pg_url)) as server, server.client() as c:
        first, second = (submit(c, note=n) for n in ("one", "two"))
        assert first.status_code == 201 and second.status_code == 201, second.text
        one, two = first.json()["id"], second.json()["id"]
        assert status(c, one, "running")["started_at"] is not None
        assert c.get(f"/api/v1/runs/{two}").json()["status"] == "queued"  # one slot
        release(server, one)
        status(c, one, "succeeded")
        status(c, two, "running")  # the slot went to the next in line
        release(server, two)
        status(c, two, "succeeded")
    assert not (tmp_path / "data" / "runwatch.sqlite3").exists()  # the queue lives in PostgreSQL
