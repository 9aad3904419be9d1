"""A templates file with a gated worker, servers that launch it, and cleanup of launchers;
in-process apps with the same file for the tests that launch nothing.

The worker writes its argv to ``argv.json`` in its run dir, then waits for a ``release`` file
there (so a test decides when a run ends without sleeping), then exits with ``--exit``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from tests.asgi import InProcessServer, serve_in_process, settings_for
from tests.servers import ServerProcess, wait_until

WORKER = """
import json, os, sys, time
run_dir = os.environ["RUNWATCH_RUN_DIR"]
with open(os.path.join(run_dir, "worker.pid"), "w") as f:
    f.write(str(os.getpid()))
with open(os.path.join(run_dir, "argv.part"), "w") as f:  # renamed whole: never read half
    json.dump(sys.argv[1:], f)
os.replace(os.path.join(run_dir, "argv.part"), os.path.join(run_dir, "argv.json"))
print("worker started", flush=True)
code = int(sys.argv[sys.argv.index("--exit") + 1])
while not os.path.exists(os.path.join(run_dir, "release")):
    time.sleep(0.05)  # the worker's own poll of its gate file
print("worker done", flush=True)
sys.exit(code)
"""


def write_templates(root: Path) -> Path:
    """``root/runwatch.toml`` with one template ``train`` of every parameter type."""
    (root / "datasets" / "sub").mkdir(parents=True, exist_ok=True)
    (root / "datasets" / "mnist.csv").write_text("x,y\n1,2\n")
    (root / "datasets" / "sub" / "cifar.csv").write_text("x,y\n")
    (root / "secret.txt").write_text("not for you\n")
    (root / "datasets" / "escape").symlink_to(root / "secret.txt")
    (root / "worker.py").write_text(textwrap.dedent(WORKER))
    path = root / "runwatch.toml"
    path.write_text(
        textwrap.dedent(f"""
        [templates.train]
        description = "Train a model on a dataset"
        project = "automl"
        command = [{json.dumps(sys.executable)}, "worker.py", "--lr", "{{lr}}", "--epochs={{epochs}}",
                   "--model", "{{model}}", "--data", "{{data}}", "--note", "{{note}}",
                   "--exit", "{{exit}}"]

        [templates.train.params.lr]
        type = "float"
        min = 0.00001
        max = 1.0
        default = 0.001
        help = "learning rate"

        [templates.train.params.epochs]
        type = "int"
        min = 1
        max = 100
        default = 3

        [templates.train.params.model]
        type = "choice"
        choices = ["mlp", "cnn", "resnet"]
        default = "mlp"

        [templates.train.params.data]
        type = "file"
        dir = "datasets"

        [templates.train.params.note]
        type = "string"
        pattern = "[A-Za-z0-9 _.-]*"
        max_length = 40
        default = "baseline"

        [templates.train.params.exit]
        type = "int"
        min = 0
        max = 3
        default = 0
        """)
    )
    return path


def ops_templates(tmp_path: Path) -> Path:
    """The templates file, in ``tmp_path/ops``."""
    root = tmp_path / "ops"
    root.mkdir(exist_ok=True)
    return write_templates(root)


def serve_templates(tmp_path: Path, *args: str) -> ServerProcess:
    templates = ops_templates(tmp_path)
    return ServerProcess(tmp_path / "data", extra_args=["--templates", str(templates), *args])


@contextlib.contextmanager
def templates_in_process(tmp_path: Path, **settings: object) -> Iterator[InProcessServer]:
    """The app with the templates file, in this process; whatever it launched is killed after."""
    data = tmp_path / "data"
    try:
        with serve_in_process(
            settings_for(data, templates=ops_templates(tmp_path), **settings)
        ) as s:
            yield s
    finally:
        kill_launchers(data)


def submit(c: httpx.Client, **params: Any) -> httpx.Response:
    return c.post("/api/v1/templates/train/runs", json={"params": {"data": "mnist.csv", **params}})


def status(c: httpx.Client, run_id: str, wanted: str, timeout: float = 30) -> dict[str, Any]:
    def reached() -> dict[str, Any] | None:
        run: dict[str, Any] = c.get(f"/api/v1/runs/{run_id}").json()
        return run if run["status"] == wanted else None

    result: dict[str, Any] = wait_until(reached, timeout, what=f"run {run_id} {wanted}")
    return result


def release(server: ServerProcess, run_id: str) -> None:
    """Let the run's worker finish."""
    (server.data_dir / "runs" / run_id / "release").write_text("")


def worker_argv(server: ServerProcess, run_id: str) -> list[str]:
    path = server.data_dir / "runs" / run_id / "argv.json"
    argv: list[str] = wait_until(lambda: path.is_file() and json.loads(path.read_text()), 20,
                                 what="the worker's argv")  # fmt: skip
    return argv


def kill_launchers(data_dir: Path) -> None:
    """Kill every launcher (and its worker) a test's server started and that still runs."""
    # Each leads its own session (the launcher's, and the worker's inside it).
    for pid_file in [
        *(data_dir / "runs").glob("*/launcher.pid"),
        *(data_dir / "runs").glob("*/worker.pid"),
    ]:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(int(pid_file.read_text()), signal.SIGKILL)


@contextlib.contextmanager
def running(server: ServerProcess) -> Iterator[ServerProcess]:
    """Start the server; afterwards stop it and kill whatever it launched."""
    server.start()
    try:
        yield server
    finally:
        server.stop()
        kill_launchers(server.data_dir)
