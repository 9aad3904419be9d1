"""`runwatch sweep create` and `runwatch agent` against real servers: a 12-point grid shared by
3 agent processes (each point run once), a random sweep up to its run_cap, Ctrl-C on an
agent; on SQLite, and on PostgreSQL with two replicas whose agents share the sweep."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import runwatch
from tests.pg import fresh_database
from tests.proxy import RecordingProxy
from tests.servers import ServerProcess, wait_until

GRID = """
method: grid
project: gridp
metric: {name: score, goal: maximize}
parameters:
  x:
    values: [1, 2, 3]
  y:
    distribution: int_uniform
    min: 0
    max: 3
"""
RANDOM = {
    "method": "random",
    "project": "randp",
    "run_cap": 5,
    "parameters": {
        "lr": {"distribution": "log_uniform_values", "min": 1e-4, "max": 1e-1},
        "opt": {"parameters": {"name": {"values": ["adam", "sgd"]}}},
    },
}
# A trial: its configuration from the environment must be runwatch.init().config.
TRIAL = """
import json, os, runwatch
run = runwatch.init(project="not-this-one")
params = json.loads(os.environ["RUNWATCH_SWEEP_PARAMS"])
assert {k: run.config[k] for k in params} == params, (run.config, params)
assert os.environ["RUNWATCH_SWEEP_ID"]
if "x" in params:
    run.log({"score": params["x"] * 10 + params["y"]})
