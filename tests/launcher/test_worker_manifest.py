"""A worker's ``artifacts_manifest.json`` in the fast-analytics design's object format, and W&B
runs linked by URL or id: real workers under ``runwatch launch``, a real TensorBoard writer."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from runwatch.launcher.worker_manifest import read_items, wandb_link
from tests.servers import ServerProcess

REPO = Path(__file__).resolve().parents[2]

DESIGN_WORKER = f"""
    import json, os, sys
    sys.path.insert(0, {str(REPO)!r})
    from tests.servers import wait_until
    from tensorboardX import SummaryWriter
    run_dir = os.environ["RUNWATCH_RUN_DIR"]
    manifest = {{
        "tensorboard_dir": "tb",
        "wandb_run_id": "user/project/abc123",
        "wandb_mode": "online",
        "checkpoints": ["checkpoints/last.pt", {{"path": "checkpoints/best.pt", "meta": {{"epoch": 3}}}},
                        "checkpoints/never-written.pt"],
        "wandb_api_key": "sekrit-do-not-store",
    }}
    with open(os.path.join(run_dir, "artifacts_manifest.json"), "w") as f:
        json.dump(manifest, f)
    def listed():
        try:
            with open(os.path.join(run_dir, "artifacts.json")) as f:
                return json.load(f)["artifacts"]
        except (OSError, ValueError):
            return []
    # A scan has read the manifest before its files exist: that is not a problem yet.
    wait_until(lambda: any(a.get("url") for a in listed()), 30, what="a scan of the manifest")
    writer = SummaryWriter(os.path.join(run_dir, "tb"))
    for step in range(20):
        writer.add_scalar("train/loss", 1.0 / (step + 1), step)
    writer.close()
    os.makedirs(os.path.join(run_dir, "checkpoints"))
    for name in ("last", "best"):
        with open(os.path.join(run_dir, "checkpoints", name + ".pt"), "wb") as f:
            f.write(name.encode() * 100)
"""


def launch(server: ServerProcess, tmp_path: Path, body: str) -> tuple[str, Path]:
    script = tmp_path / "worker.py"
    script.write_text(textwrap.dedent(body))
    run_dir = tmp_path / "run"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNWATCH_", "WANDB_"))}
    env["RUNWATCH_URL"] = server.url
    done = subprocess.run(
        [sys.executable, "-m", "runwatch", "launch", "--project", "wm", "--run-dir", str(run_dir),
         "--scan-interval", "0.2", "--", sys.executable, str(script)],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    with server.client() as c:
        return c.get("/api/v1/runs", params={"project": "wm"}).json()["runs"][0]["id"], run_dir


def read_back(server: ServerProcess, run_id: str) -> tuple[list[dict[str, Any]], list[str]]:
    with server.client() as c:
        artifacts = c.get(f"/api/v1/runs/{run_id}/artifacts").json()["artifacts"]
        events = c.get(f"/api/v1/runs/{run_id}/events", params={"kind": "artifact.invalid"}).json()[
            "events"
        ]
    return artifacts, [e["payload"]["problem"] for e in events]


def test_the_design_manifest_format_is_read(server: ServerProcess, tmp_path: Path) -> None:
    run_id, run_dir = launch(server, tmp_path, DESIGN_WORKER)
    artifacts, problems = read_back(server, run_id)
    by_path = {a.get("path"): a for a in artifacts}
    assert len(by_path) == len(artifacts)  # a checkpoint the manifest names is listed once
    tb = by_path["tb"]
    assert tb["kind"] == "tensorboard" and tb["meta"]["files"] == 1
    assert tb["size"] == sum(p.stat().st_size for p in (run_dir / "tb").iterdir())
    assert by_path["checkpoints/best.pt"]["meta"] == {"epoch": 3}
    assert by_path["checkpoints/last.pt"]["sha256"] == hashlib.sha256(b"last" * 100).hexdigest()
    link = next(a for a in artifacts if a["kind"] == "wandb")
    assert link["url"] == "https://wandb.ai/user/project/runs/abc123" and "path" not in link
    assert link["meta"] == {"mode": "online", "entity": "user", "project": "project",
                            "run_id": "abc123"}  # fmt: skip
    # Only what is still missing at the end, and the unknown key by name (never its value).
    assert sorted(problems) == [
        "artifacts_manifest.json entry 3: no file 'checkpoints/never-written.pt' in the run "
        "directory",
        "artifacts_manifest.json: unknown key 'wandb_api_key' (known keys: tensorboard_dir, "
        "wandb_run_id, wandb_url, wandb_mode, checkpoints, artifacts)",
    ]
    stored = json.dumps([artifacts, problems]) + (run_dir / "artifacts.json").read_text()
    assert "sekrit" not in stored


LIST_WORKER = """
    import json, os
    run_dir = os.environ["RUNWATCH_RUN_DIR"]
    entries = [
        {"kind": "wandb", "url": "https://wandb.ai/team/rl/runs/x9?apiKey=sekrit#logs"},
        {"kind": "wandb", "run_id": "team/rl/y8", "mode": "offline"},
        {"kind": "wandb", "url": "https://user:sekrit@wandb.example.com/team/rl/runs/z"},
        {"kind": "wandb", "url": "javascript:alert(1)"},
        {"kind": "wandb", "run_id": "not an id"},
        {"kind": "wandb"},
    ]
    with open(os.path.join(run_dir, "artifacts_manifest.json"), "w") as f:
        json.dump(entries, f)
