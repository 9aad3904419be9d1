"""Every script in examples/ runs briefly against a real server and leaves what it promises."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from tests.servers import ServerProcess, wait_until

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run_example(server: ServerProcess, tmp_path: Path, *args: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNWATCH_", "WANDB_"))}
    env["RUNWATCH_URL"] = server.url
    done = subprocess.run(
        [sys.executable, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stderr[-3000:]


def finished_run(c: httpx.Client, project: str) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        runs = c.get("/api/v1/runs", params={"project": project}).json()["runs"]
        return runs[0] if runs and runs[0]["status"] == "succeeded" else None

    run: dict[str, Any] = wait_until(done, 60, what=f"the {project} run to succeed")
    return run


def series(c: httpx.Client, run_id: str, key: str) -> list[float]:
    body = c.get(f"/api/v1/runs/{run_id}/metrics", params={"keys": key, "max_points": 20000}).json()
    values: list[float] = body["series"][key]["value"]
    return values


def events(c: httpx.Client, run_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = c.get(
        f"/api/v1/runs/{run_id}/events", params={"limit": 1000}
    ).json()["events"]
    return found


def test_streaming_pipeline(server: ServerProcess, tmp_path: Path) -> None:
    run_example(
        server, tmp_path, str(EXAMPLES / "streaming_pipeline.py"), "--steps", "600", "--delay", "0"
    )
    with server.client() as c:
        run = finished_run(c, "streaming")
        kinds = {e["kind"] for e in events(c, run["id"])}
        assert {"birth", "merge", "deprecate"} <= kinds
        snapshots = c.get(f"/api/v1/runs/{run['id']}/state").json()["snapshots"]
        key = next(k for k in snapshots if k.startswith("footprint/"))
        versions = c.get(f"/api/v1/runs/{run['id']}/snapshots/{key}").json()["versions"]
        assert len(versions) >= 2 and len(series(c, run["id"], "signal")) == 600


def test_automl_sweep(server: ServerProcess, tmp_path: Path) -> None:
    run_example(
        server,
        tmp_path,
        str(EXAMPLES / "automl_sweep.py"),
        "--trials",
        "8",
        "--epochs",
        "3",
        "--delay",
        "0",
    )
    with server.client() as c:
        run = finished_run(c, "automl")
        board = c.get(f"/api/v1/runs/{run['id']}/tables/leaderboard").json()["rows"]
        scores = [row["score"] for row in board]
        assert len(board) == 8 and scores == sorted(scores, reverse=True)
        assert round(series(c, run["id"], "best_score")[-1], 4) == scores[0]


def test_evolutionary_search(server: ServerProcess, tmp_path: Path) -> None:
    run_example(
        server,
        tmp_path,
        str(EXAMPLES / "evolutionary_search.py"),
        "--generations",
        "40",
        "--delay",
        "0",
    )
    with server.client() as c:
        run = finished_run(c, "evolution")
        best = series(c, run["id"], "best_so_far")
        assert len(best) == 40 and all(b <= a for a, b in itertools.pairwise(best))
        assert best[-1] < best[0]
        assert any(e["kind"] == "new_best" for e in events(c, run["id"]))


def test_knn_embeddings(server: ServerProcess, tmp_path: Path) -> None:
    run_example(
        server,
        tmp_path,
        str(EXAMPLES / "knn_embeddings.py"),
        "--rounds",
        "6",
        "--items",
        "60",
        "--delay",
        "0",
    )
    with server.client() as c:
        run = finished_run(c, "embeddings")
        points = c.get(f"/api/v1/runs/{run['id']}/points/embedding").json()["points"]
        assert len(points) == 60  # republished with replace: one round's set, not six
        purity = series(c, run["id"], "knn_purity")
        assert len(purity) == 6 and purity[-1] > purity[0]


def test_rl_worker_under_the_launcher(server: ServerProcess, tmp_path: Path) -> None:
    run_dir = tmp_path / "ppo"
    run_example(
        server, tmp_path, "-m", "runwatch", "launch", "--project", "rl", "--run-dir", str(run_dir),
        "--", sys.executable, str(EXAMPLES / "rl_worker.py"), "--episodes", "60", "--delay", "0",
    )  # fmt: skip
    with server.client() as c:
        run = finished_run(c, "rl")
        keys = wait_until(
            lambda: (
                {
                    k
                    for k in c.get(
                        f"/api/v1/runs/{run['id']}/metrics", params={"max_points": 1}
                    ).json()["series"]
                }
                >= {"episode/return", "wandb/reward"}
                or None
            ),
            30,
            what="TensorBoard and W&B scalars",
        )
        assert keys
        assert len(series(c, run["id"], "wandb/reward")) == 60
        assert len(series(c, run["id"], "episode/return")) == 60
        logs = c.get(f"/api/v1/runs/{run['id']}/logs").json()["lines"]
        assert any(line["text"] == "done" for line in logs)


def test_each_help_gives_the_first_paragraph_of_the_docstring_whole() -> None:
    """``--help`` describes the script in its docstring's first paragraph (it gave the first
    line only, which stopped mid-sentence)."""
    import ast

    for script in sorted(EXAMPLES.glob("*.py")):
        doc = ast.get_docstring(ast.parse(script.read_text())) or ""
        shown = subprocess.run(
            [sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=60
        ).stdout
        assert " ".join(doc.split("\n\n")[0].split()) in " ".join(shown.split()), script.name
