"""The SDK against a real server: batching, spool, never raising, outages, final status."""

from __future__ import annotations

import random
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import httpx
import pytest

import runwatch
from runwatch.sdk.outbox import COMPACT_BYTES, Outbox
from runwatch.sdk.run import Run
from runwatch.sdk.sender import SenderConfig
from runwatch.sdk.spool import SpoolWriter, read_acked, read_batches, read_header
from tests.servers import ServerProcess, wait_until


def values(server: ServerProcess, run_id: str, key: str) -> list:
    with server.client() as c:
        series = c.get(
            f"/api/v1/runs/{run_id}/metrics", params={"keys": key, "max_points": 20000}
        ).json()
    return series["series"].get(key, {}).get("value", [])


def get_run(server: ServerProcess, run_id: str) -> dict:
    with server.client() as c:
        return c.get(f"/api/v1/runs/{run_id}").json()


def test_spool_holds_every_record_tagged_with_its_batch(
    server: ServerProcess, tmp_path: Path
) -> None:
    with runwatch.init(project="sdk", url=server.url, run_dir=tmp_path / "run") as run:
        for i in range(2500):
            run.log({"a": float(i)}, step=i)
        run.event("birth", entity=1, size=2)
    header = read_header(run.spool_path)
    assert header["run"]["id"] == run.id and header["producer"] == run.producer
    batches = list(read_batches(run.spool_path))
    assert [b["batch_seq"] for b in batches] == list(range(1, len(batches) + 1))
    steps = [p[0] for b in batches for p in b["points"]]
    assert steps == list(range(2500))
    assert [e["kind"] for b in batches for e in b["events"]] == ["birth"]
    assert batches[-1]["status"]["state"] == "succeeded"
    assert values(server, run.id, "a") == [float(i) for i in range(2500)]


def test_log_never_raises_and_keeps_good_values(
    server: ServerProcess, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    class Opaque:
        pass

    with runwatch.init(project="sdk", url=server.url, run_dir=tmp_path / "run") as run:
        run.log({"good": 1, "bad": Opaque(), "flag": True, "nested": {"inner": 2.5}}, step=0)
        run.log(None)  # type: ignore[arg-type]
        run.log({"nan": float("nan"), "inf": float("inf")}, step=1)
        run.event("odd", entity=Opaque(), level="loud", obj=Opaque(), nums=(1, 2))  # type: ignore[arg-type]
    assert values(server, run.id, "good") == [1.0]
    assert values(server, run.id, "flag") == [1.0]
    assert values(server, run.id, "nested/inner") == [2.5]
    assert values(server, run.id, "nan") == ["nan"] and values(server, run.id, "inf") == ["inf"]
    assert values(server, run.id, "bad") == []
    with server.client() as c:
        events = c.get(f"/api/v1/runs/{run.id}/events", params={"kind": "odd"}).json()["events"]
    assert events[0]["level"] == "info" and events[0]["payload"]["nums"] == [1, 2]
    err = capfd.readouterr().err
    assert "'bad' is not a number" in err and "log() failed" in err


def test_exception_in_with_block_marks_the_run_failed(
    server: ServerProcess, tmp_path: Path
) -> None:
    with (
        pytest.raises(ZeroDivisionError),
        runwatch.init(project="sdk", url=server.url, run_dir=tmp_path) as run,
    ):
        run.log({"x": 1.0})
        _ = 1 / 0
    info = get_run(server, run.id)
    assert info["status"] == "failed" and "ZeroDivisionError" in info["error"]


@pytest.mark.parametrize(
    ("tail", "status"),
    [
        ("", "succeeded"),
        ("raise RuntimeError('boom')", "failed"),
        ("raise KeyboardInterrupt", "cancelled"),  # Ctrl-C, as in a with block
    ],
)
def test_a_script_that_never_finishes_is_finished_at_exit(
    server: ServerProcess, tmp_path: Path, tail: str, status: str
) -> None:
    script = tmp_path / "train.py"
    script.write_text(
        textwrap.dedent(f"""
        import runwatch
        run = runwatch.init(project="sdk", url={server.url!r})
        print(run.id, flush=True)
        run.log({{"x": 1.0}})
        {tail}
    """)
    )
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path, timeout=60
    )
    run_id = done.stdout.split()[0]
    info = get_run(server, run_id)
    assert info["status"] == status
    if status == "failed":
        assert "RuntimeError: boom" in info["error"]
    if status == "cancelled":
        assert info["error"] == "interrupted (KeyboardInterrupt)"


