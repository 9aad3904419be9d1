"""A run is declared crashed only after its producer was silent for its timeout while a server
could hear it: a server down or hung longer than the timeout does not crash the healthy runs it
comes back to, and still crashes the silent ones once the timeout has passed again.

Runs here beat every 1.5 s (a 4.5 s timeout), so downtime past the timeout is a few seconds.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

from runwatch.store.sql.control import MISSED_HEARTBEATS
from tests.pg import fresh_database
from tests.servers import ServerProcess, wait_until

HEARTBEAT = 1.5
TIMEOUT = MISSED_HEARTBEATS * HEARTBEAT
# Longer than a sweep interval (1 s) after the server is back: the old sweep would have run.
SETTLE = 2.0


def wait_past(moment: float, what: str) -> None:
    """Until the wall clock passes ``moment``: the downtime itself is what is being tested."""
    wait_until(lambda: time.time() > moment, moment - time.time() + 10, 0.05, what)


def create_run(server: ServerProcess, run_id: str) -> float:
    """A running run beating every HEARTBEAT s; returns the time of its first heartbeat."""
    spec = {"id": run_id, "project": "grace", "name": run_id, "heartbeat": HEARTBEAT}
    with server.client() as c:
        assert c.post("/api/v1/runs", json=spec).status_code in (200, 201)
        return beat(server, run_id)


def beat(server: ServerProcess, run_id: str) -> float:
    with server.client() as c:
        sent = time.time()
        reply = c.post(f"/api/v1/runs/{run_id}/heartbeat")
        assert reply.status_code == 200, reply.text
        return sent


def run_info(server: ServerProcess, run_id: str) -> dict[str, Any]:
    with server.client() as c:
        info: dict[str, Any] = c.get(f"/api/v1/runs/{run_id}").json()
        return info


def lifecycle(server: ServerProcess, run_id: str) -> list[tuple[str, Any]]:
    """The run's status changes and resumptions, in order."""
    with server.client() as c:
        events = c.get(f"/api/v1/runs/{run_id}/events", params={"limit": 1000}).json()["events"]
    return [
        (e["kind"], e["payload"].get("state"))
        for e in events
        if e["kind"] in ("status", "heartbeat.resumed")
    ]


def assert_still_crashes(server: ServerProcess, run_id: str, last_beat: float) -> None:
    """Silent from ``last_beat`` on, the run is crashed once the timeout has passed."""
    wait_until(
        lambda: run_info(server, run_id)["status"] == "crashed",
        TIMEOUT + 15,
        0.1,
        "the silent run to be declared crashed",
    )
    assert run_info(server, run_id)["ended_at"] >= last_beat + TIMEOUT


def test_restart_longer_than_the_timeout_crashes_no_healthy_run(
    tmp_path: Path, store_args: list[str]
) -> None:
    server = ServerProcess(tmp_path / "data", extra_args=store_args)
    try:
        server.start()
        beaten = create_run(server, "restarted")
        started = lifecycle(server, "restarted")
        server.kill()
        wait_past(beaten + TIMEOUT + 1, "downtime past the run's timeout")
        server.start()
        back = time.time()
        wait_past(back + SETTLE, "a few sweeps after the restart")
        assert run_info(server, "restarted")["status"] == "running"
        last = beat(server, "restarted")  # the producer reconnects within the timeout
        assert lifecycle(server, "restarted") == started  # never crashed, so never resumed
        assert_still_crashes(server, "restarted", last)
    finally:
        server.stop()


def test_hang_longer_than_the_timeout_crashes_no_healthy_run(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data")
    try:
        server.start()
        assert server.proc is not None
        create_run(server, "hung")
        started = lifecycle(server, "hung")
        server.proc.send_signal(signal.SIGSTOP)
        stopped = time.time()
        try:
            # Past the sweep's own deafness bound too (crash_check_interval + DEAF_AFTER: 6 s).
            wait_past(stopped + 7, "a hang past the run's timeout")
        finally:
            server.proc.send_signal(signal.SIGCONT)
        resumed = time.time()
        wait_past(resumed + SETTLE, "a few sweeps after the hang")
        assert run_info(server, "hung")["status"] == "running"
        last = beat(server, "hung")
        assert lifecycle(server, "hung") == started
        assert_still_crashes(server, "hung", last)
    finally:
        server.stop()


def test_a_replica_restarting_does_not_delay_the_others_sweeps(tmp_path: Path) -> None:
    with fresh_database() as url:
        a = ServerProcess(tmp_path / "a", extra_args=["--store", url])
        b = ServerProcess(tmp_path / "b", extra_args=["--store", url])
        try:
            a.start()
            b.start()
            beaten = create_run(a, "replicated")
            a.kill()
            a.start()
            # B listened all along: the run is crashed a timeout after its last heartbeat, not a
            # timeout after A came back (A's own sweeps wait that long).
            wait_until(
                lambda: run_info(b, "replicated")["status"] == "crashed",
                TIMEOUT + 10,
                0.1,
                "B to declare the silent run crashed",
            )
            ended = run_info(b, "replicated")["ended_at"]
            assert beaten + TIMEOUT <= ended < beaten + TIMEOUT + 3
        finally:
            a.stop()
            b.stop()