run.finish()
"""
# A worker that waits to be stopped (ending itself after 120 s should nothing stop it).
BLOCKING = "import signal\nsignal.alarm(120)\nprint('ready', flush=True)\nsignal.pause()\n"


@pytest.fixture(params=["sqlite", "postgresql"])
def replicas(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[list[ServerProcess]]:
    """One server on SQLite, or two replicas of one PostgreSQL database."""
    if request.param == "sqlite":
        servers = [ServerProcess(tmp_path / "data").start()]
        yield servers
        servers[0].stop()
        return
    with fresh_database() as url:
        args = ["--store", url, "--store-pool", "3"]
        servers = [ServerProcess(tmp_path / f"data{i}", extra_args=args).start() for i in range(2)]
        try:
            yield servers
        finally:
            for server in servers:
                server.stop()


# The runwatch under test, wherever the subprocesses' working directory is.
SOURCES = str(Path(runwatch.__file__).resolve().parents[1])


def clean_env(**more: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNWATCH_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [SOURCES, env.get("PYTHONPATH")]))
    return {**env, **more}


def cli(*args: str, url: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "runwatch", *args], capture_output=True, text=True, timeout=120,
        env=clean_env(RUNWATCH_URL=url), cwd=cwd,
    )  # fmt: skip


def create_sweep(url: str, where: Path, config: dict[str, Any]) -> str:
    """``runwatch sweep create`` of ``config`` (written to ``where/sweep.json``): its id."""
    (where / "sweep.json").write_text(json.dumps(config))
    return cli("sweep", "create", "sweep.json", url=url, cwd=where).stdout.split()[0]


def agent(url: str, sweep_id: str, work: Path, script: str, *options: str) -> subprocess.Popen[str]:
    work.mkdir(parents=True, exist_ok=True)
    (work / "trial.py").write_text(script)
    return subprocess.Popen(
        [sys.executable, "-m", "runwatch", "agent", sweep_id, *options, "--", sys.executable,
         "trial.py"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=work,
        env=clean_env(RUNWATCH_URL=url),
    )  # fmt: skip


def finish(proc: subprocess.Popen[str]) -> tuple[int, str]:
    _, err = proc.communicate(timeout=240)
    return proc.returncode, err


def trials(c: httpx.Client, sweep_id: str) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = c.get(f"/api/v1/sweeps/{sweep_id}/trials").json()["trials"]
    return listed


def test_three_agents_run_each_grid_point_once(
    replicas: list[ServerProcess], tmp_path: Path
) -> None:
    (tmp_path / "sweep.yaml").write_text(GRID)
    made = cli("sweep", "create", "sweep.yaml", url=replicas[0].url, cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    sweep_id, page = made.stdout.split()
    assert page == f"{replicas[0].url}/sweep?sweep={sweep_id}"
    assert "grid, project gridp, at most 12 trials (space)" in made.stderr
    agents = [
        agent(replicas[i % len(replicas)].url, sweep_id, tmp_path / f"agent{i}", TRIAL)
        for i in range(3)
    ]
    results = [finish(a) for a in agents]
    assert [code for code, _ in results] == [0, 0, 0], [err[-2000:] for _, err in results]
    ran = [err.count(f"sweep {sweep_id}: trial ") for _, err in results]
    assert sum(ran) == 12
    with replicas[-1].client() as c:
        sweep = c.get(f"/api/v1/sweeps/{sweep_id}").json()
        listed = trials(c, sweep_id)
        runs = c.get("/api/v1/runs", params={"tag": f"sweep:{sweep_id}", "limit": 100}).json()[
            "runs"
        ]
    assert (sweep["state"], sweep["handed_out"], sweep["trials"]) == (
        "finished",
        12,
        {"succeeded": 12},
    )
    configs = sorted((t["config"]["x"], t["config"]["y"]) for t in listed)
    assert configs == [(x, y) for x in (1, 2, 3) for y in range(4)]
    assert len({t["agent"] for t in listed}) == 3  # all three took part
    by_id = {r["id"]: r for r in runs}
    assert sorted(by_id) == sorted(t["run_id"] for t in listed)
    for t in listed:
        r = by_id[t["run_id"]]
        assert (r["project"], r["status"], r["group"]) == (
            "gridp",
            "succeeded",
            f"sweep-{sweep_id}",
        )
        assert {k: r["config"][k] for k in ("x", "y")} == t["config"]
        assert r["summary"]["score"] == t["config"]["x"] * 10 + t["config"]["y"]


def test_a_random_sweep_runs_up_to_its_run_cap(
    replicas: list[ServerProcess], tmp_path: Path
) -> None:
    (tmp_path / "sweep.json").write_text(json.dumps(RANDOM))
    made = cli("sweep", "create", "sweep.json", url=replicas[0].url, cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    sweep_id = made.stdout.split()[0]
    agents = [
        agent(replicas[i % len(replicas)].url, sweep_id, tmp_path / f"a{i}", TRIAL, "--count", "4")
        for i in range(2)
    ]
    results = [finish(a) for a in agents]
    assert [code for code, _ in results] == [0, 0], [err[-2000:] for _, err in results]
    assert any(f"sweep {sweep_id} is finished" in err for _, err in results)
    with replicas[0].client() as c:
        sweep = c.get(f"/api/v1/sweeps/{sweep_id}").json()
        listed = trials(c, sweep_id)
    assert (sweep["handed_out"], sweep["limit_reason"], sweep["trials"]) == (
        5,
        "run_cap",
        {"succeeded": 5},
    )
    for t in listed:
        assert 1e-4 <= t["config"]["lr"] <= 1e-1 and t["config"]["opt"]["name"] in ("adam", "sgd")
    assert len({t["config"]["lr"] for t in listed}) == 5


def test_ctrl_c_cancels_the_current_trial_and_stops_the_agent(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data").start()
    try:
        sweep_id = create_sweep(
            server.url, tmp_path, {"method": "grid", "parameters": {"x": {"values": [1, 2, 3]}}}
        )
        proc = agent(server.url, sweep_id, tmp_path / "work", BLOCKING)
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"  # the trial's worker is running
        proc.send_signal(signal.SIGINT)
        code, err = finish(proc)
        assert code == 130 and "trial 0 cancelled; the agent stops" in err, err[-2000:]
        with server.client() as c:
            sweep = c.get(f"/api/v1/sweeps/{sweep_id}").json()
            (trial,) = trials(c, sweep_id)
            run = c.get(f"/api/v1/runs/{trial['run_id']}").json()
        assert (sweep["handed_out"], sweep["trials"], sweep["state"]) == (
            1,
            {"cancelled": 1},
            "running",
        )
        assert "Ctrl-C" in run["error"]
    finally:
        server.stop()


def test_a_sweep_stopped_between_the_claim_and_the_run_stops_the_agent_in_one_line(
    tmp_path: Path,
) -> None:
    """The sweep is stopped after the agent claimed trial 0 and before its run is created (a
    proxy stops it as the run's creation passes): the run is refused, the trial reads
    ``cancelled``, its command never starts, and the agent says so in one line and exits 0."""
    server = ServerProcess(tmp_path / "data").start()
    try:
        sweep_id = create_sweep(
            server.url, tmp_path, {"method": "grid", "parameters": {"x": {"values": [1, 2, 3]}}}
        )
        with server.client() as c:

            def stop_first(method: str, path: str) -> None:
                if (method, path) == ("POST", "/api/v1/runs"):
                    c.post(f"/api/v1/sweeps/{sweep_id}/stop").raise_for_status()

            with RecordingProxy(server.url, before=stop_first) as proxy:
                ran = tmp_path / "ran"
                script = f"open({str(ran)!r}, 'w').close()\n"
                code, err = finish(agent(proxy.url, sweep_id, tmp_path / "work", script))
            sweep = c.get(f"/api/v1/sweeps/{sweep_id}").json()
            (trial,) = trials(c, sweep_id)
            run_answer = c.get(f"/api/v1/runs/{trial['run_id']}")
        assert code == 0, err
        assert err.splitlines() == [
            f'runwatch: sweep {sweep_id}: trial 0 with {{"x": 1}}',
            f"runwatch: sweep {sweep_id} was stopped before trial 0 started;"
            " this agent ran 0 trial(s)",
        ]
        assert not ran.exists()
        assert (sweep["state"], sweep["trials"], trial["status"]) == (
            "stopped", {"cancelled": 1}, "cancelled",
        )  # fmt: skip
        assert run_answer.status_code == 404
        creations = [e.status for e in proxy.exchanges if e.path == "/api/v1/runs"]
        assert creations == [409]  # refused once, not retried
        assert not list((tmp_path / "work").rglob("spool-*"))  # nothing kept for a resend
    finally:
        server.stop()


def test_an_agent_killed_between_its_claim_and_its_run_leaves_a_trial_that_is_run_again(
    tmp_path: Path,
) -> None:
    """The agent is SIGKILLed as it creates trial 0's run (a proxy drops that request and kills
    it): past the server's claim lease (1 s here) the trial reads crashed, the next agent gets
    its configuration as trial 1 (``retry_of`` 0) and runs it, and the run of trial 0, created
    late after all, is refused (409 ``claim_expired``)."""
    server = ServerProcess(tmp_path / "data", extra_args=["--claim-lease", "1"]).start()
    try:
        sweep_id = create_sweep(
            server.url,
            tmp_path,
            {"method": "grid", "parameters": {"x": {"values": [1]}, "y": {"value": 0}}},
        )
        doomed: list[subprocess.Popen[str]] = []

        def kill_first(method: str, path: str) -> bool:
            if (method, path) != ("POST", "/api/v1/runs"):
                return True
            doomed[0].kill()
            doomed[0].wait()
            return False

        with RecordingProxy(server.url, before=kill_first) as proxy:
            doomed.append(agent(proxy.url, sweep_id, tmp_path / "dead", TRIAL))
            code, _ = finish(doomed[0])
        assert code == -signal.SIGKILL
        with server.client() as c:
            assert trials(c, sweep_id)[0]["status"] == "claimed"  # the lease is not over yet
            wait_until(lambda: trials(c, sweep_id)[0]["status"] == "crashed", what="crashed")
            code, err = finish(agent(server.url, sweep_id, tmp_path / "next", TRIAL))
            assert code == 0, err[-2000:]
            sweep = c.get(f"/api/v1/sweeps/{sweep_id}").json()
            listed = trials(c, sweep_id)
            late = c.post("/api/v1/runs", json={"project": "p", "id": listed[0]["run_id"]})
        assert (
            f'sweep {sweep_id}: trial 1 (the retry of crashed trial 0) with {{"x": 1, "y": 0}}'
            in err
        )
        assert (sweep["state"], sweep["trials"]) == ("finished", {"crashed": 1, "succeeded": 1})
        assert [(t["index"], t["status"], t["retry_of"], t["config"]) for t in listed] == [
            (0, "crashed", None, {"x": 1, "y": 0}),
            (1, "succeeded", 0, {"x": 1, "y": 0}),
        ]
        assert (late.status_code, late.json()["error"]["code"]) == (409, "claim_expired")
    finally:
        server.stop()


def test_an_agent_whose_claim_expired_and_was_handed_out_again_does_not_run_it(
    tmp_path: Path,
) -> None:
    """The agent creates trial 0's run after its lease, once another claim took the trial's
    retry (a proxy holds the creation meanwhile): the creation is refused for good (409
    ``claim_expired``, sent once, nothing spooled), the command never starts, and the agent says
    so in one line and goes on (here the sweep has nothing more: it is finished)."""
    server = ServerProcess(tmp_path / "data", extra_args=["--claim-lease", "1"]).start()
    try:
        sweep_id = create_sweep(
            server.url, tmp_path, {"method": "grid", "parameters": {"x": {"values": [1]}}}
        )
        with server.client() as c:

            def retry_first(method: str, path: str) -> None:
                if (method, path) == ("POST", "/api/v1/runs"):
                    wait_until(lambda: trials(c, sweep_id)[0]["status"] == "crashed")
                    c.post(f"/api/v1/sweeps/{sweep_id}/next", json={}).raise_for_status()

            with RecordingProxy(server.url, before=retry_first) as proxy:
                ran = tmp_path / "ran"
                script = f"open({str(ran)!r}, 'w').close()\n"
                code, err = finish(agent(proxy.url, sweep_id, tmp_path / "work", script))
            listed = trials(c, sweep_id)
        assert code == 0, err
        lines = err.splitlines()
        assert lines[0] == f'runwatch: sweep {sweep_id}: trial 0 with {{"x": 1}}'
        assert lines[1].startswith(f"runwatch: sweep {sweep_id}: trial 0 not run: the claim of")
        assert "handed out again as trial 1" in lines[1]
        assert lines[2:] == [f"runwatch: sweep {sweep_id} is finished; this agent ran 0 trial(s)"]
        assert not ran.exists()
        # The retry's claimer never makes its run: claimed, crashed once its own lease expired.
        (first, retry) = [(t["status"], t["retry_of"]) for t in listed]
        assert first == ("crashed", None) and retry in (("claimed", 0), ("crashed", 0))
        creations = [e.status for e in proxy.exchanges if e.path == "/api/v1/runs"]
        assert creations == [409]  # refused once, not retried
        assert not list((tmp_path / "work").rglob("spool-*"))  # nothing kept for a resend
    finally:
        server.stop()


def test_a_bad_sweep_file_is_one_line_naming_the_key(tmp_path: Path) -> None:
    (tmp_path / "sweep.yaml").write_text("method: grid\nparameters:\n  lr:\n    mn: 1\n")
    done = cli("sweep", "create", "sweep.yaml", url="http://127.0.0.1:9", cwd=tmp_path)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr == (
        "runwatch: error: sweep.yaml: parameters.lr.mn: is not a parameter key of W&B's sweep schema\n"
    )


@pytest.mark.parametrize(
    ("leaf", "key", "shown"),
    [
        ("min: .nan\n        max: 1", "min", "nan"),
        ("min: 0\n        max: .inf", "max", "inf"),
        ("values: [1, -.inf]", "values[1]", "-inf"),
        ("value: .NaN", "value", "nan"),
    ],
)
def test_a_non_finite_number_in_a_sweep_file_is_one_line_naming_the_key(
    tmp_path: Path, leaf: str, key: str, shown: str
) -> None:
    (tmp_path / "sweep.yaml").write_text(
        f"method: random\nparameters:\n  opt:\n    parameters:\n      lr:\n        {leaf}\n"
    )
    done = cli("sweep", "create", "sweep.yaml", url="http://127.0.0.1:9", cwd=tmp_path)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr == (
        f"runwatch: error: sweep.yaml: parameters.opt.parameters.lr.{key}:"
        f" must be a finite number, not {shown}\n"
    )


# An argparse script as W&B's sweeps run it: the configuration reaches it only as arguments
# (defaults that no trial has), and it logs what it got.
ARGPARSE_TRIAL = """
import argparse, ast, runwatch
parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, default=-1.0)
parser.add_argument("--layers", type=int, default=-1)
parser.add_argument("--opt", default="{'momentum': -1}")
args = parser.parse_args()
run = runwatch.init()
run.log({"lr_seen": args.lr, "layers_seen": args.layers,
         "momentum_seen": ast.literal_eval(args.opt)["momentum"]})
