"""``wandb.agent`` interrupts a sweep function whose trial's run is cancelled, as W&B's agent
does: hyperband's early termination and a cancel through the API both end the function
(``TrialStopped``), its run ends ``cancelled`` with the reason, and the agent goes on. A trial
whose run the server refused never ran, with a function or a program: a stopped sweep stops the
agent, a trial handed out again is not one of its count."""

from __future__ import annotations

import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from runwatch.compat.wandb_sweeps import Interrupter, TrialStopped
from tests.compat.test_wandb_artifacts_sweeps import SHIM, run_script
from tests.compat.test_wandb_examples import _env
from tests.servers import ServerProcess, wait_until

# What the sweep scripts below share. until_cancelled waits for this trial's cancel (its
# run's stop event, also set when the server refuses the run), at most `limit` s; its caller
# goes on either way: only the interruption at the next wandb.log can end it. log_for logs x
# for `seconds`, so it reaches "END" only if nothing interrupts it (which the tests see).
# retry_elsewhere waits until trial 0's claim expired (reads crashed) and claims its retry, as
# another agent would; stop_sweep stops the sweep, as a user would.
HELPERS = """
import os, time, httpx

def until_cancelled(limit):
    base = wandb.run._run  # the runwatch run, once the shim has made it
    if base is not None:
        base.wait_stop(limit)

def log_for(x, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        wandb.log({"x": x})
        until_cancelled(0.05)
    print("END", x, flush=True)

def retry_elsewhere(sweep):
    url = os.environ["RUNWATCH_URL"]
    deadline = time.monotonic() + 30
    while httpx.get(f"{url}/api/v1/sweeps/{sweep}/trials").json()["trials"][0]["status"] != "crashed":
        assert time.monotonic() < deadline, "the claim never expired"
        time.sleep(0.05)  # the poll interval
    httpx.post(f"{url}/api/v1/sweeps/{sweep}/next", json={}).raise_for_status()

def stop_sweep(sweep):
    httpx.post(f"{os.environ['RUNWATCH_URL']}/api/v1/sweeps/{sweep}/stop").raise_for_status()
"""

# A 5-point grid whose objective makes x=3 and x=5 ten times worse: hyperband stops them at
# the rung of step 2. A trial meant to be stopped then logs on for 40 s.
HYPERBAND_SWEEP = """
BAD = (3, 5)
spec = {
    "method": "grid",
    "metric": {"name": "loss", "goal": "minimize"},
    "early_terminate": {"type": "hyperband", "min_iter": 2, "eta": 3},
    "parameters": {"x": {"values": [1, 2, 3, 4, 5]}},
}

def train():
    with wandb.init():
        x = wandb.config.x
        print("START", x, flush=True)
        base = 10.0 if x in BAD else 1.0
        for epoch in range(10):
            wandb.log({"loss": base * (1 + 1 / (epoch + 1))})
        log_for(x, 40 if x in BAD else 0)

sweep_id = wandb.sweep(spec, project="hbw")
print("SWEEP", sweep_id, flush=True)
wandb.agent(sweep_id, function=train)
print("AGENT DONE", flush=True)
"""


def test_hyperband_interrupts_the_worst_trials_functions(
    server: ServerProcess, tmp_path: Path
) -> None:
    done = run_script(server, HELPERS + HYPERBAND_SWEEP, tmp_path / "work")
    out, err = done.stdout, done.stderr
    sweep_id = out.split("SWEEP ", 1)[1].split()[0]
    assert [line for line in out.splitlines() if not line.startswith("SWEEP")] == [
        "START 1", "END 1", "START 2", "END 2", "START 3", "START 4", "END 4", "START 5",
        "AGENT DONE",
    ], err  # fmt: skip
    with server.client() as c:
        sweep = c.get(f"/api/v1/sweeps/{sweep_id}").json()
        listed = c.get(f"/api/v1/sweeps/{sweep_id}/trials").json()["trials"]
        runs = {t["config"]["x"]: c.get(f"/api/v1/runs/{t['run_id']}").json() for t in listed}
    assert sweep["trials"] == {"succeeded": 3, "stopped_early": 2}
    for t in listed:
        x, run = t["config"]["x"], runs[t["config"]["x"]]
        if x not in (3, 5):
            assert (t["status"], run["status"], run["error"]) == ("succeeded", "succeeded", None)
            continue
        reason = t["stopped_early"]
        assert reason.startswith("stopped early by hyperband: loss = 13.3333 at step 2")
        assert (t["status"], run["status"], run["error"]) == ("stopped_early", "cancelled", reason)
        line = f"wandb.agent: the trial with configuration {{'x': {x}}} was stopped ({reason})"
        assert err.count(line) == 1, err