"""


def test_a_wandb_run_is_linked_by_url_or_id(server: ServerProcess, tmp_path: Path) -> None:
    run_id, _ = launch(server, tmp_path, LIST_WORKER)
    artifacts, problems = read_back(server, run_id)
    assert [(a["kind"], a["url"], a["meta"]["mode"]) for a in artifacts] == [
        ("wandb", "https://wandb.ai/team/rl/runs/x9", "online"),  # no query: no key kept
        ("wandb", "https://wandb.ai/team/rl/runs/y8", "offline"),
    ]
    assert "wandb sync" in artifacts[1]["meta"]["sync_hint"]
    assert sorted(problems) == [
        "artifacts_manifest.json entry 2: 'url' must not carry credentials (no token is ever "
        "stored)",
        "artifacts_manifest.json entry 3: 'url' must be an http(s) address of the W&B run",
        "artifacts_manifest.json entry 4: 'run_id' must be 'entity/project/run' (letters, "
        "digits, '_', '.', '-')",
        "artifacts_manifest.json entry 5: needs a 'path', a 'url' or a 'run_id' "
        "('entity/project/run')",
    ]
    assert "sekrit" not in json.dumps([artifacts, problems])


@pytest.mark.parametrize(
    ("manifest", "problem"),
    [
        ("nope", "must be a list of entries or an object"),
        ({"checkpoints": "a.pt"}, "'checkpoints' must be a list of paths"),
        ({"artifacts": {"a": 1}}, "'artifacts' must be a list of entries"),
        ({"wandb_run_id": "a/b/c", "wandb_mode": "cloud"}, "'wandb_mode' must be one of"),
    ],
)
def test_a_malformed_design_manifest_names_its_field(manifest: Any, problem: str) -> None:
    items, problems = read_items(manifest, "m.json")
    assert items == [] and len(problems) == 1 and problem in problems[0][1]


def test_a_disabled_wandb_run_is_no_link_and_a_self_hosted_url_keeps_its_host() -> None:
    items, problems = read_items({"wandb_run_id": "a/b/c", "wandb_mode": "disabled"}, "m")
    assert items == [] and problems == []
    link = wandb_link({"kind": "wandb", "url": "http://wandb.lan:8080/a/b/runs/c"})
    assert link == {
        "kind": "wandb",
        "url": "http://wandb.lan:8080/a/b/runs/c",
        "meta": {"mode": "online", "entity": "a", "project": "b", "run_id": "c"},
    }
