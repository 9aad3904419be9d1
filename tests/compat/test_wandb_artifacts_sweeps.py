"""The shim's artifacts, config and random sweeps, read back through the HTTP API."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.compat.test_wandb_examples import _env, finished_runs, metrics
from tests.servers import ServerProcess

SHIM = "import runwatch.compat.wandb as wandb\n"

ARTIFACTS = """
from pathlib import Path
run = wandb.init(project="arts", config={"lr": 0.1})
wandb.config.update({"batch": 8})
wandb.config.setdefaults({"lr": 9.0, "epochs": 3})
Path("model.pt").write_bytes(b"weights-1")
Path("data").mkdir()
(Path("data") / "a.csv").write_text("x\\n1\\n")
(Path("data") / "sub").mkdir()
(Path("data") / "sub" / "b.csv").write_text("x\\n2\\n")
Path("src").mkdir()
(Path("src") / "train.py").write_text("print('train')\\n")
(Path("src") / "notes.txt").write_text("not code\\n")
wandb.save("*.ckpt")  # nothing yet: matched again at finish
art = wandb.Artifact("model", type="model", metadata={"acc": 0.9})
art.add_file("model.pt")
run.log_artifact(art)
wandb.log({"loss": 1.0})
wandb.config.update({"late": True})  # after the first record: the stored config changes too
same = wandb.Artifact("model", type="model")
same.add_file("model.pt")
run.log_artifact(same)  # same content: still v0
Path("model.pt").write_bytes(b"weights-2")
changed = wandb.Artifact("model", type="model")
changed.add_file("model.pt")
run.log_artifact(changed, aliases=["best"])  # new content: v1
data = wandb.Artifact("dataset", type="dataset")
data.add_dir("data")
data.add_reference("s3://bucket/raw.parquet")
with data.new_file("info.txt", mode="w") as f:
    f.write("made here")
wandb.use_artifact(data)
wandb.use_artifact("model:latest")
run.log_code("src")
Path("last.ckpt").write_bytes(b"ckpt")
print("VERSIONS", same.version, changed.version, wandb.use_artifact("model:v1").version)
wandb.finish()
"""


def run_script(
    server: ServerProcess, body: str, work: Path, raises: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run ``body`` with the shim in ``work``: exit 0, and no traceback unless one is ``raises``."""
    work.mkdir(parents=True, exist_ok=True)
    (work / "script.py").write_text(SHIM + body)
    done = subprocess.run(
        [sys.executable, "script.py"], cwd=work, capture_output=True, text=True, timeout=120,
        env=_env(RUNWATCH_URL=server.url),
    )  # fmt: skip
    assert done.returncode == 0 and raises == ("Traceback" in done.stderr), done.stderr
    return done


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_artifacts_code_and_saved_files_are_in_the_manifest(
    server: ServerProcess, tmp_path: Path
) -> None:
    done = run_script(server, ARTIFACTS, tmp_path / "work")
    assert "VERSIONS v0 v1 v1" in done.stdout
    with server.client() as c:
        (info,) = finished_runs(c, "arts", 1)
        manifest = c.get(f"/api/v1/runs/{info['id']}/artifacts").json()["artifacts"]
        events = c.get(f"/api/v1/runs/{info['id']}/events", params={"limit": 100}).json()
    # update and setdefaults before the first record are the run's initial config, and a later
    # update changes the stored config; all are kept as events too.
    assert info["config"] == {"lr": 0.1, "batch": 8, "epochs": 3, "late": True}
    updates = [e["payload"]["values"] for e in events["events"] if e["kind"] == "config.update"]
    assert updates == [{"batch": 8}, {"epochs": 3}, {"late": True}]
    by_path: dict[str, dict[str, Any]] = {e["path"]: e for e in manifest}
    assert set(by_path) == {
        "model:v0/model.pt", "model:v1/model.pt",
        "dataset:v0/a.csv", "dataset:v0/sub/b.csv", "dataset:v0/raw.parquet",
        "dataset:v0/info.txt", f"source-arts-{info['id']}:v0/train.py", "files/last.ckpt",
    }  # fmt: skip
    v0, v1 = by_path["model:v0/model.pt"], by_path["model:v1/model.pt"]
    assert (v0["kind"], v0["size"], v0["sha256"]) == ("model", 9, sha(b"weights-1"))
    assert (v1["size"], v1["sha256"]) == (9, sha(b"weights-2"))
    assert v0["meta"]["metadata"] == {"acc": 0.9} and v0["meta"]["use"] == "output"
    assert v1["meta"]["aliases"] == ["best", "latest"]
    sub = by_path["dataset:v0/sub/b.csv"]
    assert (sub["kind"], sub["sha256"], sub["meta"]["use"]) == ("dataset", sha(b"x\n2\n"), "input")
    assert by_path["dataset:v0/info.txt"]["sha256"] == sha(b"made here")
    ref = by_path["dataset:v0/raw.parquet"]
    assert "sha256" not in ref and ref["meta"]["source"] == "s3://bucket/raw.parquet"
    code = by_path[f"source-arts-{info['id']}:v0/train.py"]
    assert (code["kind"], code["sha256"]) == ("code", sha(b"print('train')\n"))
    saved = by_path["files/last.ckpt"]
    assert (saved["kind"], saved["sha256"]) == ("file", sha(b"ckpt"))


