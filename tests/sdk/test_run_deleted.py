"""A producer whose run was deleted on the server (it was silent, so its run was finished and
could go) speaks again: told ``run_deleted``, it stops sending with one warning, never
creates the run again, and keeps what the server did not take in its spool."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import runwatch
from runwatch.sdk.spool import read_batches
from tests.servers import ServerProcess, wait_until


def test_a_producer_of_a_deleted_run_stops_with_one_warning(
    server: ServerProcess, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    run = runwatch.init(project="gone", url=server.url, run_dir=tmp_path / "run")
    run.log({"x": 0.0}, step=0)
    with server.client() as c:
        wait_until(lambda: c.get(f"/api/v1/runs/{run.id}").json()["seq"] > 1, what="the point")
        # Another producer ends the run (as the crash sweep would a silent one), and it goes.
        final = {
            "producer": "other",
            "batch_seq": 1,
            "status": {"state": "failed", "ts": time.time()},
        }
        assert c.post(f"/api/v1/runs/{run.id}/batches", json=final).status_code == 200
        assert c.delete(f"/api/v1/runs/{run.id}").status_code == 200
        for step in range(1, 50):
            run.log({"x": float(step)}, step=step)
        wait_until(lambda: run.refused_code == "run_deleted", 30, what="the sender to stop")
        assert not run.finish()
        assert not run.should_stop
        gone = c.get(f"/api/v1/runs/{run.id}")
        assert (gone.status_code, gone.json()["error"]["code"]) == (404, "run_deleted")
    err = capfd.readouterr().err
    assert err.count("was deleted on the server") == 1, err
    # What it never took stays in the spool (the user's to sync or delete).
    spool = next((tmp_path / "run").glob("spool-*.jsonl"))
    assert any(b.get("points") for b in read_batches(spool))
