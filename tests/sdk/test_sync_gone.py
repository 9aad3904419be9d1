"""`runwatch sync` of a gone producer's spool stores its records without bringing the run back
to life: a crashed run stays crashed (no `heartbeat.resumed`, its `ended_at` kept), and a spool
that ends with the producer's final status gives the run that status at its own time.

A real producer process loses its server, spools the rest and dies (SIGKILL) or finishes; the
server comes back and declares the run crashed; a real `runwatch sync` process delivers the rest.
SQLite and PostgreSQL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.test_burst import sync, with_repo_on_path
from tests.servers import ServerProcess, wait_until

STEPS = 10  # per phase: one delivered live, one spooled while the server is down


def producer_script(path: Path, url: str, run_dir: Path, ending: str, refused: bool) -> Path:
    """A producer beating every second; after a line on stdin (the server is down) it logs a
    second phase, spools it, and waits to be killed (``killed``) or finishes (``finished``).
    ``refused``: the second phase starts with a batch of its own that the server will refuse
    for good (an event with a field it does not know, as from a newer SDK)."""
    path.write_text(
        textwrap.dedent(f"""
            import sys, time
            from pathlib import Path
            from runwatch.sdk.run import Run
            from runwatch.sdk.sender import EVENT, SenderConfig
            from runwatch.sdk.spool import read_batches
            from tests.servers import wait_until
            config = SenderConfig(vitals_interval=0, backoff_base=0.05, backoff_cap=0.2)
            spec = {{"id": "gone01", "project": "gone", "name": "gone", "heartbeat": 1.0}}
            run = Run(spec, [{url!r}], None, Path({str(run_dir)!r}), config)
            for step in range({STEPS}):
                run.log({{"x": float(step)}}, step=step)
            print("logged", flush=True)
            sys.stdin.readline()
            if {refused!r}:
                run._queue.append((EVENT, {{"kind": "newer", "ts": time.time(), "unknown": 1}}))
                wait_until(
                    lambda: any(e["kind"] == "newer" for b in read_batches(run.spool_path)
                                for e in b.get("events", ())),
                    60, what="the batch to be refused spooled",
                )
            for step in range({STEPS}, {2 * STEPS}):
                run.log({{"x": float(step)}}, step=step)
            if {ending!r} == "finished":
                print("finishing", time.time(), flush=True)
                run.finish(timeout=0.5)
                print("finished", time.time(), flush=True)
                sys.exit(0)
            wait_until(
                lambda: any(p[0] == {2 * STEPS - 1} for b in read_batches(run.spool_path)
                            for p in b.get("points", ())),
                60, what="the second phase spooled",
            )
            print("spooled", flush=True)
            sys.stdin.readline()
        """)
    )
    return path


def get(server: ServerProcess, path: str, **params: Any) -> Any:
    with server.client() as c:
        reply = c.get(path, params=params)
        assert reply.status_code == 200, reply.text
        return reply.json()


def steps_stored(server: ServerProcess) -> list[int]:
    series = get(server, "/api/v1/runs/gone01/metrics", keys="x", max_points=1000)["series"]
    return list(series["x"]["x"]) if "x" in series else []


def event_kinds(server: ServerProcess) -> list[str]:
    events = get(server, "/api/v1/runs/gone01/events", limit=1000)["events"]
    return [e["kind"] for e in events]


@pytest.mark.parametrize("refused", [False, True], ids=["", "refused"])
@pytest.mark.parametrize("ending", ["killed", "finished"])
def test_syncing_a_gone_producers_spool_is_no_sign_of_life(
    tmp_path: Path, store_args: list[str], ending: str, refused: bool
) -> None:
    """``refused``: the sync says so and fails, and the run counts the refused record as lost
    (an ``sdk.lost`` event: in the final-status batch, or after the killed producer's last)."""
    server = ServerProcess(tmp_path / "data", extra_args=store_args).start()
    run_dir = tmp_path / "run"
    script = producer_script(tmp_path / "producer.py", server.url, run_dir, ending, refused)
    producer = subprocess.Popen(
        [sys.executable, str(script)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, env=with_repo_on_path(),
    )  # fmt: skip
    try:
        assert producer.stdin is not None and producer.stdout is not None
        assert producer.stdout.readline() == "logged\n"
        wait_until(lambda: len(steps_stored(server)) == STEPS, 60, what="the first phase stored")
        server.kill()
        producer.stdin.write("go\n")
        producer.stdin.flush()
        if ending == "killed":
            assert producer.stdout.readline() == "spooled\n"
            os.kill(producer.pid, signal.SIGKILL)
            died = time.time()
        else:
            before_finish = float(producer.stdout.readline().split()[1])
            after_finish = float(producer.stdout.readline().split()[1])
        producer.wait(60)
        server.start()
        wait_until(
            lambda: get(server, "/api/v1/runs/gone01")["status"] == "crashed",
            30,
            0.1,
            what="the silent run declared crashed",
        )
        crashed = get(server, "/api/v1/runs/gone01")
        done = sync(run_dir, server.url)
        assert done.returncode == refused, done.stderr
        assert ("1 records were refused by the server" in done.stderr) == refused
        after = get(server, "/api/v1/runs/gone01")
        assert after["lost"] == refused
        reports = get(server, "/api/v1/runs/gone01/events", kind="sdk.lost")["events"]
        assert [(e["payload"]["lost"], e["payload"]["rejected"]) for e in reports] == (
            [(1, 1)] if refused else []
        )
        assert steps_stored(server) == list(range(2 * STEPS))  # every record is stored
        assert "heartbeat.resumed" not in event_kinds(server)  # the producer never spoke again
        if ending == "killed":
            assert after["status"] == "crashed"
            assert after["ended_at"] == crashed["ended_at"]
            assert after["ended_at"] > died  # declared by the sweep, not moved by the sync
        else:
            assert after["status"] == "succeeded"
            assert before_finish <= after["ended_at"] <= after_finish  # its own time
    finally:
        if producer.poll() is None:
            producer.kill()
        producer.communicate(timeout=10)
        server.stop()
