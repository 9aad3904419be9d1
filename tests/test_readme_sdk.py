"""The README's SDK reference: it covers every public call of the run handle and every argument
of ``runwatch.init``, and each of its examples runs as it is against a real server, which refuses
none of their data (the SDK would say so on stderr)."""

from __future__ import annotations

import inspect
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import runwatch
from runwatch import Run
from tests.servers import ServerProcess

README = Path(__file__).resolve().parent.parent / "README.md"


def sdk_section() -> str:
    return README.read_text().split("\n## SDK reference\n", 1)[1].split("\n## ", 1)[0]


def signature(call: object, skip: str = "") -> str:
    """How the reference writes a call's parameters: ``data, step=None, mode="replace"``."""
    out = []
    for p in inspect.signature(call).parameters.values():  # type: ignore[arg-type]
        if p.name == skip:
            continue
        if p.kind is p.VAR_KEYWORD:
            out.append(f"**{p.name}")
        elif p.default is p.empty:
            out.append(p.name)
        else:
            out.append(
                f"{p.name}={json.dumps(p.default) if isinstance(p.default, str) else p.default}"
            )
    return ", ".join(out)


def test_the_reference_gives_every_public_call_with_its_real_signature() -> None:
    flat = re.sub(r"\s+", " ", sdk_section())
    assert f"runwatch.init({signature(runwatch.init)}) -> Run" in flat
    calls = [name for name in vars(Run) if not name.startswith("_")]
    assert {"log", "event", "snapshot", "table", "points", "finish", "should_stop"} <= set(calls)
    for name in calls:
        member = getattr(Run, name)
        if callable(member):
            returns = inspect.signature(member).return_annotation
            assert f"run.{name}({signature(member, skip='self')}) -> {returns}" in flat, name
        else:
            assert f"run.{name} -> " in flat, name


def test_every_example_runs_against_a_real_server(server: ServerProcess, tmp_path: Path) -> None:
    examples = re.findall(r"```python\n(.*?)```", sdk_section(), re.S)
    assert len(examples) >= 9
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNWATCH_")}
    env["RUNWATCH_URL"] = server.url
    for i, code in enumerate(examples):
        script = tmp_path / f"example_{i}.py"
        script.write_text(code)
        done = subprocess.run(
            [sys.executable, str(script)],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0 and done.stderr == "", (code, done.stderr)
    with server.client() as c:
        runs = {
            r["name"]: r for r in c.get("/api/v1/runs", params={"project": "docs"}).json()["runs"]
        }
    assert len(runs) == len(examples)
    # Every run's final status arrived: what the reference says each example ends with.
    assert {name: r["status"] for name, r in runs.items() if r["status"] != "succeeded"} == {
        "commands-example": "cancelled",
        "finish-example": "failed",
    }
    assert runs["finish-example"]["exit_code"] == 3
    assert runs["log-example"]["vitals"] == ["val/acc"]
    assert runs["log-example"]["summary"]["grad/norm"] == 0.1
