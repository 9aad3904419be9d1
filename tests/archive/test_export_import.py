"""``runwatch export`` / ``runwatch import`` through real servers: the archive holds the whole run
(images with their blobs, and histograms, too), and export → import → export gives the same
bytes (JSONL), from any of the three formats, into SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import hashlib
import json
import math
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

import runwatch
from tests.pg import fresh_database
from tests.servers import ServerProcess, wait_until
from tests.test_cli import cli

N = 25_000  # more than one export page and one archive record of points
IMAGE_STEPS = 50  # more than the 32 newest steps a key keeps: log-spaced older ones stay too


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
    # Texts: one on a key of its own, "nan" as three letters, and one after a key's numbers.
    run.log({"model": "gpt-4o", "note": "nan", "loss2": "diverged"}, step=7)
    for entity in range(5):
        run.event("birth", entity=entity, size=entity * 2)
    run.event("merge", entity="n-3", level="warning", into=[1, 2])
    run.event("merge", entity=[5, "n-6"], into=5)  # names two entities
    run.table("leaderboard", [{"trial": 1, "score": 0.5}, {"trial": 2, "score": 0.7}])
    run.table("history", [{"i": 1}], mode="append", max_rows=10)
    run.table("history", [{"i": 2}], mode="append", max_rows=10)
    run.points("embedding", [{"x": float(i), "y": -float(i), "label": f"p{i}"} for i in range(50)])
    for step in (0, 1, 2, 4, 5, 9):
        run.snapshot("footprint/7", [float(step), 1.0, 2.0], step=step)
    run.write_log("stdout", "hello")
    run.write_log("stderr", "warning: x")
    run.artifacts([{"kind": "checkpoint", "path": "ckpt/1.pt", "size": 3, "sha256": "ab" * 32}])
    log_media(run)
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


def log_media(run: runwatch.Run) -> None:
    """Images under several keys (one picture logged twice: one blob; one bigger than 128 KiB
    as base64), a heatmap, a label map naming an entity, and histograms over steps."""
    grid = np.arange(12, dtype=np.uint8).reshape(3, 4)
    for step in range(IMAGE_STEPS):
        rgb = np.stack([grid * 20, np.full_like(grid, step), grid[::-1] * 10], axis=-1)
        run.image("samples/rgb", rgb, step=step, caption=f"epoch {step}")
    same = np.full((2, 2, 3), 200, dtype=np.uint8)
    run.image("same/a", same, step=1, caption="twice")
    run.image("same/b", same, step=2, entity="n-3")
    run.image("heat", np.linspace(-1.0, 2.0, 6, dtype=np.float32).reshape(2, 3), step=5)
    labels = np.array([[0, 1, 1], [2, 2, 0]], dtype=np.int32)
    run.image("seg", labels, step=3, labels=True, entity=7, caption="<b>cells</b>")
    rng = np.random.default_rng(0)
    # Noise does not compress: its base64 is one CSV field over the csv module's 128 KiB default.
    run.image("noise", rng.integers(0, 256, (200, 200, 3), dtype=np.uint8), step=0)
    for step in range(12):
        run.histogram("weights", rng.normal(step, 1.0, 500), step=step, bins=16)
    run.histogram("grads", counts=[1, 0, 3], edges=[-1.0, 0.0, 0.5, 2.0], step=4)


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
    assert by_type["texts"] == [
        {"type": "texts", "texts": {"loss2": "diverged", "model": "gpt-4o", "note": "nan"}}
    ]
    # The run's own status events are not archived: the run record carries its status.
    events = [(e["kind"], e["level"], e["entity"], e["payload"]) for e in by_type["event"]]
    assert events == [
        *(("birth", "info", entity, {"size": entity * 2}) for entity in range(5)),
        ("merge", "warning", "n-3", {"into": [1, 2]}),
        ("merge", "info", 5, {"into": 5}),
    ]
    assert [e.get("entities") for e in by_type["event"]][-2:] == [None, [5, "n-6"]]
    # Each names an entity, so each carries the producer's step (its entities' birth).
    assert [e.get("step") for e in by_type["event"]] == [7] * 7
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
    media = by_type["media"]
    keys = ["heat", "noise", "same/a", "same/b", "samples/rgb", "seg"]
    assert sorted({m["key"] for m in media}) == keys
    rgb_steps = [m["step"] for m in media if m["key"] == "samples/rgb"]
    assert rgb_steps == [0, 1, 2, 4, 8, 16, *range(IMAGE_STEPS - 32, IMAGE_STEPS)]
    (seg,) = [m for m in media if m["key"] == "seg"]
    assert (seg["kind"], seg["entity"], seg["caption"]) == ("labels", 7, "<b>cells</b>")
    blobs = by_type["blob"]
    assert sorted(b["sha256"] for b in blobs) == sorted({m["sha256"] for m in media})
    for b in blobs:  # each blob once, its bytes whole, before the first entry naming it
        assert hashlib.sha256(base64.b64decode(b["data"])).hexdigest() == b["sha256"]
        first = next(i for i, r in enumerate(records) if r.get("sha256") == b["sha256"])
        assert records[first] is b
    (a,) = [m for m in media if m["key"] == "same/a"]
    (b,) = [m for m in media if m["key"] == "same/b"]
    assert a["sha256"] == b["sha256"] and b["entity"] == "n-3"
    histograms = [(h["key"], h["step"]) for h in by_type["histogram"]]
    assert histograms == [("grads", 4), *(("weights", step) for step in range(12))]
    assert by_type["histogram"][0]["counts"] == [1, 0, 3]


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
    # The summary, texts included, is the original's: a runs query finds the imported run too.
    assert info["summary"] == before["summary"] and info["summary"]["model"] == "gpt-4o"


def test_import_refuses_a_run_the_server_has_and_a_file_that_is_no_archive(
    source: tuple[ServerProcess, str], tmp_path: Path
) -> None:
    server, run_id = source
    archive = export(server, run_id, tmp_path / "a.jsonl")
    with server.client() as c:
        before = media_answers(c, run_id)
    again = cli("import", str(archive), env=_env(server))
    assert again.returncode == 1 and f"run {run_id} already exists" in again.stderr
    assert "Traceback" not in again.stderr
    assert export(server, run_id, tmp_path / "b.jsonl").read_bytes() == archive.read_bytes()
    with server.client() as c:  # nothing was sent: the run's images and histograms are as they were
        assert media_answers(c, run_id) == before
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


def media_answers(c: httpx.Client, run_id: str) -> dict[str, Any]:
    """What the media and histogram endpoints answer for the run, and every blob's bytes."""
    base = f"/api/v1/runs/{run_id}"
    keys = c.get(f"{base}/media", params={"limit": 1000}).json()
    out: dict[str, Any] = {"keys": keys, "items": {}, "near": {}, "blobs": {}, "histograms": {}}
    for entry in keys["keys"]:
        key = entry["key"]
        items = c.get(f"{base}/media/{key}", params={"limit": 1000}).json()
        out["items"][key] = items
        out["near"][key] = [
            c.get(f"{base}/media/{key}", params={"step": s}).json() for s in (-5, 3, 10, 100)
        ]
        for item in items["items"]:
            blob = c.get(item["url"])
            assert blob.status_code == 200
            out["blobs"][item["sha256"]] = (blob.headers["content-type"], blob.content)
    out["histogram_keys"] = c.get(f"{base}/histograms").json()
    for key in out["histogram_keys"]["keys"]:
        out["histograms"][key] = [
            c.get(f"{base}/histograms/{key}", params=params).json()
            for params in ({}, {"max_steps": 4}, {"start": 3, "end": 8})
        ]
    return out