RANDOM_SWEEP = """
import math
spec = {
    "method": "bayes",
    "metric": {"name": "score", "goal": "maximize"},
    "run_cap": 5,
    "parameters": {
        "lr": {"distribution": "log_uniform_values", "min": 1e-4, "max": 1e-1},
        "layers": {"distribution": "int_uniform", "min": 1, "max": 4},
        "dropout": {"distribution": "q_uniform", "min": 0.0, "max": 0.5, "q": 0.1},
        "width": {"values": [32, 64]},
        "noise": {"distribution": "normal", "mu": 0.0, "sigma": 1.0},
        "optimizer": {"parameters": {"name": {"value": "sgd"}, "momentum": {"min": 0.5, "max": 0.9}}},
    },
}
sweep_id = wandb.sweep(spec, project="rand")
calls = []

def train():
    with wandb.init() as run:
        c = wandb.config
        calls.append(dict(c))
        if len(calls) == 2:
            raise RuntimeError("this trial crashed")
        wandb.log({"score": c.lr * c.layers})

wandb.agent(sweep_id, function=train, count=10)
wandb.agent(sweep_id, function=train)  # the run_cap is reached: says so, runs nothing
print("CALLS", len(calls))
"""


def test_random_sweep_samples_each_distribution_up_to_run_cap(
    server: ServerProcess, tmp_path: Path
) -> None:
    done = run_script(server, RANDOM_SWEEP, tmp_path / "work", raises=True)
    assert "CALLS 5" in done.stdout
    err = done.stderr
    assert "random search" not in err and "this trial crashed" in err
    assert "has no configurations left; nothing ran" in err
    with server.client() as c:
        runs = c.get("/api/v1/runs", params={"project": "rand"}).json()["runs"]
        assert sorted(r["status"] for r in runs) == ["failed"] + ["succeeded"] * 4
        for r in runs:
            cfg = r["config"]
            assert 1e-4 <= cfg["lr"] <= 1e-1 and cfg["layers"] in (1, 2, 3, 4)
            assert cfg["width"] in (32, 64) and isinstance(cfg["noise"], float)
            assert round(cfg["dropout"] * 10, 6) == round(cfg["dropout"] * 10)
            assert cfg["optimizer"]["name"] == "sgd"
            assert 0.5 <= cfg["optimizer"]["momentum"] <= 0.9
            if r["status"] == "succeeded":
                assert metrics(c, r["id"]) == {"score": [(0, cfg["lr"] * cfg["layers"])]}


PROGRAM = (
    SHIM
    + """
import argparse
parser = argparse.ArgumentParser()
parser.add_argument("--depth", type=int)
parser.add_argument("--act")
args = parser.parse_args()
wandb.init(config=args)
wandb.log({"depth_seen": args.depth})
"""
)
PROGRAM_SWEEP = """
spec = {"method": "grid", "program": "train.py", "parameters": {
    "depth": {"distribution": "int_uniform", "min": 1, "max": 3}, "act": {"value": "relu"}}}
wandb.agent(wandb.sweep(spec, project="prog"))
"""


def test_a_sweep_without_function_runs_its_program_per_configuration(
    server: ServerProcess, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "train.py").write_text(PROGRAM)
    (work / "script.py").write_text(SHIM + PROGRAM_SWEEP)
    done = subprocess.run(
        [sys.executable, "script.py"], cwd=work, capture_output=True, text=True, timeout=120,
        env=_env(RUNWATCH_URL=server.url),
    )  # fmt: skip
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    with server.client() as c:
        runs = finished_runs(c, "prog", 3)
        for r in runs:
            assert metrics(c, r["id"]) == {"depth_seen": [(0, r["config"]["depth"])]}
    assert sorted((r["config"]["depth"], r["config"]["act"]) for r in runs) == [
        (1, "relu"), (2, "relu"), (3, "relu"),
    ]  # fmt: skip