run.finish()
"""
# The same, from W&B's ``${args_no_hyphens}`` (key=value) and ``${args_json_file}``.
NO_HYPHENS_TRIAL = """
import json, sys, runwatch
pairs = dict(arg.split("=", 1) for arg in sys.argv[1:-2])
assert sys.argv[-2] == "--json", sys.argv
from_file = json.load(open(sys.argv[-1]))
run = runwatch.init()
assert from_file == run.config, (from_file, run.config)
run.log({"lr_seen": float(pairs["lr"]), "layers_seen": int(pairs["layers"]),
         "momentum_seen": from_file["opt"]["momentum"]})
run.finish()
"""
ARGPARSE_SWEEP: dict[str, Any] = {
    "method": "grid",
    "project": "argp",
    "program": "train.py",
    "parameters": {
        "lr": {"values": [0.1, 0.01]},
        "layers": {"values": [1, 3]},
        "opt": {"parameters": {"momentum": {"value": 0.9}}},
    },
}


def run_agent(url: str, work: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``runwatch agent ARGS`` in ``work`` (no ``--`` of its own), to its end."""
    return subprocess.run(
        [sys.executable, "-m", "runwatch", "agent", *args], capture_output=True, text=True,
        timeout=240, cwd=work, env=clean_env(RUNWATCH_URL=url),
    )  # fmt: skip


