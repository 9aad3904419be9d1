"""An imported offline W&B run keeps its text values and ``wandb.summary`` as the W&B shim does.

One script runs twice, unchanged: with the real ``wandb`` (offline; its run file is then
imported by the launcher's scanner) and with ``runwatch.compat.wandb`` standing in for
``wandb``. The texts it logs and the summary it sets must arrive the same way both times: texts
as the run's text values (under ``wandb/`` when imported, as its numbers are) and the summary as
the run's ``summary`` table.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import httpx

import runwatch
from runwatch.launcher.artifacts import ArtifactScanner
from tests.servers import ServerProcess, wait_until

SCRIPT = textwrap.dedent("""
    import os
    import wandb

    run = wandb.init(project="texts", dir=os.environ["SCRIPT_DIR"])
    wandb.log({"text": "hello", "loss": 0.5})
    wandb.log({"text": "world", "loss": 0.25, "tag": {"name": "a"}})
    wandb.log({"tbl": wandb.Table(columns=["a"], data=[["x"]])})  # its fields: not texts
    wandb.summary["best"] = 42
    run.summary.update({"note": "fine", "acc": 0.75})
    print("RUN", run.id, flush=True)
    wandb.finish()
""")
# Runs a script with the shim standing in for ``import wandb``.
SHIM_RUNNER = (
    "import runpy, sys; import runwatch.compat.wandb as shim; sys.modules['wandb'] = shim; "
    "runpy.run_path(sys.argv[1], run_name='__main__')"
)
TEXTS = {"text": "world", "tag/name": "a"}  # the last text value of each key SCRIPT logs


def _run(args: list[str], **env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("RUNWATCH_", "WANDB_"))}
    done = subprocess.run(args, capture_output=True, text=True, timeout=300, env={**clean, **env})
    assert done.returncode == 0, done.stderr
    return done.stdout


def _recorded(client: httpx.Client, run_id: str) -> tuple[dict[str, Any], list[Any] | None]:
    """The finished run's summary (its latest values) and its ``summary`` table's rows (None
    without such a table)."""
    info = wait_until(
        lambda: (r := client.get(f"/api/v1/runs/{run_id}").json())["status"] == "succeeded" and r,
        what="the run to finish",
    )
    rows = client.get(f"/api/v1/runs/{run_id}/tables/summary").json().get("rows")
    return info["summary"], rows


def test_imported_texts_and_summary_arrive_as_the_shim_records_them(tmp_path: Path) -> None:
    script = tmp_path / "script.py"
    script.write_text(SCRIPT)
    work = tmp_path / "wandb-out"
    work.mkdir()
    _run([sys.executable, str(script)], WANDB_MODE="offline", WANDB_SILENT="true",
         SCRIPT_DIR=str(work))  # fmt: skip
    (run_file,) = work.glob("wandb/offline-run-*/run-*.wandb")
    server = ServerProcess(tmp_path / "data").start()
    try:
        out = _run([sys.executable, "-c", SHIM_RUNNER, str(script)], RUNWATCH_URL=server.url,
                   SCRIPT_DIR=str(tmp_path / "shim-out"))  # fmt: skip
        shim_id = out.split("RUN ", 1)[1].split()[0]
        run = runwatch.init(project="import", url=server.url, run_dir=tmp_path / "run")
        copy = tmp_path / "run" / "wandb" / run_file.parent.name
        copy.mkdir(parents=True)
        shutil.copy(run_file, copy)
        ArtifactScanner(run).import_scalars()
        run.finish()
        with server.client() as c:
            shim_summary, shim_rows = _recorded(c, shim_id)
            imported_summary, imported_rows = _recorded(c, run.id)
    finally:
        server.stop()
    # Texts: exact, as text, under the importer's ``wandb/`` names; the shim's the same.
    assert {k: imported_summary[f"wandb/{k}"] for k in TEXTS} == TEXTS
    assert {k: shim_summary[k] for k in TEXTS} == TEXTS
    assert imported_summary["wandb/loss"] == shim_summary["loss"]  # numbers as they were
    assert not {"wandb/tbl/_type", "wandb/tbl/path", "wandb/tbl/log_mode"} & set(imported_summary)
    # The summary table: numbers as numbers, strings as strings, as the shim's; W&B's summary
    # also holds the last value of each logged text (the shim's only of numbers).
    assert shim_rows is not None and imported_rows is not None
    (shim_row,), (imported_row,) = shim_rows, imported_rows
    assert shim_row == {"loss": 0.25, "best": 42, "note": "fine", "acc": 0.75}
    assert imported_row == {**shim_row, **TEXTS}
    assert type(imported_row["best"]) is int and type(imported_row["acc"]) is float
