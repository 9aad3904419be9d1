"""A producer that logs images as fast as it can: seen live, kept alive, and nothing lost."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import msgspec
import numpy as np
import pytest

import runwatch
from runwatch.sdk.sync import SyncError, sync_spool
from runwatch.sdk.transport import Transport
from tests.proxy import RecordingProxy
from tests.servers import ServerProcess


def test_a_fast_image_producer_is_seen_live_and_its_run_stays_alive(
    server: ServerProcess, tmp_path: Path
) -> None:
    # Two new images a step, at full speed: far more than the server takes in, so images queue
    # up behind the scalars. The scalars must still arrive while the loop runs, and the run
    # must not be taken for crashed (heartbeat 1 s: crashed after 3 s of silence).
    run = runwatch.init(project="media", url=server.url, run_dir=tmp_path / "run", heartbeat=1.0)
    base = np.random.default_rng(0).random((64, 64), dtype=np.float32)
    rgb = np.zeros((64, 64, 3), dtype=np.uint8)
    statuses: set[str] = set()
    seen = -1
    step = 0
    deadline = time.monotonic() + 60
    with server.client() as c:
        while seen < 100:
            assert time.monotonic() < deadline, f"the server saw step {seen} of {step} logged"
            run.log({"at": float(step)}, step=step)
            run.image("a/heat", base + step, step=step)
            rgb[0, 0] = (step % 256, step // 256 % 256, 0)
            run.image("a/rgb", rgb, step=step)
            step += 1
            if step % 50 == 0:
                info = c.get(f"/api/v1/runs/{run.id}").json()
                statuses.add(info["status"])
                seen = int(info["summary"].get("at", -1))
    logged = step
    assert run.finish()
    assert statuses == {"running"}
    with server.client() as c:
        info = c.get(f"/api/v1/runs/{run.id}").json()
        assert (info["status"], info["summary"]["at"]) == ("succeeded", logged - 1)
        for key in ("a/heat", "a/rgb"):
            items = c.get(f"/api/v1/runs/{run.id}/media/{key}").json()["items"]
            assert items[-1]["step"] == logged - 1


PRODUCER = textwrap.dedent(
    """
    import sys
    import numpy as np
    import runwatch

    url, run_dir, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    run = runwatch.init(project="media", url=url, run_dir=run_dir)
    print(run.id, flush=True)
    base = np.random.default_rng(0).random((128, 128), dtype=np.float32)
    for step in range(n):
        run.log({"at": float(step)}, step=step)
        run.image("heat", base + step, step=step)
    print(run.finish(timeout=0.2), flush=True)
    """
)


def test_finish_spools_every_queued_image_before_it_returns(tmp_path: Path) -> None:
    # finish(timeout=0.2) with the server down and some 2,000 images still to encode: the
    # wait for the network ends long before the encoding, but finish() returns only once all
    # of it is in the spool. The process then exits (the SDK's threads with it), and a later
    # sync delivers every record and the final status, the images several to a request.
    server = ServerProcess(tmp_path / "data")  # not started: the producer runs offline
    n = 2_000
    run_id, spool = offline_spool(tmp_path, server.url, n)
    server.start()
    try:
        with RecordingProxy(server.url) as proxy:
            transport = Transport([proxy.url], None)
            try:
                sync_spool(spool, transport)
            finally:
                transport.close()
            uploads = [e.status for e in proxy.exchanges if "/blobs" in e.path]
        assert set(uploads) <= {200, 201}
        assert len(uploads) * 4 <= n, f"{len(uploads)} requests for {n} images"
        with server.client() as c:
            info = c.get(f"/api/v1/runs/{run_id}").json()
            assert (info["status"], info["summary"]["at"]) == ("succeeded", n - 1)
            items = c.get(f"/api/v1/runs/{run_id}/media/heat").json()["items"]
            assert items[-1]["step"] == n - 1
    finally:
        server.stop()


def test_a_fast_image_producers_blobs_go_up_in_groups_each_once(
    server: ServerProcess, tmp_path: Path
) -> None:
    # Images logged far faster than one request a blob could take them: they go up several to
    # a request, each blob once, every one of them before the batch that names it.
    named: set[str] = set()  # the images the batches name

    def note(method: str, path: str, body: bytes) -> bool:
        if path.endswith("/batches"):
            named.update(m["sha256"] for m in msgspec.json.decode(body).get("media", []))
        return False  # forwarded: the proxy only watches

    steps = 300
    with RecordingProxy(server.url, refuse=note) as proxy:
        run = runwatch.init(project="media", url=proxy.url, run_dir=tmp_path / "run")
        base = np.random.default_rng(0).random((64, 64), dtype=np.float32)
        rgb = np.zeros((64, 64, 3), dtype=np.uint8)
        for step in range(steps):
            run.log({"at": float(step)}, step=step)
            run.image("heat", base + step, step=step)
            rgb[0, 0] = (step % 256, step // 256, 0)
            run.image("rgb", rgb, step=step)
        assert run.finish()
        uploads = [e for e in proxy.exchanges if e.blobs is not None]
    answers = [(e.method, e.status) for e in uploads]
    uploaded = [sha256 for e in uploads for sha256 in e.blobs or ()]  # once per time sent
    assert len(named) == 2 * steps  # every image is new bytes
    assert sorted(uploaded) == sorted(named)  # each blob up once
    assert all(200 <= status < 300 for _, status in answers), answers
    assert len(answers) * 4 <= len(uploaded), f"{len(answers)} requests for {len(uploaded)} blobs"
    assert any(method == "POST" for method, _ in answers)
    with server.client() as c:
        for key in ("heat", "rgb"):
            items = c.get(f"/api/v1/runs/{run.id}/media/{key}").json()["items"]
            assert items[-1]["step"] == steps - 1


def offline_spool(tmp_path: Path, url: str, n: int) -> tuple[str, Path]:
    """Run PRODUCER against ``url`` with no server there (so ``finish()`` is False): its run id
    and spool, ``n`` images in its blob directory."""
    script = tmp_path / "producer.py"
    script.write_text(PRODUCER)
    run_dir = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, str(script), url, str(run_dir), str(n)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    run_id, delivered = done.stdout.split()
    assert delivered == "False"
    (spool,) = run_dir.glob("spool-*.jsonl")
    return run_id, spool


def test_sync_names_the_blob_a_group_upload_was_refused_for(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data")
    _, spool = offline_spool(tmp_path, server.url, 20)
    files = sorted(spool.parent.glob("blobs/*/*"))
    bad = files[len(files) // 2]
    bad.write_bytes(bad.read_bytes()[:-4])  # its bytes no longer its name's SHA-256
    server.start()
    try:
        transport = Transport([server.url], None)
        try:
            with pytest.raises(SyncError, match=f"image blob {bad.stem}.*hash_mismatch"):
                sync_spool(spool, transport)
        finally:
            transport.close()
    finally:
        server.stop()