# Trial x=1 waits to be cancelled through the API, logging behind its own `except Exception`
# (which does not swallow the interruption); trial x=2 runs to its end; trial x=3 waits in
# pure Python, never calling the shim again: the grace period's fallback interrupts it.
CANCELLED_SWEEP = """
spec = {"method": "grid", "parameters": {"x": {"values": [1, 2, 3]}}}

def train():
    wandb.init()
    x = wandb.config.x
    wandb.log({"x": x})
    print("READY", x, wandb.run.id, flush=True)
    deadline = time.monotonic() + (0 if x == 2 else 40)
    while time.monotonic() < deadline:
        try:
            if x == 1:
                wandb.log({"waiting": 1})
                until_cancelled(0.05)
        except Exception:
            pass
    print("END", x, flush=True)

wandb.agent(wandb.sweep(spec, project="cancelw"), function=train)
print("AGENT DONE", flush=True)
"""


def test_a_cancel_through_the_api_interrupts_the_function(
    server: ServerProcess, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "script.py").write_text(SHIM + HELPERS + CANCELLED_SWEEP)
    proc = subprocess.Popen(
        [sys.executable, "script.py"], cwd=work, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env=_env(RUNWATCH_URL=server.url),
    )  # fmt: skip
    lines: list[str] = []
    reasons = {1: "enough of this one", 3: "and of this one"}
    try:
        assert proc.stdout is not None
        with server.client() as c:
            while len(lines) < 4:
                line = proc.stdout.readline()
                assert line, lines
                lines.append(line.strip())
                ready = line.split()
                if ready[0] != "READY" or int(ready[1]) not in reasons:
                    continue
                path, body = f"/api/v1/runs/{ready[2]}", {"reason": reasons[int(ready[1])]}
                wait_until(lambda p=path: c.get(p).is_success, what="the run")  # type: ignore[misc]
                sent = c.post(f"{path}/commands", json={"kind": "cancel", "payload": body})
                assert sent.status_code == 201, sent.text
            rest, err = proc.communicate(timeout=120)
            runs = {
                r["config"]["x"]: r
                for r in c.get("/api/v1/runs", params={"project": "cancelw"}).json()["runs"]
            }
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0 and "Traceback" not in err, err
    assert [line.split()[:2] for line in lines] == [
        ["READY", "1"], ["READY", "2"], ["END", "2"], ["READY", "3"]
    ], err  # fmt: skip
    assert rest.split("\n") == ["AGENT DONE", ""], err
    assert (runs[2]["status"], runs[2]["error"]) == ("succeeded", None)
    for x, reason in reasons.items():
        assert (runs[x]["status"], runs[x]["error"]) == ("cancelled", reason)
        line = f"wandb.agent: the trial with configuration {{'x': {x}}} was stopped ({reason})"
        assert err.count(line) == 1, err


