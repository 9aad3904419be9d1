"""Hyperband early termination enforced live by the server: one agent runs a 5-point grid whose
synthetic objective makes trials x=3 and x=5 clearly worst; exactly those are stopped at the
first rung (their runs cancelled with the reason, an ``early_stop`` event in their feeds), the
others run to their end; on SQLite, and on PostgreSQL with two replicas."""

from __future__ import annotations

import json
from pathlib import Path

from tests.servers import ServerProcess
from tests.sweeps.test_agents import agent, cli, finish, replicas, trials

__all__ = ["replicas"]  # the fixture, shared with the agents' tests

SWEEP = {
    "method": "grid",
    "project": "hb",
    "metric": {"name": "loss", "goal": "minimize"},
    "early_terminate": {"type": "hyperband", "min_iter": 2, "eta": 3},  # rungs at 2, 6, 18…
    "parameters": {"x": {"values": [1, 2, 3, 4, 5]}},
}
BAD = (3, 5)
# Ten steps of a loss ten times worse for x in BAD. A trial the server is meant to stop waits
# for its cancel (then leaves as the SDK asks); if none comes it fails, which the test sees.
TRIAL = f"""
import runwatch
run = runwatch.init()
x = run.config["x"]
base = 10.0 if x in {BAD} else 1.0
for step in range(10):
    run.log({{"loss": base * (1 + 1 / (step + 1))}}, step=step)
if x in {BAD} and not run.wait_stop(60):
    raise SystemExit("never stopped early")
run.finish()
"""


def test_the_worst_trials_are_stopped_at_the_rung(
    replicas: list[ServerProcess], tmp_path: Path
) -> None:
    (tmp_path / "sweep.json").write_text(json.dumps(SWEEP))
    made = cli("sweep", "create", "sweep.json", url=replicas[0].url, cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    assert "hyperband: trials worse than the best 1/3 at steps 2, 6, 18, 54, 162, 486, …" in (
        made.stderr
    )
    sweep_id = made.stdout.split()[0]
    code, err = finish(agent(replicas[0].url, sweep_id, tmp_path / "work", TRIAL))
    assert code == 0, err[-3000:]
    with replicas[0].client() as c:  # the replica that ingested the trials judged them
        health = c.get("/healthz").json()["early_stop"]
        assert (health["stopped"], health["dropped_commits"]) == (2, 0)
    with replicas[-1].client() as c:
        sweep = c.get(f"/api/v1/sweeps/{sweep_id}").json()
        listed = trials(c, sweep_id)
        runs = {t["config"]["x"]: c.get(f"/api/v1/runs/{t['run_id']}").json() for t in listed}
        feeds = {
            t["config"]["x"]: c.get(
                f"/api/v1/runs/{t['run_id']}/events", params={"kind": "early_stop"}
            ).json()["events"]
            for t in listed
        }
    assert sweep["trials"] == {"succeeded": 3, "stopped_early": 2}
    assert {t["config"]["x"]: t["status"] for t in listed} == {
        1: "succeeded", 2: "succeeded", 3: "stopped_early", 4: "succeeded", 5: "stopped_early",
    }  # fmt: skip
    for t in listed:
        x, run, feed = t["config"]["x"], runs[t["config"]["x"]], feeds[t["config"]["x"]]
        if x not in BAD:
            assert (t["stopped_early"], run["status"], feed) == (None, "succeeded", [])
            continue
        (event,) = feed
        detail = event["payload"]
        # At rung 2 the cut is rank floor(n/3) of the n trials there: a good trial's loss.
        assert (detail["rung"], detail["step"], detail["metric"]) == (2, 2, "loss")
        assert detail["reached"] == x  # trials 1..x reached rung 2 before it was judged
        assert detail["value"] == 10 * (1 + 1 / 3) and detail["threshold"] == 1 + 1 / 3
        assert event["level"] == "warning"
        assert t["stopped_early"] == detail["message"] == run["error"]
        assert detail["message"].startswith("stopped early by hyperband: loss = 13.3333 at step 2")
        assert run["status"] == "cancelled"