def assert_trials_got_their_arguments(server: ServerProcess, sweep_id: str) -> None:
    """Each trial's run has its configuration, and its script logged the same values."""
    with server.client() as c:
        sweep = c.get(f"/api/v1/sweeps/{sweep_id}").json()
        listed = trials(c, sweep_id)
        listed_runs = c.get("/api/v1/runs", params={"project": "argp"}).json()["runs"]
    runs = {r["id"]: r for r in listed_runs}
    assert (sweep["handed_out"], sweep["trials"]) == (4, {"succeeded": 4})
    assert sorted((t["config"]["lr"], t["config"]["layers"]) for t in listed) == [
        (0.01, 1), (0.01, 3), (0.1, 1), (0.1, 3),
    ]  # fmt: skip
    for t in listed:
        run = runs[t["run_id"]]
        assert run["config"] == t["config"]
        seen = [run["summary"][f"{k}_seen"] for k in ("lr", "layers", "momentum")]
        assert seen == [t["config"]["lr"], t["config"]["layers"], t["config"]["opt"]["momentum"]]


def test_an_argparse_script_gets_each_trials_configuration_from_the_sweeps_program(
    tmp_path: Path,
) -> None:
    """W&B's sweep file with ``program: train.py`` and no ``--`` command: the agent runs W&B's
    default command, ``train.py --lr=… --layers=… --opt={'momentum': 0.9}`` per trial."""
    server = ServerProcess(tmp_path / "data").start()
    try:
        (tmp_path / "sweep.json").write_text(json.dumps(ARGPARSE_SWEEP))
        made = cli("sweep", "create", "sweep.json", url=server.url, cwd=tmp_path)
        sweep_id = made.stdout.split()[0]
        assert made.stderr.splitlines()[0].endswith(f"run it with: runwatch agent {sweep_id}")
        (tmp_path / "train.py").write_text(ARGPARSE_TRIAL)
        done = run_agent(server.url, tmp_path, sweep_id)
        assert done.returncode == 0, done.stderr[-3000:]
        argv = ["/usr/bin/env", sys.executable, "train.py", "--lr=0.1", "--layers=1",
                "--opt={'momentum': 0.9}"]  # fmt: skip
        assert f"sweep {sweep_id}: trial 0's command: {shlex.join(argv)}" in done.stderr
        assert_trials_got_their_arguments(server, sweep_id)
    finally:
        server.stop()


