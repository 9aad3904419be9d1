"""The store in trouble: locked by another process, out of disk, and older data dirs."""

from __future__ import annotations

import resource
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx

import runwatch
from runwatch.store.sqlite import SqliteStore
from runwatch.store.sqlite.schema import MIGRATIONS, SCHEMA_VERSION
from tests.servers import ServerProcess, wait_until
from tests.store.aio import run


def batch(seq: int, rows: int = 10, width: int = 1) -> dict:
    return {
        "producer": "r",
        "batch_seq": seq,
        "points": [[seq * rows + i, 1.0, {"v" * width: float(i)}] for i in range(rows)],
    }


def test_a_locked_database_answers_503_and_the_sdk_delivers_later(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", extra_args=["--busy-timeout", "0.5"]).start()
    try:
        with server.client() as c:
            run_id = c.post("/api/v1/runs", json={"project": "p"}).json()["id"]
        sdk = runwatch.init(project="p", url=server.url, run_dir=tmp_path / "run")
        sdk.log({"x": 0.0}, step=0)
        with server.client() as c:
            wait_until(lambda: c.get(f"/api/v1/runs/{sdk.id}").status_code == 200, 10)
        holder = sqlite3.connect(tmp_path / "data" / "runwatch.sqlite3", isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")  # another process holds the write lock
        try:
            with server.client() as c:
                r = c.post(f"/api/v1/runs/{run_id}/batches", json=batch(1))
                assert r.status_code == 503 and "locked" in r.json()["error"]["message"]
                assert c.get("/healthz").status_code == 200
            for step in range(1, 200):
                sdk.log({"x": float(step)}, step=step)
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        sdk.finish(timeout=30)
        with server.client() as c:
            assert c.post(f"/api/v1/runs/{run_id}/batches", json=batch(1)).status_code == 200
            values = c.get(f"/api/v1/runs/{sdk.id}/metrics", params={"max_points": 1000}).json()[
                "series"
            ]["x"]["value"]
        assert values == [float(s) for s in range(200)]
    finally:
        server.stop()


def limit_file_size(limit: int):  # type: ignore[no-untyped-def]
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_a_full_disk_answers_503_and_the_server_stays_up(tmp_path: Path) -> None:
    data = tmp_path / "data"
    ServerProcess(data).start().stop()  # create the database first
    size = (data / "runwatch.sqlite3").stat().st_size
    env_cmd = [sys.executable, "-m", "runwatch", "serve", "--port", "0", "--data", str(data)]
    log = (tmp_path / "server.log").open("w")
    proc = subprocess.Popen(
        env_cmd, stdout=log, stderr=subprocess.STDOUT, preexec_fn=limit_file_size(size + 3_000_000)
    )
    try:
        url = wait_until(
            lambda: (
                ("listening on " in (t := (tmp_path / "server.log").read_text()))
                and t.split("listening on ")[1].split()[0]
            ),
            20,
        )
        wait_until(lambda: httpx.get(f"{url}/healthz").status_code == 200, 20)
        run_id = httpx.post(f"{url}/api/v1/runs", json={"project": "p"}).json()["id"]
        statuses = []
        for seq in range(1, 200):
            r = httpx.post(
                f"{url}/api/v1/runs/{run_id}/batches",
                json=batch(seq, rows=2000, width=50),
                timeout=30,
            )
            statuses.append(r.status_code)
            if r.status_code == 503:
                assert (
                    "full" in r.json()["error"]["message"] or "disk" in r.json()["error"]["message"]
                )
                break
        assert statuses[-1] == 503 and set(statuses[:-1]) == {200}
        assert httpx.get(f"{url}/healthz").status_code == 200
        stored = httpx.get(f"{url}/api/v1/runs/{run_id}/metrics", params={"max_points": 1}).json()
        assert sum(stored["series"]["v" * 50]["count"]) == 2000 * (len(statuses) - 1)
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


def test_an_earliest_schema_data_dir_migrates_forward_without_loss(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "runwatch.sqlite3", isolation_level=None)
    for statement in MIGRATIONS[0].split(";"):
        if statement.strip():
            conn.execute(statement)
    conn.execute("PRAGMA user_version = 1")
    conn.execute(
        "INSERT INTO runs (id, project, name, tags, config, status, created_at, seq, summary)"
        " VALUES ('old00001', 'legacy', 'from v1', '[\"a\"]', '{\"lr\": 0.1}', 'succeeded', 1.0, 2, '{}')"
    )
    conn.execute(
        "INSERT INTO events VALUES ('old00001', 2, 1.5, 'birth', 'info', 7, '{\"size\": 3}'),"
        " ('old00001', 3, 1.6, 'named', 'info', '12', '{}')"  # text that looks like a number
    )
    conn.close()

    async def read():  # type: ignore[no-untyped-def]
        store = SqliteStore(tmp_path)
        await store.open()
        try:
            return (
                await store.get_run("old00001"),
                await store.events("old00001"),
                await store.health(),
                await store.entity_events("old00001", "7", 10),
                await store.entity_events("old00001", "012", 10),
            )
        finally:
            await store.close()

    info, events, health, seven, twelve = run(read())
    assert health["schema"] == SCHEMA_VERSION > 1
    assert (info.name, info.tags, info.config, info.status) == (
        "from v1",
        ["a"],
        {"lr": 0.1},
        "succeeded",
    )
    assert info.vitals == [] and info.snapshot == {}
    # Migration 10: an integer entity stays an integer, text stays text, and both are found.
    assert [(e.kind, e.entity, e.payload) for e in events] == [
        ("birth", 7, {"size": 3}),
        ("named", "12", {}),
    ]
    assert [e.seq for e in seven] == [2] and twelve == []