def test_a_long_delivered_run_keeps_no_delivered_spool(
    server: ServerProcess, tmp_path: Path
) -> None:
    """200,000 points (about 20 MB of batches) finished and acknowledged: the spool is cut back
    to its header, nothing is left for `runwatch sync`, and the server holds every point."""
    run = runwatch.init(project="sdk", url=server.url, run_dir=tmp_path / "run")
    for i in range(200_000):
        run.log({"loss": float(i), "acc": 1.0 / (i + 1)}, step=i)
    assert run.finish(timeout=120)
    header = len(run.spool_path.read_bytes().split(b"\n")[0]) + 1
    assert run.spool_path.stat().st_size <= header + COMPACT_BYTES
    assert read_acked(run.spool_path) == run.spool_path.stat().st_size
    with server.client() as c:
        params = {"keys": "loss", "max_points": 1}
        series = c.get(f"/api/v1/runs/{run.id}/metrics", params=params).json()["series"]
    assert sum(series["loss"]["count"]) == 200_000
    assert get_run(server, run.id)["status"] == "succeeded"
    again = subprocess.run(
        [sys.executable, "-m", "runwatch", "sync", str(tmp_path / "run"), "--url", server.url],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert again.returncode == 0 and "nothing to send" in again.stdout, again.stderr


def test_a_batch_spooled_after_a_cut_reads_back_as_itself(tmp_path: Path) -> None:
    """A batch read back from the spool after it was cut is the new batch at that offset, not
    the delivered one the reader still holds in its buffer from before the cut."""
    outbox = Outbox(SpoolWriter(tmp_path / "spool.jsonl", {"id": "r1"}, "p1"), cap_bytes=0)
    outbox.add(b'{"old": 1}', 1)  # not cached: read back from the spool
    outbox.cap_bytes = 2 * COMPACT_BYTES  # the next ones are cached (and spooled after it)
    outbox.add(b'{"next": 1}', 1)
    assert outbox.head() == b'{"old": 1}'  # the reader's buffer now holds the next one too
    outbox.ack()
    for _ in range(5):
        outbox.add(b"x" * (COMPACT_BYTES // 4), 1)
    while outbox.batches:
        outbox.ack()
    assert outbox.compact()
    outbox.cap_bytes = 0
    outbox.add(b'{"new": 2}', 1)  # at the offset the first batch had
    assert outbox.head() == b'{"new": 2}'
    outbox.close()


def test_finish_returns_when_the_server_is_down_and_the_spool_keeps_everything(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    run = runwatch.init(project="sdk", url="http://127.0.0.1:9", run_dir=tmp_path / "run")
    for i in range(1000):
        run.log({"x": float(i)}, step=i)
    started = time.monotonic()
    run.finish(timeout=1.0)
    assert time.monotonic() - started < 5
    steps = [p[0] for b in read_batches(run.spool_path) for p in b["points"]]
    assert steps == list(range(1000))
    assert "runwatch sync" in capfd.readouterr().err


def test_outage_longer_than_memory_cap_loses_nothing(tmp_path: Path) -> None:
    srv = ServerProcess(tmp_path / "data").start()
    srv.stop()  # the port is now known, and nothing listens on it
    spec = {
        "id": "outage01",
        "project": "sdk",
        "name": "o",
        "group": None,
        "tags": [],
        "config": {},
    }
    config = SenderConfig(cache_bytes=2_000, backoff_cap=0.5)
    run = Run(spec, [srv.url], None, tmp_path / "run", config)
    try:
        for i in range(3000):
            run.log({"x": float(i)}, step=i)
            if i % 100 == 0:
                wait_until(lambda: not run._queue, 10, what="the sender to take the queue")
        # Memory holds at most the cache; the rest waits in the spool only.
        assert run._sender.outbox.cached_bytes <= 2_000
        srv.start()
        assert run.finish(timeout=30)
        assert values(srv, run.id, "x") == [float(i) for i in range(3000)]
        with srv.client() as c:
            lost = c.get(f"/api/v1/runs/{run.id}/events", params={"kind": "sdk.lost"}).json()
            assert c.get(f"/api/v1/runs/{run.id}").json()["status"] == "succeeded"
        assert lost["events"] == []
    finally:
        srv.stop()


def test_runwatch_url_may_list_servers_to_fail_over(server: ServerProcess, tmp_path: Path) -> None:
    with runwatch.init(
        project="sdk", url=f"http://127.0.0.1:9,{server.url}", run_dir=tmp_path
    ) as run:
        run.log({"x": 3.0})
    assert values(server, run.id, "x") == [3.0]
    assert httpx.get(f"{server.url}/api/v1/runs/{run.id}").json()["status"] == "succeeded"


def test_records_after_finish_are_refused_with_one_warning(
    server: ServerProcess, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    run = runwatch.init(project="sdk", url=server.url, run_dir=tmp_path / "run")
    run.log({"x": 1.0})
    assert run.finish()
    for i in range(3):
        run.log({"x": float(i)})
    run.event("late")
    err = capfd.readouterr().err
    assert err.count("log() after finish() is ignored") == 1
    assert err.count("event() after finish() is ignored") == 1
    assert values(server, run.id, "x") == [1.0]


def test_log_from_several_threads_gives_every_record_its_own_step(
    server: ServerProcess, tmp_path: Path
) -> None:
    run = runwatch.init(project="sdk", url=server.url, run_dir=tmp_path / "run")
    per_thread = 20_000

    def loop() -> None:
        for _ in range(per_thread):
            run.log({"x": 1.0})

    threads = [threading.Thread(target=loop) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert run.finish()
    steps = [p[0] for b in read_batches(run.spool_path) for p in b["points"] if "x" in p[2]]
    assert sorted(steps) == list(range(4 * per_thread))


def test_the_handle_carries_the_name_the_run_has(server: ServerProcess, tmp_path: Path) -> None:
    """``run.name`` is the stored name: the server's default for an unnamed run (the README's
    ``run-`` and the id's first 6 characters), and an attached run's own name."""
    unnamed = runwatch.init(project="sdk", url=server.url, run_dir=tmp_path / "a")
    unnamed.finish()
    assert unnamed.name == f"run-{unnamed.id[:6]}" == get_run(server, unnamed.id)["name"]
    first = runwatch.init(project="sdk", name="first", run_id="named01", url=server.url,
                          run_dir=tmp_path / "b")  # fmt: skip
    again = runwatch.init(project="sdk", run_id="named01", url=server.url, run_dir=tmp_path / "c")
    assert again.name == first.name == "first"
    again.finish()
    first.finish()
    # Without the server's answer, the name it will give.
    offline = runwatch.init(project="sdk", url="http://127.0.0.1:9", run_dir=tmp_path / "d")
    assert offline.name == f"run-{offline.id[:6]}"
    offline.finish(timeout=0.1, send_status=False)


def test_vital_keys_of_nested_dicts_are_the_flattened_keys(
    server: ServerProcess, tmp_path: Path
) -> None:
    """``log({"grad": {"norm": …}}, vital=True)`` marks ``grad/norm``, the key that is stored
    (it marked ``grad``, which no metric is: the vitals bar had nothing to draw)."""
    with runwatch.init(project="sdk", url=server.url, run_dir=tmp_path / "run") as run:
        run.log({"grad": {"norm": 0.1, "max": {"abs": 0.5}}, "lr": 0.1}, vital=True)
    info = get_run(server, run.id)
    assert info["vitals"] == ["grad/norm", "grad/max/abs", "lr"]
    assert set(info["vitals"]) == set(info["summary"])


def test_a_config_change_over_the_limit_leaves_run_config_as_stored(
    server: ServerProcess, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """A change the SDK leaves out (its JSON over max_config_bytes) is not in ``run.config``
    either (it was: the handle's config then disagreed with the run's)."""
    with runwatch.init(
        project="sdk", config={"lr": 0.1}, url=server.url, run_dir=tmp_path / "run"
    ) as run:
        run.update_config({"big": "x" * 70_000, "also": 1})
        run.update_config({"lr": 0.01})
    assert "max_config_bytes" in capfd.readouterr().err
    assert run.config == get_run(server, run.id)["config"] == {"lr": 0.01}


def test_retries_leave_the_programs_random_state_alone(tmp_path: Path) -> None:
    # A training program seeds `random` for a reproducible run: telemetry retrying against a
    # server that is down must not draw from that generator (its jitter has its own).
    random.seed(1234)
    config = SenderConfig(backoff_base=0.001, backoff_cap=0.002, vitals_interval=0)
    spec = {"id": "seeded01", "project": "p", "name": "seeded", "tags": [], "config": {}}
    run = Run(spec, ["http://127.0.0.1:9"], None, tmp_path / "run", config)
    try:
        run.log({"x": 1.0}, step=0)
        wait_until(lambda: run._sender._attempt >= 5, what="the sender retried five times")
        assert random.random() == random.Random(1234).random()  # the seeded program's first draw
    finally:
        run.finish(timeout=0)
