"""`runwatch sync` uploads a spool's images several to a request across its batches, each once,
even when every batch names one image (a loop that logged an image a step): through a recording
proxy in front of a real server, with every image then read back from it. A blob the server
refuses stops the sync naming it, after the rest of its group is stored."""

from __future__ import annotations

import hashlib
from pathlib import Path

from runwatch.sdk import encode
from runwatch.sdk.blobs import named_in
from runwatch.sdk.run import Run
from runwatch.sdk.sender import SenderConfig
from runwatch.sdk.spool import spooled_bodies
from tests.proxy import Exchange, RecordingProxy
from tests.servers import ServerProcess, kept_images, sync_cli

KEYS = 8  # images go to keys round-robin: at most 32 steps a key, so every image is kept
ONE_A_BATCH = SenderConfig(max_batch_records=1, vitals_interval=0, backoff_cap=0.1)


def picture(i: int) -> bytes:
    """A distinct PNG for each image (PNG bytes are uploaded as they are)."""
    return encode.png(i.to_bytes(4, "big"), 2, 2, 1)


def offline_spool(tmp_path: Path, run_id: str, images: int) -> Path:
    """A spool whose producer never reached a server: one batch per image, then the status."""
    spec = {"id": run_id, "project": "sync", "name": run_id, "tags": [], "config": {}}
    run = Run(spec, [""], None, tmp_path / "run", ONE_A_BATCH)  # no URL: nothing is reached
    for i in range(images):
        run.image(f"k{i % KEYS}", picture(i), step=i // KEYS)
    assert not run.finish(timeout=0.5)  # its sender is done: the spool is no longer locked
    named = [len(named_in(body)) for _, body in spooled_bodies(run.spool_path)]
    assert max(named) == 1 and sum(named) == images  # one image a batch
    return run.spool_path


def uploads(proxy: RecordingProxy) -> list[Exchange]:
    return [e for e in proxy.exchanges if e.blobs is not None]


def test_sync_sends_one_image_a_batch_in_groups_each_once(tmp_path: Path) -> None:
    images = 200
    spool = offline_spool(tmp_path, "groups01", images)
    server = ServerProcess(tmp_path / "data").start()
    try:
        with RecordingProxy(server.url) as proxy:
            done = sync_cli(spool, proxy.url)
        assert done.returncode == 0, done.stderr
        sent = uploads(proxy)
        assert all(200 <= e.status < 300 for e in sent), [e.status for e in sent]
        uploaded = sorted(sha256 for e in sent for sha256 in e.blobs or ())
        assert uploaded == sorted(hashlib.sha256(picture(i)).hexdigest() for i in range(images))
        assert len(sent) * 4 <= images, f"{len(sent)} upload requests for {images} images"
        want = {(f"k{i % KEYS}", i // KEYS): picture(i) for i in range(images)}
        assert kept_images(server, "groups01") == want
        with server.client() as c:
            assert c.get("/api/v1/runs/groups01").json()["status"] == "succeeded"
    finally:
        server.stop()


def test_sync_names_a_refused_blob_after_storing_the_rest_of_its_group(tmp_path: Path) -> None:
    images, bad = 40, 20
    spool = offline_spool(tmp_path, "groups02", images)
    damaged = hashlib.sha256(picture(bad)).hexdigest()
    (blob,) = spool.parent.glob(f"blobs/*/{damaged}.png")
    blob.write_bytes(picture(bad)[:-4])  # its bytes no longer its name's SHA-256
    server = ServerProcess(tmp_path / "data").start()
    try:
        with RecordingProxy(server.url) as proxy:
            done = sync_cli(spool, proxy.url)
        assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
        (line,) = [x for x in done.stderr.splitlines() if x.startswith("runwatch: error:")]
        assert f"image blob {damaged}" in line and "hash_mismatch" in line, line
        sent = uploads(proxy)
        refused = next(i for i, e in enumerate(sent) if e.status == 400)
        assert damaged in (sent[refused].blobs or ())
        rest = tuple(sha256 for sha256 in sent[refused].blobs or () if sha256 != damaged)
        assert rest, "the damaged blob went up alone"
        # The rest of its group go again at once, and are stored.
        assert (sent[refused + 1].blobs, sent[refused + 1].status) == (rest, 201)
        # Every batch before the damaged image's is in; none from it on.
        want = {(f"k{i % KEYS}", i // KEYS): picture(i) for i in range(bad)}
        assert kept_images(server, "groups02") == want
    finally:
        server.stop()
