"""Real W&B example scripts, adapted (small, CPU, synthetic data), run with only their
``import wandb`` line swapped for the shim: each exits 0 with no exception, and every value it
logs is read back from the server (for the MNIST one: equal to what the real ``wandb`` records).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from runwatch.launcher.wandb_offline import WandbRunTail
from tests.servers import ServerProcess, wait_until

EXAMPLES = Path(__file__).with_name("examples")
SHIM_IMPORT = "import runwatch.compat.wandb as wandb"


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNWATCH_", "WANDB_"))}
    env.update(extra)
    return env


def run_example(name: str, work: Path, env: dict[str, str], shim: bool = True) -> str:
    """Run ``examples/<name>`` in ``work`` (with the shim's import line when ``shim``); its stderr."""
    text = (EXAMPLES / name).read_text()
    if shim:
        assert text.count("\nimport wandb\n") == 1
        text = text.replace("\nimport wandb\n", f"\n{SHIM_IMPORT}\n")
    work.mkdir(parents=True, exist_ok=True)
    (work / name).write_text(text)
    done = subprocess.run(
        [sys.executable, name], cwd=work, capture_output=True, text=True, timeout=300, env=env
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    return done.stderr


def finished_runs(c: httpx.Client, project: str, n: int) -> list[dict[str, Any]]:
    def done() -> list[dict[str, Any]] | None:
        runs = c.get("/api/v1/runs", params={"project": project}).json()["runs"]
        ok = len(runs) == n and all(r["status"] == "succeeded" for r in runs)
        return runs if ok else None

    runs: list[dict[str, Any]] = wait_until(done, 30, what=f"{n} finished runs of {project}")
    return runs


def metrics(c: httpx.Client, run_id: str) -> dict[str, list[tuple[float, float]]]:
    body = c.get(f"/api/v1/runs/{run_id}/metrics", params={"max_points": 1000}).json()
    return {k: list(zip(s["x"], s["value"], strict=True)) for k, s in body["series"].items()}


def test_metrics_at_different_steps(server: ServerProcess, tmp_path: Path) -> None:
    run_example("metrics_steps.py", tmp_path, _env(RUNWATCH_URL=server.url))
    with server.client() as c:
        (info,) = finished_runs(c, "wandb-example-steps", 1)
        got = metrics(c, info["id"])
    # wandb.log() alone commits the row built with commit=False: one row per step.
    assert got == {
        "train/step": [(i, i) for i in range(20)],
        "train/loss": [(i, 1.0 / (i + 1)) for i in range(20)],
        "val/step": [(i, i // 5) for i in range(4, 20, 5)],
        "val/loss": [(i // 5, 2.0 / (i + 1)) for i in range(4, 20, 5)],
        "last": [(20, 1.0)],  # committed by wandb.log({})
    }


def test_grid_sweep_runs_every_combination(server: ServerProcess, tmp_path: Path) -> None:
    err = run_example("sweep_grid.py", tmp_path, _env(RUNWATCH_URL=server.url))
    assert "Created sweep with ID" in err
    with server.client() as c:
        runs = finished_runs(c, "wandb-example-sweep", 6)  # count=10, the grid has 6 points
        scores = {r["id"]: metrics(c, r["id"])["score"] for r in runs}
    configs = sorted((r["config"]["x"], r["config"]["y"], r["config"]["opt"]) for r in runs)
    assert configs == [(x, y, "adam") for x in (1, 2, 3) for y in (10, 20)]
    for r in runs:
        assert scores[r["id"]] == [(0, r["config"]["x"] ** 3 + r["config"]["y"])]
    assert len({r["group"] for r in runs}) == 1 and runs[0]["group"].startswith("sweep-")


def real_wandb_rows(work: Path) -> tuple[dict[str, list[tuple[float, float]]], dict[str, Any]]:
    """Run the MNIST example under the real ``wandb`` (offline): its history and config."""
    env = _env(WANDB_MODE="offline", WANDB_SILENT="true", OMP_NUM_THREADS="1")
    run_example("mnist_tiny.py", work, env, shim=False)
    (path,) = work.glob("wandb/offline-run-*/run-*.wandb")
    tail = WandbRunTail(path)
    out: dict[str, list[tuple[float, float]]] = {}
    for step, _, values in tail.read_new():
        for key, value in values.items():
            out.setdefault(key, []).append((float(step), value))
    return out, {k: v.get("value", v) if isinstance(v, dict) else v for k, v in tail.config.items()}


def test_mnist_example_config_update_after_init(server: ServerProcess, tmp_path: Path) -> None:
    want, real_config = real_wandb_rows(tmp_path / "real")
    work = tmp_path / "shim"
    err = run_example("mnist_tiny.py", work, _env(RUNWATCH_URL=server.url, OMP_NUM_THREADS="1"))
    assert "wandb.watch" not in err  # watched (fewer batches than log_freq: no histograms)
    with server.client() as c:
        (info,) = finished_runs(c, "wandb-example-mnist", 1)
        got = metrics(c, info["id"])
        manifest = c.get(f"/api/v1/runs/{info['id']}/artifacts").json()["artifacts"]
    assert set(want) == {"loss", "Test Accuracy", "Test Loss"} and got == want
    # config.update(args) right after init: the run's config, as W&B records it.
    args = ("batch_size", "test_batch_size", "epochs", "lr", "momentum", "seed", "log_interval")
    assert info["config"] == {k: real_config[k] for k in args}
    (saved,) = manifest
    weights = (work / "mnist_cnn.pt").read_bytes()
    assert saved["path"] == "files/mnist_cnn.pt" and saved["size"] == len(weights)
    assert saved["sha256"] == hashlib.sha256(weights).hexdigest()
