"""Batches the server refuses for good (a 4xx such as 409 ``run_finished``), against a real
server: their records count as lost where the user looks (``finish()`` returns False and says
why, an ``sdk.lost`` event when the run still takes events), their bodies are kept in the
bounded ``refused-<producer>.jsonl`` beside the spool, and ``runwatch sync`` records them the
same way and goes on with the batches after them."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import runwatch
from runwatch.sdk.sender import EVENT
from runwatch.sdk.spool import read_acked, read_batches
from tests.servers import ServerProcess, sync_cli, wait_until


def metric(server: ServerProcess, run_id: str, key: str) -> list[float]:
    with server.client() as c:
        series = c.get(f"/api/v1/runs/{run_id}/metrics", params={"keys": key}).json()
    return series["series"].get(key, {}).get("value", [])


def kept(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_batches_refused_after_another_producer_finished_the_run_are_counted_and_kept(
    server: ServerProcess, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """Producer A logs on; producer B (the same run id) finishes the run; A's later points and
    image are refused 409 ``run_finished``: finish() returns False (a second call too), says
    how many records the server refused and why, once, and the refused file holds every
    refused batch."""
    a = runwatch.init(project="refused", url=server.url, run_dir=tmp_path / "a")
    a.log({"x": 0.0}, step=0)
    wait_until(lambda: metric(server, a.id, "x") == [0.0], what="A's first point")
    b = runwatch.init(project="refused", url=server.url, run_dir=tmp_path / "b", run_id=a.id)
    b.log({"y": 1.0}, step=0)
    assert b.finish()
    for step in range(1, 4):
        a.log({"x": float(step)}, step=step)
    a.image("late", np.zeros((2, 2, 3), dtype=np.uint8), step=3)
    assert not a.finish()
    assert not a.finish()  # the second call says what the first found
    err = capfd.readouterr().err
    path = tmp_path / "a" / f"refused-{a.producer}.jsonl"
    lines = kept(path)
    assert {line["refused"]["code"] for line in lines} == {"run_finished"}
    assert all(line["refused"]["status"] == 409 for line in lines)
    batches = [line["batch"] for line in lines]
    assert [p[0] for b in batches for p in b["points"]] == [1, 2, 3]
    assert [m["key"] for b in batches for m in b.get("media", [])] == ["late"]
    assert batches[-1]["status"]["state"] == "succeeded"
    records = sum(len(b["points"]) + len(b.get("media", [])) for b in batches) + 1
    assert err.count("records were refused by the server") == 1
    assert f"{records} records were refused by the server" in err
    assert "run_finished" in err and str(path) in err
    assert metric(server, a.id, "x") == [0.0]  # nothing refused was stored after all
    # The blobs of batches that can never be posted are released.
    assert not (tmp_path / "a" / "blobs" / a.producer).exists()


def test_a_refused_batch_is_reported_as_lost_on_a_run_that_takes_events(
    server: ServerProcess, tmp_path: Path
) -> None:
    """A batch refused with a 400 while the run goes on: an ``sdk.lost`` event on the run says
    how many records the server refused, and why."""
    run = runwatch.init(project="refused", url=server.url, run_dir=tmp_path / "run")
    # An event with a field this server does not know (as from a newer SDK): its batch is
    # refused 400 whole. Queued as log() queues records: no public call sends a bad one.
    run._queue.append((EVENT, {"kind": "newer", "ts": time.time(), "unknown_field": 1}))
    run.log({"x": 0.0}, step=0)
    path = tmp_path / "run" / f"refused-{run.producer}.jsonl"
    wait_until(path.exists, what="the refusal")  # then the run goes on, and so do its records
    run.log({"x": 1.0}, step=1)
    assert not run.finish()
    with server.client() as c:
        events = c.get(f"/api/v1/runs/{run.id}/events", params={"kind": "sdk.lost"}).json()
    (lost,) = [e["payload"] for e in events["events"]]
    assert (lost["lost"], lost["rejected"], lost["refused_file"]) == (1, 1, str(path))
    assert "unknown_field" in lost["reason"]
    (line,) = kept(path)
    assert line["refused"]["status"] == 400 and line["batch"]["events"][0]["kind"] == "newer"
    assert metric(server, run.id, "x") == [0.0, 1.0]


def test_sync_keeps_a_refused_batch_delivers_the_batches_after_it_and_fails(
    tmp_path: Path,
) -> None:
    """A spool logged offline holds a batch the server refuses for good between two it takes:
    `runwatch sync` keeps the refused one in the refused file, delivers the ones after it (the
    final status too, with an ``sdk.lost`` event that the run counts), says so in one line and
    exits 1; a second sync has nothing to send."""
    server = ServerProcess(tmp_path / "data")  # not started: the producer runs offline
    run = runwatch.init(project="refused", url=server.url, run_dir=tmp_path / "run")

    def spooled(n: int) -> bool:
        return len(list(read_batches(run.spool_path))) >= n

    run.log({"x": 0.0}, step=0)
    wait_until(lambda: spooled(1), what="the first batch spooled")
    run._queue.append((EVENT, {"kind": "newer", "ts": time.time(), "unknown_field": 1}))
    wait_until(lambda: spooled(2), what="the refused batch spooled")
    run.log({"x": 1.0}, step=1)
    assert not run.finish(timeout=0.5)
    path = tmp_path / "run" / f"refused-{run.producer}.jsonl"
    server.start()
    try:
        done = sync_cli(tmp_path / "run", server.url)
        again = sync_cli(tmp_path / "run", server.url)
        xs = metric(server, run.id, "x")
        with server.client() as c:
            status, lost = (c.get(f"/api/v1/runs/{run.id}").json()[k] for k in ("status", "lost"))
    finally:
        server.stop()
    assert done.returncode == 1, done.stderr
    assert done.stderr == (
        f"runwatch: error: {run.spool_path}: run {run.id}: 1 records were refused by the server"
        " for good (invalid_batch: Object contains unknown field `unknown_field` - at"
        f" `$.events[0]`); they are not in the run, they are kept in {path}\n"
    )
    (line,) = kept(path)
    assert line["refused"]["status"] == 400 and line["batch"]["events"][0]["kind"] == "newer"
    assert xs == [0.0, 1.0] and status == "succeeded" and lost == 1
    assert again.returncode == 0 and "nothing to send" in again.stdout
    assert read_acked(run.spool_path) == run.spool_path.stat().st_size
