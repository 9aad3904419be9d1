"""Image blobs beside the spool are bounded: each is deleted once every batch naming it is
acknowledged, kept while one is not (a repeat in two batches until both are), and a killed
producer's are delivered by `runwatch sync`, which then deletes them. A real server on loopback
(behind a proxy that holds chosen batches back), real files, the polite producer and the fast one
(images encoded and spooled on the calling thread)."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from runwatch.sdk import encode
from runwatch.sdk.run import Run
from runwatch.sdk.sender import SenderConfig
from runwatch.sdk.spool import write_acked
from runwatch.sdk.sync import sync_spool
from runwatch.sdk.transport import Transport
from tests.proxy import RecordingProxy
from tests.reliability.test_burst import sync, with_repo_on_path
from tests.servers import ServerProcess, wait_until

POLITE = SenderConfig(vitals_interval=0, backoff_base=0.05, backoff_cap=0.1)
# Every image encoded and written on the calling thread (past media_pending_bytes), and the queue
# spooled there too (past queue_cap, between the sender's flush intervals).
FAST = SenderConfig(
    vitals_interval=0, backoff_base=0.05, backoff_cap=0.1, media_pending_bytes=1, queue_cap=4,
    flush_interval=1.0, max_batch_records=5_000,
)  # fmt: skip
CONFIGS = pytest.mark.parametrize("config", [POLITE, FAST], ids=["polite", "fast"])
KEYS = 4
STEPS = 10  # per phase; two phases stay within a key's newest 32 steps
SAME = encode.png(b"\x07" * 12, 2, 2, 3)  # one image logged at every step


def picture(key: int, step: int) -> bytes:
    """A distinct PNG for each key and step (PNG bytes are uploaded as they are)."""
    return encode.png((key * 1000 + step).to_bytes(4, "big"), 2, 2, 1)


def blob_files(run_dir: Path) -> list[Path]:
    return sorted(p for p in (run_dir / "blobs").rglob("*") if p.is_file())


def run_spec(run_id: str) -> dict[str, object]:
    return {"id": run_id, "project": "blobs", "name": run_id, "tags": [], "config": {}}


def stored_images(server: ServerProcess, run_id: str, key: str) -> dict[int, bytes]:
    """Each kept step of an image key and its blob's bytes."""
    with server.client() as c:
        reply = c.get(f"/api/v1/runs/{run_id}/media/{key}")
        if reply.status_code != 200:
            return {}
        got = reply.json()["items"]
        steps = [i["step"] for i in got]
        assert len(steps) == len(set(steps)), steps  # each step once
        return {i["step"]: c.get(i["url"]).content for i in got}


def assert_every_image_once(server: ServerProcess, run_id: str, steps: range) -> None:
    for k in range(KEYS):
        assert stored_images(server, run_id, f"d{k}") == {s: picture(k, s) for s in steps}
    assert stored_images(server, run_id, "same") == dict.fromkeys(steps, SAME)
    assert stored_images(server, run_id, "again") == {0: SAME}  # the same bytes, another key


def spool_lines(run: Run) -> list[str]:
    """The spool's batch lines as text."""
    return run.spool_path.read_text().splitlines()[1:]


def log_phase(run: Run, steps: range) -> None:
    for step in steps:
        run.log({"loss": float(step)}, step=step)
        for k in range(KEYS):
            run.image(f"d{k}", picture(k, step), step=step)
        run.image("same", SAME, step=step)


@CONFIGS
def test_a_delivered_run_leaves_no_blob_and_the_server_has_each_image_once(
    server: ServerProcess, tmp_path: Path, config: SenderConfig
) -> None:
    run = Run(run_spec("done01"), [server.url], None, tmp_path / "run", config)
    log_phase(run, range(2 * STEPS))
    run.image("again", SAME, step=0)
    assert run.finish()
    if config == FAST:
        assert run._sender.spilled > 0  # the calling thread spooled images itself
    assert_every_image_once(server, "done01", range(2 * STEPS))
    assert blob_files(tmp_path / "run") == []
    assert not (tmp_path / "run" / "blobs" / run.producer).exists()