# Two refusals of a trial's run, each with a function and with a program (no function: the
# sweep's program runs as a subprocess whose own wandb.init makes the trial's run). Trial x=1
# does ACT after its agent claimed it and before its first wandb.log creates its run:
# stop_sweep (the run is refused, 409 sweep_stopped: the agent stops) or retry_elsewhere (the
# server's lease is 1 s: the run is refused, 409 claim_expired, and the agent goes on to x=2,
# as the trial not run is not one of its count of 1). A function is interrupted as after a
# cancel, else it logs for 40 s and prints END; a program is not (its run just ends).
AGENT = """
spec = {"method": "grid", "parameters": {"x": {"values": [1, 2]}}}
if PROGRAM:
    spec["program"] = "train.py"

def train():
    with wandb.init():
        x = wandb.config.x
        print("START", x, flush=True)
        if x == 2:
            wandb.log({"x": x})
            return
        ACT(SWEEP)
        log_for(x, 40)

SWEEP = wandb.sweep(spec, project="refusedw")
print("SWEEP", SWEEP, flush=True)
wandb.agent(SWEEP, function=None if PROGRAM else train, count=1)
print("AGENT DONE", flush=True)
"""
PROGRAM = """
import argparse
parser = argparse.ArgumentParser()
parser.add_argument("--x", type=int)
x = parser.parse_args().x
wandb.init()
print("START", x, flush=True)
if x == 1:
    ACT(os.environ["RUNWATCH_SWEEP_ID"])
wandb.log({"x": x})
"""


@dataclass
class Refused:
    """What an agent whose trial x=1 was refused did: its output, and the sweep's trials and
    runs afterwards."""

    out: list[str]
    err: str
    sweep_id: str
    trials: list[dict[str, Any]]
    runs: list[dict[str, Any]]


def run_refused(server: ServerProcess, act: str, work: Path, program: bool) -> Refused:
    """Run the agent whose trial x=1 does ``act``, with a program or a function."""
    work.mkdir(parents=True)
    if program:
        (work / "train.py").write_text(SHIM + HELPERS + PROGRAM.replace("ACT", act))
    agent = f"PROGRAM = {program}\n" + AGENT.replace("ACT", act)
    done = run_script(server, HELPERS + agent, work)
    sweep_id = done.stdout.split("SWEEP ", 1)[1].split()[0]
    with server.client() as c:
        trials = c.get(f"/api/v1/sweeps/{sweep_id}/trials").json()["trials"]
        runs = c.get("/api/v1/runs", params={"project": "refusedw"}).json()["runs"]
    return Refused(done.stdout.splitlines()[1:], done.stderr, sweep_id, trials, runs)


@pytest.mark.parametrize("program", [False, True], ids=["function", "program"])
def test_a_sweep_stopped_before_the_trials_run_exists_stops_the_agent(
    server: ServerProcess, tmp_path: Path, program: bool
) -> None:
    got = run_refused(server, "stop_sweep", tmp_path / "work", program)
    assert got.out == ["START 1", "AGENT DONE"], got.err
    line = (
        f"wandb.agent: sweep {got.sweep_id} was stopped before the trial with configuration"
        f" {{'x': 1}} started (sweep {got.sweep_id!r} is stopped: its trial 0 was not started"
        " and is cancelled); the agent stops"
    )
    assert got.err.count(line) == 1, got.err
    assert "was stopped (" not in got.err and "ignored" not in got.err, got.err
    assert [(t["status"], t["config"]) for t in got.trials] == [("cancelled", {"x": 1})]
    assert got.runs == []


@pytest.mark.parametrize("program", [False, True], ids=["function", "program"])
def test_a_trial_handed_out_again_before_its_run_exists_is_not_counted(
    tmp_path: Path, program: bool
) -> None:
    server = ServerProcess(tmp_path / "data", extra_args=["--claim-lease", "1"]).start()
    try:
        got = run_refused(server, "retry_elsewhere", tmp_path / "work", program)
    finally:
        server.stop()
    assert got.out == ["START 1", "START 2", "AGENT DONE"], got.err
    line = (
        "wandb.agent: the trial with configuration {'x': 1} was not run (the claim of trial 0 of"
        f" sweep {got.sweep_id!r} expired before its run was created, and its configuration was"
        " handed out again as trial 1); the agent goes on"
    )
    assert got.err.count(line) == 1, got.err
    assert "was stopped" not in got.err and "exited with" not in got.err, got.err
    # The retry's claimer never makes its run: claimed, crashed once its own lease expired.
    first, retry, last = [t["status"] for t in got.trials]
    assert (first, last) == ("crashed", "succeeded") and retry in ("claimed", "crashed")
    assert [(t["retry_of"], t["config"]) for t in got.trials] == [
        (None, {"x": 1}), (0, {"x": 1}), (None, {"x": 2})
    ]  # fmt: skip
    assert [(r["status"], r["config"]) for r in got.runs] == [("succeeded", {"x": 2})]