@pytest.mark.parametrize("store", ["sqlite", "postgres"])
def test_images_blobs_and_histograms_answer_the_same_after_import(
    source: tuple[ServerProcess, str], tmp_path: Path, store: str
) -> None:
    server, run_id = source
    archive = export(server, run_id, tmp_path / "a.jsonl")
    with server.client() as c:
        before = media_answers(c, run_id)
    with fresh_database() if store == "postgres" else nullcontext("") as url:
        extra = ["--store", url] if url else []
        target = ServerProcess(tmp_path / "target", extra_args=extra).start()
        try:
            import_(target, archive)
            with target.client() as c:
                after = media_answers(c, run_id)
        finally:
            target.stop()
    assert after == before
    assert len(before["items"]["samples/rgb"]["items"]) == 6 + 32
    assert len(before["blobs"]) == 6 + 32 + 4  # the picture logged twice is one blob
    for sha, (_, data) in before["blobs"].items():
        assert hashlib.sha256(data).hexdigest() == sha
    (seg,) = before["items"]["seg"]["items"]
    assert (seg["kind"], seg["entity"], seg["mime"]) == ("labels", 7, "application/x-runwatch-i32")
    assert before["histogram_keys"]["keys"] == {"grads": 1, "weights": 12}


def test_a_blob_whose_bytes_do_not_match_its_hash_is_refused_naming_it(
    source: tuple[ServerProcess, str], tmp_path: Path
) -> None:
    server, run_id = source
    records = [
        json.loads(line)
        for line in export(server, run_id, tmp_path / "a.jsonl").read_text().splitlines()
    ]
    damaged = next(r for r in records if r["type"] == "blob")
    damaged["data"] = base64.b64encode(b"\x89PNG\r\n\x1a\n not the picture").decode()
    bad = tmp_path / "bad.jsonl"
    bad.write_text("".join(json.dumps(r) + "\n" for r in records))
    target = ServerProcess(tmp_path / "target").start()
    try:
        done = cli("import", str(bad), env=_env(target))
        with target.client() as c:
            media = c.get(f"/api/v1/runs/{run_id}/media").json()["keys"]
            run = c.get(f"/api/v1/runs/{run_id}").json()
    finally:
        target.stop()
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert f"blob {damaged['sha256']} in the archive does not match its bytes" in done.stderr
    assert media == []  # nothing names the damaged blob: it was never uploaded
    # The half-made run says so, rather than looking like a run still going.
    assert run["status"] == "failed"
    assert run["error"].startswith(f"import stopped: blob {damaged['sha256']} in the archive")