COMMAND_PROGRAM = (
    SHIM
    + """
import json, sys
pairs = dict(arg.split("=", 1) for arg in sys.argv[1:-1])
wandb.init()
wandb.log({"depth_seen": int(pairs["depth"]), "json_depth": json.loads(sys.argv[-1])["depth"]})
"""
)
COMMAND_SWEEP = """
spec = {"method": "grid", "program": "train.py", "parameters": {"depth": {"values": [1, 2]}},
        "command": ["${env}", "${interpreter}", "${program}", "${args_no_hyphens}",
                    "${args_json}"]}
wandb.agent(wandb.sweep(spec, project="cmd"))
wandb.agent(wandb.sweep({"method": "grid", "parameters": {"x": {"value": 1}}}, project="none"))
gone = {"method": "grid", "command": ["no-such-command-here"], "parameters": {"x": {"value": 1}}}
wandb.agent(wandb.sweep(gone, project="gone"))
"""


def test_a_sweep_without_function_runs_its_command_with_wandbs_macros(
    server: ServerProcess, tmp_path: Path
) -> None:
    """As W&B's agent: the sweep's ``command`` (``${args_no_hyphens}``: ``key=value``); a
    sweep with nothing to run is one warning, no trial taken; a command that cannot start is
    one warning and the agent stops."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "train.py").write_text(COMMAND_PROGRAM)
    (work / "script.py").write_text(SHIM + COMMAND_SWEEP)
    done = subprocess.run(
        [sys.executable, "script.py"], cwd=work, capture_output=True, text=True, timeout=120,
        env=_env(RUNWATCH_URL=server.url),
    )  # fmt: skip
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert "wandb.agent: no function, and sweep " in done.stderr
    assert ": nothing to run: the sweep has neither a program nor a command;" in done.stderr
    assert "wandb.agent: could not start the sweep's command ['no-such-command-here']" in (
        done.stderr
    )
    with server.client() as c:
        runs = finished_runs(c, "cmd", 2)
        for r in runs:
            depth = r["config"]["depth"]
            assert metrics(c, r["id"]) == {"depth_seen": [(0, depth)], "json_depth": [(0, depth)]}
        none = c.get("/api/v1/runs", params={"project": "none"}).json()["runs"]
    assert sorted(r["config"]["depth"] for r in runs) == [1, 2] and none == []


def test_a_run_that_recorded_nothing_still_exists_and_a_crash_fails_it(
    server: ServerProcess, tmp_path: Path
) -> None:
    body = (
        'wandb.init(project="quiet")\nwandb.config.update({"k": 1})\nraise RuntimeError("boom")\n'
    )
    work = tmp_path / "work"
    work.mkdir()
    (work / "script.py").write_text(SHIM + body)
    done = subprocess.run(
        [sys.executable, "script.py"], cwd=work, capture_output=True, text=True, timeout=120,
        env=_env(RUNWATCH_URL=server.url),
    )  # fmt: skip
    assert done.returncode == 1 and "RuntimeError: boom" in done.stderr
    with server.client() as c:
        (info,) = c.get("/api/v1/runs", params={"project": "quiet"}).json()["runs"]
    assert info["config"] == {"k": 1} and info["status"] == "failed"
    assert "RuntimeError: boom" in info["error"]


SHARED_SWEEP = """
import sys
spec = {"method": "grid", "parameters": {"a": {"values": [1, 2, 3]}, "b": {"values": [0, 1]}}}
sweep_id = sys.argv[1] if len(sys.argv) > 1 else wandb.sweep(spec, project="shared")
print("SWEEP", sweep_id)

def train():
    wandb.init(project="ignored")
    wandb.log({"ab": wandb.config.a * 10 + wandb.config.b})

wandb.agent(sweep_id, function=train, count=3)
"""


def test_two_wandb_agents_share_one_server_sweep(server: ServerProcess, tmp_path: Path) -> None:
    """wandb.sweep creates the sweep on the server; a second process's wandb.agent takes the
    trials the first did not: 6 grid points, each run once."""
    first = run_script(server, SHARED_SWEEP, tmp_path / "one")
    assert "Created sweep with ID" in first.stderr, first.stderr
    sweep_id = first.stdout.split("SWEEP ", 1)[1].split()[0]
    work = tmp_path / "two"
    work.mkdir()
    (work / "script.py").write_text(SHIM + SHARED_SWEEP)
    second = subprocess.run(
        [sys.executable, "script.py", sweep_id], cwd=work, capture_output=True, text=True,
        timeout=120, env=_env(RUNWATCH_URL=server.url),
    )  # fmt: skip
    assert second.returncode == 0, second.stderr
    with server.client() as c:
        sweep = c.get(f"/api/v1/sweeps/{sweep_id}").json()
        runs = finished_runs(c, "shared", 6)
    assert (sweep["handed_out"], sweep["trials"]) == (6, {"succeeded": 6})
    pairs = sorted((r["config"]["a"], r["config"]["b"]) for r in runs)
    assert pairs == [(a, b) for a in (1, 2, 3) for b in (0, 1)]
    assert {r["group"] for r in runs} == {f"sweep-{sweep_id}"}
