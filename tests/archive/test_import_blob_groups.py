"""`runwatch import` uploads an archive's image blobs several to a request, each once, before
the batches naming them: through a recording proxy in front of a real server, with every image
then read back from it. A blob the server refuses stops the import naming it, after the rest of
its group is stored."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest

import runwatch
from runwatch.sdk import encode
from tests.proxy import Exchange, RecordingProxy
from tests.servers import ServerProcess, kept_images
from tests.test_cli import cli

KEYS = 12  # images go to keys round-robin: at most 32 steps a key, so every image is kept
IMAGES = 240


def picture(i: int) -> bytes:
    """A distinct PNG for each image (PNG bytes are uploaded as they are)."""
    return encode.png(i.to_bytes(4, "big"), 2, 2, 1)


def env(url: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("RUNWATCH_")}
    return {**clean, "RUNWATCH_URL": url}


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """The records of an exported run of IMAGES distinct images."""
    root = tmp_path_factory.mktemp("source")
    source = ServerProcess(root / "data").start()
    try:
        run = runwatch.init(project="imp", url=source.url, run_dir=root / "run", run_id="imp01")
        for i in range(IMAGES):
            run.image(f"k{i % KEYS}", picture(i), step=i // KEYS)
        assert run.finish()
        done = cli("export", "imp01", "-o", str(root / "a.jsonl"), env=env(source.url))
        assert done.returncode == 0, done.stderr
    finally:
        source.stop()
    return [json.loads(line) for line in (root / "a.jsonl").read_text().splitlines()]


def import_through_proxy(
    records: list[dict[str, Any]], tmp_path: Path
) -> tuple[ServerProcess, Any, list[Exchange]]:
    """Import ``records`` into a fresh server through a recording proxy; the server (started:
    the caller stops it), the CLI's outcome and the blob uploads."""
    path = tmp_path / "archive.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    target = ServerProcess(tmp_path / "target").start()
    with RecordingProxy(target.url) as proxy:
        done = cli("import", str(path), env=env(proxy.url))
    return target, done, [e for e in proxy.exchanges if e.blobs is not None]


def test_import_uploads_the_images_in_groups_each_once(
    archive: list[dict[str, Any]], tmp_path: Path
) -> None:
    blobs = [r["sha256"] for r in archive if r["type"] == "blob"]
    assert len(blobs) == IMAGES
    target, done, sent = import_through_proxy(archive, tmp_path)
    try:
        assert done.returncode == 0, done.stderr
        assert all(200 <= e.status < 300 for e in sent), [e.status for e in sent]
        assert sorted(sha256 for e in sent for sha256 in e.blobs or ()) == sorted(blobs)
        assert len(sent) * 4 <= IMAGES, f"{len(sent)} upload requests for {IMAGES} images"
        want = {(f"k{i % KEYS}", i // KEYS): picture(i) for i in range(IMAGES)}
        assert kept_images(target, "imp01") == want
    finally:
        target.stop()


def test_import_names_a_refused_blob_after_storing_the_rest_of_its_group(
    archive: list[dict[str, Any]], tmp_path: Path
) -> None:
    # A blob whose bytes match their hash but are no PNG: only the server can tell.
    records = [dict(r) for r in archive]
    blob = [r for r in records if r["type"] == "blob"][10]
    data = b"not a png at all"
    bad = hashlib.sha256(data).hexdigest()
    for r in records:
        if r.get("sha256") == blob["sha256"]:
            r["sha256"] = bad
    blob["data"] = base64.b64encode(data).decode()
    target, done, sent = import_through_proxy(records, tmp_path)
    try:
        assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
        (line,) = [x for x in done.stderr.splitlines() if x.startswith("runwatch: error:")]
        assert f"image blob {bad}" in line and "invalid_blob" in line, line
        refused = next(i for i, e in enumerate(sent) if e.status == 400)
        assert bad in (sent[refused].blobs or ())
        rest = tuple(sha256 for sha256 in sent[refused].blobs or () if sha256 != bad)
        assert rest, "the refused blob went up alone"
        # The rest of its group go again at once, and are stored.
        assert (sent[refused + 1].blobs, sent[refused + 1].status) == (rest, 201)
        with target.client() as c:
            run = c.get("/api/v1/runs/imp01").json()
        assert run["status"] == "failed"
        assert run["error"].startswith(f"import stopped: image blob {bad}")
    finally:
        target.stop()