def test_a_blob_stays_until_every_batch_naming_it_is_acknowledged(
    server: ServerProcess, tmp_path: Path
) -> None:
    held = {b'"key":"x","step":0,', b'"key":"x","step":1,'}  # batches naming these wait
    posted: list[bytes] = []

    def refuse(method: str, path: str, body: bytes) -> bool:
        if not path.endswith("/batches"):
            return False
        posted.append(body)
        return any(h in body for h in held)

    def was_held(marker: bytes) -> bool:
        return any(marker in body for body in posted)

    with RecordingProxy(server.url, refuse=refuse) as proxy:
        config = SenderConfig(vitals_interval=0, backoff_base=0.02, backoff_cap=0.05)
        run = Run(run_spec("held01"), [proxy.url], None, tmp_path / "run", config)
        run.image("x", SAME, step=0)
        wait_until(lambda: was_held(b'"key":"x","step":0,'), 20, what="the first batch")
        run.image("x", SAME, step=1)  # the same blob, in a second batch behind the first
        wait_until(
            lambda: any('"key":"x","step":1,' in line for line in spool_lines(run)),
            20,
            what="the second batch spooled",
        )
        (kept,) = blob_files(tmp_path / "run")  # one file for both
        held.discard(b'"key":"x","step":0,')
        # The second batch is posted only once the first was acknowledged and released.
        wait_until(lambda: was_held(b'"key":"x","step":1,'), 20, what="the second batch")
        assert stored_images(server, "held01", "x") == {0: SAME}
        assert kept.exists()  # still named by the unacknowledged second batch
        other = picture(9, 9)
        run.image("y", other, step=2)  # behind the held batch: not acknowledged either
        wait_until(lambda: len(blob_files(tmp_path / "run")) == 2, 20, what="the second blob")
        held.clear()
        assert run.finish()
    assert stored_images(server, "held01", "x") == {0: SAME, 1: SAME}
    assert stored_images(server, "held01", "y") == {2: other}
    assert blob_files(tmp_path / "run") == []


def test_sync_beside_a_live_producer_keeps_its_blobs(server: ServerProcess, tmp_path: Path) -> None:
    hold = threading.Event()
    hold.set()
    with RecordingProxy(
        server.url, refuse=lambda m, p, b: hold.is_set() and p.endswith("/batches")
    ) as proxy:
        config = SenderConfig(vitals_interval=0, backoff_base=0.02, backoff_cap=0.05)
        run = Run(run_spec("live01"), [proxy.url], None, tmp_path / "run", config)
        run.image("x", SAME, step=0)
        wait_until(lambda: any('"media"' in line for line in spool_lines(run)), 20, what="a spool")
        transport = Transport([server.url], None)
        try:
            assert sync_spool(run.spool_path, transport).batches >= 1
        finally:
            transport.close()
        assert stored_images(server, "live01", "x") == {0: SAME}
        # The producer is alive (its spool is locked): its blob is its own to delete.
        assert len(blob_files(tmp_path / "run")) == 1
        hold.clear()
        assert run.finish()  # its batch is a duplicate now, acknowledged all the same
    assert blob_files(tmp_path / "run") == []


