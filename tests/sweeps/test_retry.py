"""An agent SIGKILLed mid-trial: its trial's run goes silent and is marked crashed by the
heartbeat sweep, and the next agent that asks gets that configuration again, once; on SQLite,
and on PostgreSQL with the second agent on another replica."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.servers import ServerProcess, wait_until
from tests.sweeps.test_agents import clean_env, cli, finish, replicas, trials

__all__ = ["replicas"]  # the fixture, shared with the agents' tests

# Blocks until killed (printing its process group) when BLOCK is set, ending itself after
# 120 s should the test not kill it; otherwise a trial that succeeds.
TRIAL = """
import os, signal
if os.environ.get("BLOCK"):
    signal.alarm(120)
    print("ready", os.getpgid(0), flush=True)
    signal.pause()
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
            wait_until(
                lambda: trials(c, sweep_id)[0]["status"] == "crashed", 30,
                what="the dead agent's trial to be marked crashed",
            )  # fmt: skip
            second = start_agent(other.url, sweep_id, tmp_path / "b")
            code, err = finish(second)
            assert code == 0, err[-2000:]
            assert f"sweep {sweep_id}: trial 1 (the retry of crashed trial 0) with" in err
            listed = trials(c, sweep_id)
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