def fire_at(returning: threading.Event, interrupter: Interrupter) -> None:
    """A cancel that arrives as the function is returning."""
    returning.wait()
    interrupter.fire()


def test_an_interruption_never_escapes_the_function() -> None:
    """Cancels racing the function's return, run as ``agent`` runs the function: each is raised
    inside the function or dropped, never after it (where nothing would catch it)."""
    stopped = escaped = 0
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads switch as often as they can: the race is hit often
    try:
        for i in range(400):
            interrupter = Interrupter(grace=0)  # interrupted at once, wherever it is
            returning = threading.Event()
            firing = threading.Thread(target=fire_at, args=(returning, interrupter))
            firing.start()
            try:
                try:
                    returning.set()
                    sum(range(i * 50))  # the function's last work: races with the cancel
                finally:
                    interrupter.done()
            except TrialStopped:
                stopped += 1
            try:
                firing.join()
                sum(range(10_000))  # a TrialStopped raised after done() would land here
            except TrialStopped:
                escaped += 1
    finally:
        sys.setswitchinterval(switch)
    # Both sides of the race were run: cancels that interrupted, cancels that came too late.
    assert escaped == 0 and 0 < stopped < 400, (escaped, stopped)


# The function's run finishes on another thread (a user thread's run.finish()) while a forced
# TrialStopped waits for the function's thread, blocked in C. That exception is raised inside
# the agent's try (STOPPED), and the process is left sound: a function then run under a
# profiler returns (PROFILED). Clearing it instead (SetAsyncExc(NULL)) left CPython 3.11's
# eval breaker set for good, and that call spun at its first line.
FINISHED_ELSEWHERE = """
import sys, threading, time
from runwatch.compat.wandb_sweeps import Interrupter, TrialStopped

interrupter = Interrupter(grace=0)  # a cancel interrupts the function at once, wherever it is
released = threading.Lock()
released.acquire()

def function():
    threading.Thread(target=finish_elsewhere, args=(threading.get_ident(),)).start()
    released.acquire()  # blocked in C: a TrialStopped set now waits for the call to return

def blocked(thread):
    frame = sys._current_frames()[thread]
    line = function.__code__.co_firstlineno + 2  # the acquire: no bytecode check until it returns
    return frame.f_code is function.__code__ and frame.f_lineno == line

def finish_elsewhere(thread):
    deadline = time.monotonic() + 10
    while not blocked(thread):
        assert time.monotonic() < deadline, "the function never blocked"
        time.sleep(0.001)  # the poll interval
    interrupter.fire()  # TrialStopped is set in the blocked function's thread
    interrupter.done()  # the run finishes on this thread
    released.release()

try:
    try:
        function()
    finally:
        interrupter.done()  # as the agent calls it
except TrialStopped:
    print("STOPPED", flush=True)
sys.setprofile(lambda *args: None)
(lambda: None)()
sys.setprofile(None)
print("PROFILED", flush=True)
"""


def test_a_run_finished_on_another_thread_leaves_the_interruption_to_the_function() -> None:
    try:
        done = subprocess.run(
            [sys.executable, "-c", FINISHED_ELSEWHERE], capture_output=True, text=True,
            timeout=30, env=_env(),
        )  # fmt: skip
    except subprocess.TimeoutExpired as exc:  # subprocess.run killed it
        raise AssertionError(f"the process hung; its output: {exc.stdout!r}") from None
    assert (done.returncode, done.stdout) == (0, "STOPPED\nPROFILED\n"), done.stderr
