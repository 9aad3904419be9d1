"""``runwatch agent SWEEP_ID [-- CMD]``: claim a sweep's trials and run a command for each.

The command is the one after ``--``, else the sweep's own, as W&B's agent builds it: its
``command``, or W&B's default ``${env} ${interpreter} ${program} ${args}`` (so an argparse
script gets ``--key=value`` per parameter); macros expand in either (see
:mod:`runwatch.sweeps.trial_command`). The server refuses the claim, before any trial is handed
out, when the sweep cannot give the agent what its command needs (no ``program`` nor
``command`` for an agent without one of its own): one line, nothing run.

One trial at a time: the agent claims the next trial from the server (each configuration is
handed out once, whichever agent or replica asks), runs the command supervised as the trial's
run (``runwatch launch``'s supervision, with the run id the server gave), and asks again, until
``--count`` trials ran or the sweep says ``finished`` or ``stopped`` (also when it was stopped
between the claim and the trial's start: the server refuses that run). A paused sweep is asked
again every few seconds. The trial's configuration reaches the command in its environment
(``RUNWATCH_SWEEP_PARAMS``, JSON) and as ``runwatch.init().config``. Ctrl-C cancels the current
trial (its run is marked cancelled) and stops the agent. An agent that dies (SIGKILL, its
machine lost) stops heartbeating: its trial's run is marked crashed, and the server hands that
configuration out again, once, to the next agent that asks; one that dies between its claim and
its run's creation leaves the trial claimed, which reads crashed once the claim's lease (the
server's ``--claim-lease``) expired and is handed out again the same way. An agent too slow to
create its run within the lease whose trial was handed out meanwhile is refused that run: it
says so and claims the next trial.
"""

from __future__ import annotations

import json
import os
import shlex
import socket
import sys
import time
from typing import Any

from runwatch.launcher.supervisor import RunLabels, supervise_command
from runwatch.protocol import SWEEP_ID_ENV, SWEEP_PARAMS_ENV
from runwatch.sweeps.client import SweepClient
from runwatch.sweeps.trial_command import template, trial_argv, uses_arguments

PAUSED_POLL = 5.0  # seconds between claims while the sweep is paused


def _say(text: str) -> None:
    print(f"runwatch: {text}", file=sys.stderr, flush=True)


def _labels(sweep_id: str, trial: dict[str, Any], heartbeat: float) -> RunLabels:
    return RunLabels(
        run_id=trial["run_id"],
        config=trial["config"],
        tags=[f"sweep:{sweep_id}"],
        group=f"sweep-{sweep_id}",
        env={SWEEP_ID_ENV: sweep_id, SWEEP_PARAMS_ENV: json.dumps(trial["config"])},
        heartbeat=heartbeat,
    )


def _command_of(sweep_id: str, doc: dict[str, Any], own: list[str]) -> list[str]:
    """The command to expand per trial, saying once what of the sweep's is not used."""
    parts = template(doc, own or None)
    if own and doc.get("command"):
        _say(f"sweep {sweep_id}'s command is not used: the command after `--` runs instead")
    if own and (doc.get("command") or doc.get("program")) and not uses_arguments(own):
        _say("the command after `--` gets the trial's configuration in RUNWATCH_SWEEP_PARAMS"
             " and runwatch.init().config, not as arguments: add '${args}' to it for"
             " --key=value ones, or leave it out to run the sweep's")  # fmt: skip
    return parts


def run_agent(
    sweep_id: str,
    command: list[str],
    count: int | None,
    url: str | None,
    token: str | None,
    grace: float,
    scan_interval: float = 10.0,
    heartbeat: float = 5.0,
) -> int:
    """Run the sweep's trials here until ``count``, the sweep's end, or Ctrl-C (then 130).
    ``command``: the agent's own (``[]``: the sweep's)."""
    client = SweepClient(url, token)
    agent = f"{socket.gethostname()}:{os.getpid()}"
    ran = 0
    waiting = False
    parts: list[str] | None = None
    try:
        while count is None or ran < count:
            claim = client.claim(sweep_id, agent, command)
            trial, sweep = claim["trial"], claim["sweep"]
            if trial is None:
                if claim["reason"] != "paused":
                    _say(f"sweep {sweep_id} is {claim['reason']}; this agent ran {ran} trial(s)")
                    return 0
                if not waiting:
                    _say(f"sweep {sweep_id} is paused; asking again every {PAUSED_POLL:g} s")
                waiting = True
                time.sleep(PAUSED_POLL)  # the paused sweep's poll interval
                continue
            waiting = False
            if parts is None:
                parts = _command_of(sweep_id, sweep["spec"], command)
            retry = trial.get("retry_of")
            again = "" if retry is None else f" (the retry of crashed trial {retry})"
            _say(f"sweep {sweep_id}: trial {trial['index']}{again} with"
                 f" {json.dumps(trial['config'])}")  # fmt: skip
            name = f"{sweep.get('name') or 'sweep-' + sweep_id}-{trial['index']}"
            with trial_argv(parts, trial["config"], sweep["spec"].get("program")) as argv:
                if argv != parts:
                    _say(f"sweep {sweep_id}: trial {trial['index']}'s command: {shlex.join(argv)}")
                done = supervise_command(
                    argv, sweep["project"], name, None, url, token, grace, scan_interval,
                    _labels(sweep_id, trial, heartbeat),
                )  # fmt: skip
            if done.refused_code == "claim_expired":  # too late: another agent runs it
                _say(f"sweep {sweep_id}: trial {trial['index']} not run: {done.refused}")
                continue
            if done.refused is not None:  # stopped after this trial was claimed: not run
                _say(f"sweep {sweep_id} was stopped before trial {trial['index']} started;"
                     f" this agent ran {ran} trial(s)")  # fmt: skip
                return 0
            ran += 1
            if done.interrupted:
                _say(f"interrupted: trial {trial['index']} cancelled; the agent stops")
                return 130
        _say(f"this agent ran its {ran} trial(s) of sweep {sweep_id}")
        return 0
    except KeyboardInterrupt:  # between trials: nothing is running
        _say(f"interrupted; this agent ran {ran} trial(s)")
        return 130
    finally:
        client.close()
