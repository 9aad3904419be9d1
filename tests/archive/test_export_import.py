"""``runwatch export`` / ``runwatch import`` through real servers: the archive holds the whole run,
and export → import → export gives the same bytes (JSONL), from any of the three formats."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

import runwatch
from tests.pg import fresh_database
from tests.servers import ServerProcess, wait_until
from tests.test_cli import cli

N = 25_000  # more than one export page and one archive record of points


def _env(server: ServerProcess) -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNWATCH_")}
    return {**env, "RUNWATCH_URL": server.url}


def make_rich_run(server: ServerProcess, tmp_path: Path) -> str:
    """A finished run with every kind of content an archive carries."""
    run = runwatch.init(
        project="arch", name="rich", config={"lr": 0.1, "arch": {"depth": 3}},
        group="g", tags=["a", "b"], url=server.url, run_dir=tmp_path / "producer",
    )  # fmt: skip
    for step in range(N):
        run.log({"loss": 1.0 / (step + 1)}, step=step)
    run.log({"odd": math.nan, "loss2": math.inf}, step=3)
    run.log({"odd": -math.inf}, step=1)  # back in steps: stored in arrival order
    run.log({"gpu": 0.5}, step=7, vital=True)
    for entity in range(5):
        run.event("birth", entity=entity, size=entity * 2)
    run.event("merge", entity="n-3", level="warning", into=[1, 2])
    run.table("leaderboard", [{"trial": 1, "score": 0.5}, {"trial": 2, "score": 0.7}])
    run.table("history", [{"i": 1}], mode="append", max_rows=10)
    run.table("history", [{"i": 2}], mode="append", max_rows=10)
    run.points("embedding", [{"x": float(i), "y": -float(i), "label": f"p{i}"} for i in range(50)])
    for step in (0, 1, 2, 4, 5, 9):
        run.snapshot("footprint/7", [float(step), 1.0, 2.0], step=step)
    run.write_log("stdout", "hello")
    run.write_log("stderr", "warning: x")
    run.artifacts([{"kind": "checkpoint", "path": "ckpt/1.pt", "size": 3, "sha256": "ab" * 32}])
    deprecated: list[object] = []
    run.on_command("deprecate", lambda payload: deprecated.append(payload["entity"]))
    with server.client() as c:
        for entity in (1, 2):
            body = {"kind": "deprecate", "payload": {"entity": entity}}
            assert c.post(f"/api/v1/runs/{run.id}/commands", json=body).status_code == 201

        def applied() -> bool:
            assert not run.should_stop  # handlers run on the training thread, in such calls
            states = [
                x["state"] for x in c.get(f"/api/v1/runs/{run.id}/commands").json()["commands"]
            ]
            return states == ["applied", "applied"]

        wait_until(applied, 20, what="both deprecates to be applied")
    assert deprecated == [1, 2]
    run.finish("failed", error="boom", exit_code=2)
    with server.client() as c:
        wait_until(lambda: c.get(f"/api/v1/runs/{run.id}").json().get("status") == "failed")
    return run.id


@pytest.fixture
def source(tmp_path: Path) -> tuple[ServerProcess, str]:
    srv = ServerProcess(tmp_path / "source").start()
    try:
        yield srv, make_rich_run(srv, tmp_path)  # type: ignore[misc]
    finally:
        srv.stop()


def export(server: ServerProcess, run_id: str, path: Path, fmt: str = "jsonl") -> Path:
    done = cli("export", run_id, "--format", fmt, "-o", str(path), env=_env(server))
    assert done.returncode == 0, done.stderr
    return path


def import_(server: ServerProcess, path: Path) -> None:
    done = cli("import", str(path), env=_env(server))
    assert done.returncode == 0, done.stderr


def test_the_jsonl_archive_holds_the_whole_run(
    source: tuple[ServerProcess, str], tmp_path: Path
) -> None:
    server, run_id = source
    records = [
        json.loads(line)
        for line in export(server, run_id, tmp_path / "a.jsonl").read_text().splitlines()
    ]
    by_type: dict[str, list[dict]] = {}  # type: ignore[type-arg]
    for r in records:
        by_type.setdefault(r["type"], []).append(r)
    (run,) = by_type["run"]
    assert (run["id"], run["project"], run["name"], run["group"]) == (run_id, "arch", "rich", "g")
    assert run["config"] == {"lr": 0.1, "arch": {"depth": 3}} and run["tags"] == ["a", "b"]
    assert (run["status"], run["error"], run["exit_code"]) == ("failed", "boom", 2)
    assert run["vitals"] == ["gpu"]
    loss = [p for r in by_type["points"] if r["key"] == "loss" for p in r["points"]]
    assert [p[0] for p in loss] == list(range(N)) and loss[9][2] == 0.1
    odd = [p for r in by_type["points"] if r["key"] == "odd" for p in r["points"]]
    assert [(p[0], p[2]) for p in odd] == [(3, "nan"), (1, "-inf")]
    # The run's own status events are not archived: the run record carries its status.
    events = [(e["kind"], e["level"], e["entity"], e["payload"]) for e in by_type["event"]]
    assert events == [
        *(("birth", "info", entity, {"size": entity * 2}) for entity in range(5)),
        ("merge", "warning", "n-3", {"into": [1, 2]}),
    ]
    tables = {t["name"]: t["rows"] for t in by_type["table"]}
    assert tables == {
        "history": [{"i": 1}, {"i": 2}],
        "leaderboard": [{"trial": 1, "score": 0.5}, {"trial": 2, "score": 0.7}],
    }
    ((name, points),) = [(p["name"], p["points"]) for p in by_type["point_set"]]
    assert name == "embedding"
    assert points == [{"x": float(i), "y": -float(i), "label": f"p{i}"} for i in range(50)]
    snapshots = [(s["key"], s["step"], s["value"]) for s in by_type["snapshot"]]
    assert snapshots == [("footprint/7", k, [float(k), 1.0, 2.0]) for k in (0, 1, 2, 4, 5, 9)]
    assert [(x["stream"], x["text"]) for x in by_type["log"]] == [
        ("stdout", "hello"),
        ("stderr", "warning: x"),
    ]
    manifest = [{"kind": "checkpoint", "path": "ckpt/1.pt", "size": 3, "sha256": "ab" * 32}]
    assert [a["manifest"] for a in by_type["artifacts"]] == [manifest]
    commands = by_type["command"]
    assert [(x["kind"], x["payload"], x["state"]) for x in commands] == [
        ("deprecate", {"entity": 1}, "applied"),
        ("deprecate", {"entity": 2}, "applied"),
    ]
    assert all(x["created_at"] <= x["updated_at"] and x["error"] is None for x in commands)


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_export_import_export_gives_the_same_jsonl_bytes(
    source: tuple[ServerProcess, str], tmp_path: Path, fmt: str
) -> None:
    server, run_id = source
    original = export(server, run_id, tmp_path / "original.jsonl")
    archive = original if fmt == "jsonl" else export(server, run_id, tmp_path / f"a-{fmt}", fmt)
    target = ServerProcess(tmp_path / "target").start()
    try:
        import_(target, archive)
        again = export(target, run_id, tmp_path / "again.jsonl")
        with target.client() as c:
            info = c.get(f"/api/v1/runs/{run_id}").json()
            commands = c.get(f"/api/v1/runs/{run_id}/commands").json()["commands"]
    finally:
        target.stop()
    assert again.read_bytes() == original.read_bytes()
    with server.client() as c:
        before = c.get(f"/api/v1/runs/{run_id}").json()
        assert commands == c.get(f"/api/v1/runs/{run_id}/commands").json()["commands"]
    assert [x["state"] for x in commands] == ["applied", "applied"]
    assert info["status"] == "failed" and info["name"] == "rich"
    for field in ("created_at", "started_at", "ended_at"):
        assert info[field] == before[field]


def test_import_refuses_a_run_the_server_has_and_a_file_that_is_no_archive(
    source: tuple[ServerProcess, str], tmp_path: Path
) -> None:
    server, run_id = source
    archive = export(server, run_id, tmp_path / "a.jsonl")
    again = cli("import", str(archive), env=_env(server))
    assert again.returncode == 1 and f"run {run_id} already exists" in again.stderr
    assert "Traceback" not in again.stderr
    junk = tmp_path / "junk.jsonl"
    junk.write_text('{"hello": 1}\n')
    bad = cli("import", str(junk), env=_env(server))
    assert bad.returncode == 1 and "not a runwatch archive" in bad.stderr
    missing = cli("export", "nosuchrun", "-o", str(tmp_path / "x.jsonl"), env=_env(server))
    assert missing.returncode == 1 and "no run with id 'nosuchrun'" in missing.stderr


def test_restoring_times_needs_admin_and_a_valid_body(tmp_path: Path) -> None:
    srv = ServerProcess(tmp_path / "data", token="admin-secret").start()
    try:
        made = cli("token", "create", "--scope", "write", "--data", str(srv.data_dir))
        write_token = made.stdout.splitlines()[0]
        with srv.client() as admin:
            run_id = admin.post("/api/v1/runs", json={"project": "p"}).json()["id"]
            path = f"/api/v1/runs/{run_id}/times"
            body = {"created_at": 1000.0, "started_at": 1001.0}
            writer = {"Authorization": f"Bearer {write_token}"}
            assert admin.put(path, json=body, headers=writer).status_code == 403
            bad = admin.put(path, json={"created_at": "yesterday"})
            assert bad.status_code == 400 and bad.json()["error"]["field"] == "$.created_at"
            assert admin.put("/api/v1/runs/nosuchrun/times", json=body).status_code == 404
            ok = admin.put(path, json=body)
            assert ok.status_code == 200 and ok.json()["created_at"] == 1000.0
            assert admin.get(f"/api/v1/runs/{run_id}").json()["started_at"] == 1001.0
    finally:
        srv.stop()


def test_an_archive_moves_through_a_postgres_backed_server_byte_for_byte(
    source: tuple[ServerProcess, str], tmp_path: Path
) -> None:
    server, run_id = source
    original = export(server, run_id, tmp_path / "original.jsonl")
    with fresh_database() as url:
        target = ServerProcess(tmp_path / "target", extra_args=["--store", url]).start()
        try:
            import_(target, original)
            again = export(target, run_id, tmp_path / "again.jsonl")
        finally:
            target.stop()
    assert again.read_bytes() == original.read_bytes()