def test_a_custom_command_in_the_sweep_file_is_what_each_trial_runs(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data").start()
    try:
        command = ["${env}", "${interpreter}", "${program}", "${args_no_hyphens}", "--json",
                   "${args_json_file}"]  # fmt: skip
        sweep_id = create_sweep(server.url, tmp_path, {**ARGPARSE_SWEEP, "command": command})
        (tmp_path / "train.py").write_text(NO_HYPHENS_TRIAL)
        done = run_agent(server.url, tmp_path, sweep_id, "--count", "4")
        assert done.returncode == 0, done.stderr[-3000:]
        assert_trials_got_their_arguments(server, sweep_id)
    finally:
        server.stop()


def test_an_own_command_gets_arguments_only_where_it_asks_for_them(tmp_path: Path) -> None:
    """``-- python train.py`` runs as given (the configuration in the environment and the
    run's config, one line saying so); ``'${args}'`` in it adds the arguments."""
    server = ServerProcess(tmp_path / "data").start()
    try:
        sweep_id = create_sweep(server.url, tmp_path, ARGPARSE_SWEEP)
        (tmp_path / "train.py").write_text(ARGPARSE_TRIAL)
        plain = run_agent(server.url, tmp_path, sweep_id, "--count", "1", "--",
                          sys.executable, "train.py")  # fmt: skip
        assert plain.returncode == 0, plain.stderr[-3000:]
        assert "not as arguments: add '${args}' to it" in plain.stderr
        with server.client() as c:
            (first,) = trials(c, sweep_id)
            run = c.get(f"/api/v1/runs/{first['run_id']}").json()
        assert run["config"] == first["config"]
        assert (run["summary"]["lr_seen"], run["summary"]["layers_seen"]) == (-1, -1)
        asked = run_agent(server.url, tmp_path, sweep_id, "--", sys.executable, "train.py",
                          "${args}")  # fmt: skip
        assert asked.returncode == 0, asked.stderr[-3000:]
        assert "not as arguments" not in asked.stderr
        with server.client() as c:
            rest = trials(c, sweep_id)[1:]
            got = [c.get(f"/api/v1/runs/{t['run_id']}").json() for t in rest]
        assert len(rest) == 3
        for t, r in zip(rest, got, strict=True):
            assert (r["summary"]["lr_seen"], r["summary"]["layers_seen"]) == (
                t["config"]["lr"], t["config"]["layers"],
            )  # fmt: skip
    finally:
        server.stop()


def test_a_sweep_with_nothing_to_run_is_refused_in_one_line_before_any_trial(
    tmp_path: Path,
) -> None:
    server = ServerProcess(tmp_path / "data").start()
    try:
        sweep_id = create_sweep(
            server.url, tmp_path, {"method": "grid", "parameters": {"x": {"values": [1, 2]}}}
        )
        done = run_agent(server.url, tmp_path, sweep_id)
        assert done.returncode == 1 and done.stdout == ""
        assert done.stderr == (
            f"runwatch: error: sweep {sweep_id}: nothing to run: the sweep has neither a program"
            " nor a command; add `program: train.py` to the sweep file, or give the agent the"
            " trial's command (runwatch agent SWEEP_ID -- python train.py)\n"
        )
        with server.client() as c:
            sweep = c.get(f"/api/v1/sweeps/{sweep_id}").json()
        assert (sweep["handed_out"], sweep["trials"]) == (0, {})  # no trial was taken
    finally:
        server.stop()