@CONFIGS
def test_a_killed_producers_images_are_synced_once_and_its_blobs_deleted(
    tmp_path: Path, config: SenderConfig
) -> None:
    server = ServerProcess(tmp_path / "data").start()
    run_dir = tmp_path / "run"
    script = tmp_path / "producer.py"
    script.write_text(
        textwrap.dedent(f"""
            import sys
            from pathlib import Path
            from runwatch.sdk.run import Run
            from runwatch.sdk.sender import SenderConfig
            from runwatch.sdk.spool import read_batches
            from tests.sdk.test_blobs import SAME, STEPS, log_phase, run_spec
            from tests.servers import wait_until
            run = Run(run_spec("killed01"), [{server.url!r}], None, Path({str(run_dir)!r}),
                      {config!r})
            log_phase(run, range(STEPS))
            run.image("again", SAME, step=0)
            print("logged", flush=True)
            sys.stdin.readline()  # the server is down now: what follows stays unsent
            log_phase(run, range(STEPS, 2 * STEPS))
            wait_until(
                lambda: sum(
                    1 for b in read_batches(run.spool_path) for m in b.get("media", ())
                    if m["step"] == 2 * STEPS - 1
                ) == 5,
                60,
                what="every image spooled",
            )
            print("spooled", flush=True)
            sys.stdin.readline()
        """)
    )
    producer = subprocess.Popen(
        [sys.executable, str(script)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, env=with_repo_on_path(),
    )  # fmt: skip
    try:
        assert producer.stdin is not None and producer.stdout is not None
        assert producer.stdout.readline() == "logged\n"
        wait_until(
            lambda: len(stored_images(server, "killed01", "same")) == STEPS,
            60,
            what="the first half delivered",
        )
        server.stop()
        producer.stdin.write("go\n")
        producer.stdin.flush()
        assert producer.stdout.readline() == "spooled\n"
        os.kill(producer.pid, signal.SIGKILL)
        producer.wait(10)
        assert len(blob_files(run_dir)) >= KEYS  # the unsent images are kept for sync
        server.start()
        done = sync(run_dir, server.url)
        assert done.returncode == 0, done.stderr
        assert_every_image_once(server, "killed01", range(2 * STEPS))
        assert blob_files(run_dir) == []
    finally:
        if producer.poll() is None:
            producer.kill()
        producer.communicate(timeout=10)  # its pipes closed
        server.stop()


def test_sync_posts_a_batch_whose_blob_was_deleted_once_delivered(
    server: ServerProcess, tmp_path: Path
) -> None:
    run = Run(run_spec("stale01"), [server.url], None, tmp_path / "run", POLITE)
    log_phase(run, range(STEPS))
    run.image("again", SAME, step=0)
    assert run.finish()
    assert blob_files(tmp_path / "run") == []
    # As a sync sees it when it read the offset just before the producer recorded its acks.
    write_acked(run.spool_path, 0)
    transport = Transport([server.url], None)
    try:
        result = sync_spool(run.spool_path, transport)
    finally:
        transport.close()
    assert result.batches > 0 and result.duplicates == result.batches
    assert_every_image_once(server, "stale01", range(STEPS))


def test_two_syncs_at_once_deliver_a_dead_producers_images_once(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data")  # not started: the producer runs offline
    run = Run(run_spec("twice01"), [server.url], None, tmp_path / "run", POLITE)
    log_phase(run, range(STEPS))
    run.image("again", SAME, step=0)
    assert not run.finish(timeout=0.5)  # its sender is done: the spool is no longer locked
    assert len(blob_files(tmp_path / "run")) == KEYS * STEPS + 1
    server.start()
    errors: list[BaseException] = []

    def one_sync() -> None:
        transport = Transport([server.url], None)
        try:
            sync_spool(run.spool_path, transport)
        except BaseException as exc:  # reported below, on the test's thread
            errors.append(exc)
        finally:
            transport.close()

    try:
        syncs = [threading.Thread(target=one_sync) for _ in range(2)]
        for t in syncs:
            t.start()
        for t in syncs:
            t.join(120)
        assert errors == []
        assert_every_image_once(server, "twice01", range(STEPS))
        assert blob_files(tmp_path / "run") == []
    finally:
        server.stop()


def as_legacy(run_dir: Path) -> None:
    """Move each producer's blobs to ``blobs/`` itself, where producers before the per-producer
    layout wrote them (same names: ``<sha256><ext>``), and date them an hour back."""
    flat = run_dir / "blobs"
    for producer in [p for p in flat.iterdir() if p.is_dir()]:
        for blob in producer.iterdir():
            os.utime(blob.rename(flat / blob.name), (time.time() - 3600,) * 2)
        producer.rmdir()


def test_sync_deletes_a_legacy_flat_blob_once_no_unacknowledged_batch_names_it(
    tmp_path: Path,
) -> None:
    server = ServerProcess(tmp_path / "data")  # not started: the producers run offline
    run_dir = tmp_path / "run"
    main = Run(run_spec("legacy01"), [server.url], None, run_dir, POLITE)
    worker = Run(run_spec("legacy01"), [server.url], None, run_dir, POLITE, attached=True)
    for step in range(STEPS):
        main.image("same", SAME, step=step)
        main.image("d0", picture(0, step), step=step)
        worker.image("d1", picture(1, step), step=step)
    worker.image("again", SAME, step=0)  # the same file as the main producer's "same"
    assert not worker.finish(timeout=0.5) and not main.finish(timeout=0.5)
    as_legacy(run_dir)
    flat = run_dir / "blobs"
    fresh = flat / f"{'0' * 64}.png"  # as a producer of the old layout writes it before its batch
    fresh.write_bytes(picture(9, 9))
    assert len(blob_files(run_dir)) == 2 * STEPS + 2
    server.start()
    try:
        # The worker first: the main producer's final status closes the run.
        done = sync(worker.spool_path, server.url)
        assert done.returncode == 0, done.stderr
        assert stored_images(server, "legacy01", "d1") == {s: picture(1, s) for s in range(STEPS)}
        # The worker's own blobs are gone; the one the main producer's unsent batches name stays.
        named_by_main = [picture(0, s) for s in range(STEPS)] + [SAME]
        assert {p.name for p in blob_files(run_dir)} == {fresh.name} | {
            f"{hashlib.sha256(image).hexdigest()}.png" for image in named_by_main
        }
        done = sync(main.spool_path, server.url)
        assert done.returncode == 0, done.stderr
        assert stored_images(server, "legacy01", "d0") == {s: picture(0, s) for s in range(STEPS)}
        assert stored_images(server, "legacy01", "same") == dict.fromkeys(range(STEPS), SAME)
        assert stored_images(server, "legacy01", "again") == {0: SAME}
        # Named by no batch, but younger than the grace: perhaps one an old producer is about
        # to name.
        assert blob_files(run_dir) == [fresh]
    finally:
        server.stop()


def test_a_blob_refused_in_a_group_costs_only_its_own_image(
    server: ServerProcess, tmp_path: Path
) -> None:
    # Each image in a batch of its own; their uploads held back until all are queued, so they
    # go up as one group. One file is damaged meanwhile (its bytes no longer its hash): the
    # server refuses the group naming that blob; the others are stored, and only the batch of
    # the damaged image is refused for good, as a refused PUT's batch always was.
    hold = threading.Event()
    hold.set()
    blob_requests: list[str] = []

    def refuse(method: str, path: str, body: bytes) -> bool:
        if "/blobs" in path:
            blob_requests.append(method)
        return hold.is_set() and "/blobs" in path

    steps = 6
    with RecordingProxy(server.url, refuse=refuse) as proxy:
        run = Run(run_spec("group01"), [proxy.url], None, tmp_path / "run", POLITE)
        for step in range(steps):
            run.image("d0", picture(0, step), step=step)
            wait_until(lambda n=step: run._sender.taken > n, 20, what=f"step {step} taken")
        wait_until(lambda: len(blob_files(tmp_path / "run")) == steps, 20, what="the blob files")
        bad = blob_files(tmp_path / "run")[2]
        bad.write_bytes(bad.read_bytes() + b"!")
        # An upload read before the damage may be on its way: the second one the proxy sees
        # after it was read after it (one request at a time), so the good bytes never pass.
        seen = len(blob_requests)
        wait_until(lambda: len(blob_requests) >= seen + 2, 20, what="an upload of the damage")
        hold.clear()
        assert not run.finish()  # the damaged image's batch was refused for good
    assert "POST" in blob_requests
    expected = {
        s: picture(0, s)
        for s in range(steps)
        if hashlib.sha256(picture(0, s)).hexdigest() != bad.stem
    }
    assert len(expected) == steps - 1
    assert stored_images(server, "group01", "d0") == expected
