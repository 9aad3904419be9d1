"""An agent SIGKILLed mid-trial: its trial's run goes silent and is marked crashed by the
heartbeat sweep, and the next agent that asks gets that configuration again, once; on SQLite,
and on PostgreSQL with the second agent on another replica. An agent SIGKILLed alone takes its
trial's worker with it (no orphan training on and heartbeating)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from tests.servers import ServerProcess, alive, wait_until
from tests.sweeps.test_agents import clean_env, cli, create_sweep, finish, replicas, trials

__all__ = ["replicas"]  # the fixture, shared with the agents' tests

# Trains until killed when BLOCK is set: logs through the SDK ten times a second (its own
# heartbeat) after printing its process group, which is also its pid; ends itself after 120 s
# should the test not kill it. Otherwise a trial that succeeds.
TRIAL = """
import os, signal
import runwatch
if os.environ.get("BLOCK"):
    signal.alarm(120)
    with runwatch.init() as run:
        print("ready", os.getpgid(0), flush=True)
        for step in range(10**6):
            run.log({"loss": 1 / (step + 1)}, step=step)
            if run.wait_stop(0.1):  # a training step, cut short by a cancel
                break
"""


def start_agent(url: str, sweep_id: str, work: Path, **env: str) -> subprocess.Popen[str]:
    work.mkdir(parents=True, exist_ok=True)
    (work / "trial.py").write_text(TRIAL)
    return subprocess.Popen(
        [sys.executable, "-m", "runwatch", "agent", sweep_id, "--heartbeat", "0.2", "--",
         sys.executable, "trial.py"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=work,
        env=clean_env(RUNWATCH_URL=url, **env), start_new_session=True,
    )  # fmt: skip


def crashed_then_retried(
    c: httpx.Client, sweep_id: str, url: str, work: Path
) -> list[dict[str, Any]]:
    """Wait for the dead agent's trial 0 to be crashed, then run an agent (on ``url``) to the
    sweep's end, the retry first; the sweep's trials then."""
    wait_until(
        lambda: trials(c, sweep_id)[0]["status"] == "crashed", 30,
        what="the dead agent's trial to be marked crashed",
    )  # fmt: skip
    code, err = finish(start_agent(url, sweep_id, work))
    assert code == 0, err[-2000:]
    assert f"sweep {sweep_id}: trial 1 (the retry of crashed trial 0) with" in err
    return trials(c, sweep_id)


def test_a_killed_agents_trial_crashes_and_is_run_again_once(
    replicas: list[ServerProcess], tmp_path: Path
) -> None:
    server, other = replicas[0], replicas[-1]
    doomed: subprocess.Popen[str] | None = None
    worker_group = "0"
    try:
        (tmp_path / "sweep.json").write_text(
            json.dumps({"method": "grid", "parameters": {"x": {"values": [1, 2]}}})
        )
        made = cli("sweep", "create", "sweep.json", url=server.url, cwd=tmp_path)
        sweep_id = made.stdout.split()[0]
        doomed = start_agent(server.url, sweep_id, tmp_path / "a", BLOCK="1")
        assert doomed.stdout is not None
        ready, worker_group = doomed.stdout.readline().split()
        assert ready == "ready"
        # The agent and its trial's worker (its own process group) die at once, as with a lost
        # machine: nothing reports the end, the heartbeats just stop.
        os.killpg(doomed.pid, signal.SIGKILL)
        os.killpg(int(worker_group), signal.SIGKILL)
        doomed.communicate(timeout=30)
        with server.client() as c:
            listed = crashed_then_retried(c, sweep_id, other.url, tmp_path / "b")
            sweep = c.get(f"/api/v1/sweeps/{sweep_id}").json()
            again = c.post(f"/api/v1/sweeps/{sweep_id}/next", json={"agent": "late"}).json()
        assert [(t["index"], t["config"], t["status"], t["retry_of"]) for t in listed] == [
            (0, {"x": 1}, "crashed", None),
            (1, {"x": 1}, "succeeded", 0),
            (2, {"x": 2}, "succeeded", None),
        ]
        assert (sweep["state"], sweep["handed_out"]) == ("finished", 3)
        assert (again["trial"], again["reason"]) == (None, "finished")  # retried once only
    finally:
        for group in (doomed.pid if doomed else 0, int(worker_group)):
            if group:  # a failure above left them running
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(group, signal.SIGKILL)
        if doomed is not None:
            doomed.communicate(timeout=30)


def test_a_killed_agent_takes_its_trials_worker_with_it(tmp_path: Path) -> None:
    """Only the agent is SIGKILLed: its worker (in a session of its own, heartbeating through
    the SDK) must not train on as an orphan that keeps the run running; it dies too, the run
    is crashed and the next agent runs the configuration again."""
    server = ServerProcess(tmp_path / "data").start()
    doomed: subprocess.Popen[str] | None = None
    worker = 0
    try:
        sweep_id = create_sweep(
            server.url, tmp_path, {"method": "grid", "parameters": {"x": {"values": [1]}}}
        )
        doomed = start_agent(server.url, sweep_id, tmp_path / "a", BLOCK="1")
        assert doomed.stdout is not None
        ready, pid = doomed.stdout.readline().split()
        assert ready == "ready"
        worker = int(pid)
        doomed.kill()  # the agent alone, not the worker's process group
        doomed.communicate(timeout=30)
        wait_until(lambda: not alive(worker), 10, what="the dead agent's worker to end")
        with server.client() as c:
            listed = crashed_then_retried(c, sweep_id, server.url, tmp_path / "b")
        assert [(t["index"], t["status"], t["retry_of"]) for t in listed] == [
            (0, "crashed", None),
            (1, "succeeded", 0),
        ]
    finally:
        if worker:  # the old orphan, or a failure above left it running
            with contextlib.suppress(ProcessLookupError):
                os.killpg(worker, signal.SIGKILL)
        if doomed is not None:
            doomed.kill()
            doomed.communicate(timeout=30)
        server.stop()
