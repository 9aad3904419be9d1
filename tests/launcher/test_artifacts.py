"""Artifacts of workers that never call our SDK: real TensorBoard and W&B offline writers."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
from tensorboard.util import tensor_util

from tests.servers import ServerProcess

WORKER = """
    import json, os, sys
    run_dir = os.environ["RUNWATCH_RUN_DIR"]
    if "{tb}" == "yes":
        from tensorboardX import SummaryWriter
        writer = SummaryWriter(os.path.join(run_dir, "tensorboard"))
        for step in range(300):
            writer.add_scalar("train/loss", 1.0 / (step + 1), step)
            writer.add_scalar("train/acc", step / 300, step)
        writer.close()
    if "{wandb}" == "yes":
        import wandb
        run = wandb.init(project="rl", dir=run_dir, config={{"lr": 0.01, "env": "CartPole"}})
        for step in range(50):
            wandb.log({{"reward": step * 2.0}})
        run.summary["best_reward"] = 98.0
        run.finish()
    os.makedirs(os.path.join(run_dir, "checkpoints"), exist_ok=True)
    with open(os.path.join(run_dir, "checkpoints", "policy.pt"), "wb") as f:
        f.write(b"weights" * 4096)
    with open(os.path.join(run_dir, "notes.txt"), "w") as f:
        f.write("hello")
    with open(os.path.join(run_dir, "artifacts_manifest.json"), "w") as f:
        entries = [{{"path": "notes.txt", "kind": "report"}}, {{"path": "../../etc/passwd"}}]
        json.dump(entries + [{{"nopath": 1}}], f)
    if "{fail}" == "yes":
        print("diverged at step 301", file=sys.stderr)
        sys.exit(1)
"""


def launch(
    server: ServerProcess, run_dir: Path, tmp_path: Path, script: str | None = None, **flags: str
) -> int:
    """Run a worker (``script``, or WORKER with ``flags``) under ``runwatch launch``."""
    options = {"tb": "no", "wandb": "no", "fail": "no", **flags}
    text = textwrap.dedent(WORKER.format(**options)) if script is None else script
    script_path = tmp_path / "worker.py"
    script_path.write_text(text)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNWATCH_", "WANDB_"))}
    env.update(RUNWATCH_URL=server.url, WANDB_MODE="offline", WANDB_SILENT="true")
    done = subprocess.run(
        [sys.executable, "-m", "runwatch", "launch", "--project", "art", "--run-dir", str(run_dir),
         "--", sys.executable, str(script_path)],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    return done.returncode


def tensorboard_reference(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """What TensorBoard's own reader returns for the same files."""
    out: dict[str, list[tuple[int, float]]] = {}
    for path in sorted(run_dir.rglob("events.out.tfevents.*")):
        for event in EventFileLoader(str(path)).Load():
            for value in event.summary.value:
                number = (
                    value.simple_value
                    if value.HasField("simple_value")
                    else float(tensor_util.make_ndarray(value.tensor))
                )
                out.setdefault(value.tag, []).append((event.step, number))
    return out


@pytest.mark.parametrize(
    ("tb", "wandb", "fail"),
    [("yes", "yes", "no"), ("yes", "no", "no"), ("no", "no", "no"), ("yes", "no", "yes")],
    ids=["both", "tensorboard-only", "none", "failure-mid-run"],
)
def test_artifact_scenarios(
    server: ServerProcess, tmp_path: Path, tb: str, wandb: str, fail: str
) -> None:
    run_dir = tmp_path / "run"
    code = launch(server, run_dir, tmp_path, tb=tb, wandb=wandb, fail=fail)
    assert code == (1 if fail == "yes" else 0)
    with server.client() as c:
        run = c.get("/api/v1/runs", params={"project": "art"}).json()["runs"][0]
        artifacts = c.get(f"/api/v1/runs/{run['id']}/artifacts").json()["artifacts"]
        kinds = {a["kind"] for a in artifacts}
        warnings = c.get(
            f"/api/v1/runs/{run['id']}/events", params={"kind": "artifact.invalid"}
        ).json()["events"]
        keys = set(c.get(f"/api/v1/runs/{run['id']}/state").json()["metrics"])
    assert run["status"] == ("failed" if fail == "yes" else "succeeded")
    checkpoint = next(a for a in artifacts if a["kind"] == "checkpoint")
    assert checkpoint["path"] == "checkpoints/policy.pt"
    assert checkpoint["sha256"] == hashlib.sha256(b"weights" * 4096).hexdigest()
    assert any(a["path"] == "notes.txt" and a["kind"] == "report" for a in artifacts)
    assert len(warnings) == 2  # the path outside the run dir, and the entry without a path
    assert ("tensorboard" in kinds) == (tb == "yes") and ("wandb" in kinds) == (wandb == "yes")
    assert (run_dir / "artifacts.json").is_file()
    if tb == "yes":
        assert {"train/loss", "train/acc"} <= keys
    if wandb == "yes":
        wandb_entries = [a for a in artifacts if a["kind"] == "wandb"]
        assert len(wandb_entries) == 1 and "latest-run" not in wandb_entries[0]["path"]  # once
        entry = wandb_entries[0]
        assert (
            entry["meta"]["config"]["lr"] == 0.01
            and entry["meta"]["summary"]["best_reward"] == 98.0
        )
        assert "wandb sync" in entry["meta"]["sync_hint"]
        assert "wandb/reward" in keys
        with server.client() as c:
            rewards = c.get(
                f"/api/v1/runs/{run['id']}/metrics", params={"keys": "wandb/reward"}
            ).json()
        assert len(rewards["series"]["wandb/reward"]["x"]) == 50  # imported once, not per link


def test_imported_scalars_equal_tensorboards_own_reader(
    server: ServerProcess, tmp_path: Path
) -> None:
    run_dir = tmp_path / "run"
    assert launch(server, run_dir, tmp_path, tb="yes") == 0
    reference = tensorboard_reference(run_dir)
    with server.client() as c:
        run_id = c.get("/api/v1/runs", params={"project": "art"}).json()["runs"][0]["id"]
        series = c.get(
            f"/api/v1/runs/{run_id}/metrics",
            params={"keys": "train/loss,train/acc", "max_points": 5000},
        ).json()["series"]
    for tag, points in reference.items():
        assert list(zip(series[tag]["x"], series[tag]["value"], strict=True)) == points