def test_a_version_2_archive_without_media_or_texts_still_imports(
    source: tuple[ServerProcess, str], tmp_path: Path
) -> None:
    server, run_id = source
    records = [
        json.loads(line)
        for line in export(server, run_id, tmp_path / "a.jsonl").read_text().splitlines()
    ]
    assert records[0]["version"] == 4
    old = [
        {**r, "version": 2} if r["type"] == "archive" else r
        for r in records
        if r["type"] not in ("blob", "media", "histogram", "texts")
    ]
    path = tmp_path / "v2.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in old))
    target = ServerProcess(tmp_path / "target").start()
    try:
        import_(target, path)
        with target.client() as c:
            info = c.get(f"/api/v1/runs/{run_id}").json()
            media = c.get(f"/api/v1/runs/{run_id}/media").json()["keys"]
            histograms = c.get(f"/api/v1/runs/{run_id}/histograms").json()["keys"]
    finally:
        target.stop()
    assert info["status"] == "failed" and info["name"] == "rich"
    assert media == [] and histograms == {}
    assert info["summary"]["loss2"] == "inf" and "model" not in info["summary"]


def test_a_failed_import_is_deleted_then_imported_again_whole(
    source: tuple[ServerProcess, str], tmp_path: Path
) -> None:
    """An import that stopped halfway leaves its run (``failed``), which blocks importing the
    archive again; ``runwatch runs delete`` removes it, and the archive then imports whole:
    exported again, it gives the same bytes (nothing of the half-made run is left)."""
    server, run_id = source
    archive = export(server, run_id, tmp_path / "a.jsonl")
    records = [json.loads(line) for line in archive.read_text().splitlines()]
    damaged = next(r for r in records if r["type"] == "blob")
    damaged["data"] = base64.b64encode(b"not the picture").decode()
    bad = tmp_path / "bad.jsonl"
    bad.write_text("".join(json.dumps(r) + "\n" for r in records))
    target = ServerProcess(tmp_path / "target").start()
    try:
        assert cli("import", str(bad), env=_env(target)).returncode == 1
        blocked = cli("import", str(archive), env=_env(target))
        assert blocked.returncode == 1 and f"run {run_id} already exists" in blocked.stderr
        deleted = cli("runs", "delete", run_id, "--yes", env=_env(target))
        assert deleted.returncode == 0, deleted.stderr
        import_(target, archive)
        assert export(target, run_id, tmp_path / "b.jsonl").read_bytes() == archive.read_bytes()
    finally:
        target.stop()
