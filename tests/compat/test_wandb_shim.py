"""``runwatch.compat.wandb``: a script written for W&B runs unchanged and its values land in runwatch.

The reference is the real ``wandb`` package: the same script runs offline under it, and the
history it records (read back from its run file) must equal what the shim sent to runwatch.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

from runwatch.launcher.wandb_offline import WandbRunTail
from tests.servers import ServerProcess, wait_until

SCRIPT = Path(__file__).with_name("wandb_script.py")
# Runs a script with the shim standing in for ``import wandb``.
SHIM_RUNNER = (
    "import runpy, sys; import runwatch.compat.wandb as shim; sys.modules['wandb'] = shim; "
    "runpy.run_path(sys.argv[1], run_name='__main__')"
)


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNWATCH_", "WANDB_"))}
    env.update(extra)
    return env


def run_with_shim(
    server: ServerProcess, script: Path, tmp_path: Path
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-c", SHIM_RUNNER, str(script)],
        capture_output=True,
        text=True,
        timeout=120,
        env=_env(RUNWATCH_URL=server.url, SCRIPT_DIR=str(tmp_path / "shim-run")),
    )
    assert done.returncode == 0, done.stderr
    return done


def run_with_real_wandb(tmp_path: Path) -> WandbRunTail:
    work = tmp_path / "real-run"
    work.mkdir()
    done = subprocess.run(
        [sys.executable, str(SCRIPT)],
        capture_output=True,
        text=True,
        timeout=300,
        env=_env(WANDB_MODE="offline", WANDB_SILENT="true", SCRIPT_DIR=str(work)),
    )
    assert done.returncode == 0, done.stderr
    (path,) = work.glob("wandb/offline-run-*/run-*.wandb")
    tail = WandbRunTail(path)
    tail.rows = tail.read_new()  # type: ignore[attr-defined]
    return tail


def metrics(client: httpx.Client, run_id: str) -> dict[str, list[tuple[float, float]]]:
    body = client.get(f"/api/v1/runs/{run_id}/metrics", params={"max_points": 1000}).json()
    return {k: list(zip(s["x"], s["value"], strict=True)) for k, s in body["series"].items()}


def expected_from(tail: WandbRunTail) -> dict[str, list[tuple[float, float]]]:
    """Per key, (x, value) as W&B recorded it: x is ``_step``, or ``epoch`` for ``val/*``."""
    out: dict[str, list[tuple[float, float]]] = {}
    for step, _, values in tail.rows:  # type: ignore[attr-defined]
        for key, value in values.items():
            if key.startswith("leaderboard/"):
                continue  # W&B's reference to the logged table file (nrows, size): not a metric
            x = values["epoch"] if key.startswith("val/") else step
            out.setdefault(key, []).append((float(x), value))
    return out


def test_a_wandb_script_runs_unchanged_and_records_what_real_wandb_records(
    server: ServerProcess, tmp_path: Path
) -> None:
    real = run_with_real_wandb(tmp_path)
    done = run_with_shim(server, SCRIPT, tmp_path)
    run_id, name, url = done.stdout.split("RUN ", 1)[1].split()
    assert name == "wandb-style" and url == f"{server.url}/runs/{run_id}"
    with server.client() as c:
        info = wait_until(
            lambda: (r := c.get(f"/api/v1/runs/{run_id}").json())["status"] == "succeeded" and r,
            what="the run to finish",
        )
        got = metrics(c, run_id)
        summary = c.get(f"/api/v1/runs/{run_id}/tables/summary").json()["rows"][0]
        board = c.get(f"/api/v1/runs/{run_id}/tables/leaderboard").json()["rows"]
        events = c.get(f"/api/v1/runs/{run_id}/events", params={"limit": 1000}).json()["events"]
    want = expected_from(real)
    assert set(got) == set(want) == {
        "loss", "acc", "epoch", "val/loss", "val/acc", "train/grad_norm", "lr_now",
    }  # fmt: skip
    for key, points in want.items():
        assert got[key] == points, key
    assert info["project"] == "shim" and info["group"] == "sweep-1"
    assert info["tags"] == ["baseline", "shim"]
    real_config = {
        k: v.get("value", v) if isinstance(v, dict) else v for k, v in real.config.items()
    }
    assert {k: info["config"][k] for k in ("lr", "layers")} == {"lr": 0.01, "layers": 2}
    # Set before the first log, the updates are the run's stored config, and events too.
    updates: dict[str, object] = {}
    for e in events:
        if e["kind"] == "config.update":
            updates.update(e["payload"]["values"])
    for key in ("lr", "layers", "batch_size", "optimizer", "level"):
        assert info["config"][key] == real_config[key], key
    for key in ("batch_size", "optimizer", "level"):
        assert updates[key] == real_config[key], key
    assert summary["acc"] == {"max": real.summary["acc"]["max"]}
    assert summary["loss"] == real.summary["loss"] and summary["best_trial"] == 3
    assert board == [
        {"trial": 1, "score": 0.5},
        {"trial": 2, "score": 0.75},
        {"trial": 3, "score": 0.9},
    ]
    alert = next(e for e in events if e["kind"] == "alert")
    assert alert["level"] == "warning" and alert["payload"]["title"] == "loss plateau"
    assert any(e["kind"] == "notes" and e["payload"]["text"] == "written for W&B" for e in events)


UNSUPPORTED = """
import wandb
run = wandb.init(project="shim", mode="{mode}")
wandb.watch(object(), log="all")
wandb.watch(object())
wandb.save("*.pt")
video = wandb.Video("clip.mp4", caption="x")
wandb.log({{"clip": video, "note": "text", "x": 1.0}})
wandb.Audio([1, 2, 3])
run.log_artifact("no-such-file.pt")
wandb.log(42)
wandb.config.update(7)
wandb.define_metric()
wandb.log({{"x": 2.0}}, step=0)
wandb.finish(exit_code=3)
print("RUN", run.id)
"""


def test_unsupported_calls_warn_once_and_never_crash(server: ServerProcess, tmp_path: Path) -> None:
    script = tmp_path / "unsupported.py"
    script.write_text(UNSUPPORTED.format(mode="online"))
    done = run_with_shim(server, script, tmp_path)
    run_id = done.stdout.split("RUN ", 1)[1].strip()
    err = done.stderr
    assert err.count("wandb.watch: object is not a torch module; not watched") == 1
    assert "wandb.Video is not supported" in err and "wandb.Audio is not supported" in err
    assert "'note' is a str" not in err and "behind the current step" in err
    # Wrong arguments: reported once each, saying what was lost; the script went on.
    assert "Artifact.add_file failed and was skipped (FileNotFoundError" in err
    assert "wandb.log failed and was skipped: TypeError('wandb.log takes a dict, not int')" in err
    assert "wandb.config.update failed and was skipped (TypeError" in err
    assert "wandb.define_metric failed and was skipped (TypeError" in err
    with server.client() as c:
        info = wait_until(
            lambda: (r := c.get(f"/api/v1/runs/{run_id}").json())["status"] == "failed" and r,
            what="the run to fail",
        )
        got = metrics(c, run_id)
    assert info["exit_code"] == 3
    assert got == {"x": [(0.0, 1.0)]}  # the video was skipped, the late step ignored
    assert info["summary"]["note"] == "text"  # kept as text


SWEEP_FAILURES = """
import wandb
sweep_id = wandb.sweep({"method": "random", "parameters": {"lr": {"mn": 1}}}, project="p")
wandb.sweep({"method": "nope", "parameters": {}}, project="p")
wandb.agent(sweep_id, function=lambda: None, count=1)
wandb.agent("doesnotexist", function=lambda: None, count=1)
wandb.agent("norsuchsweep", function=lambda: None, count=1)
print("went on")
"""


def test_each_failing_sweep_or_agent_call_says_why(server: ServerProcess, tmp_path: Path) -> None:
    """Setup calls fail for different reasons each: each is said (a loop's calls once)."""
    script = tmp_path / "sweeps.py"
    script.write_text(SWEEP_FAILURES)
    done = run_with_shim(server, script, tmp_path)
    err = done.stderr
    assert done.stdout.strip() == "went on", err
    assert err.count("wandb.sweep: the sweep configuration is refused") == 2, err
    assert "parameters.lr.mn" in err and "'nope'" in err
    assert "wandb.agent: no sweep id (the wandb.sweep call failed); nothing ran" in err
    assert "doesnotexist" in err and "norsuchsweep" in err


INTERRUPTED_TRIAL = """
import wandb
sweep_id = wandb.sweep({"method": "grid", "parameters": {"x": {"values": [1, 2]}}}, project="p")
def train():
    run = wandb.init()
    print("RUN", run.id, flush=True)
    wandb.log({"x": wandb.config.x})
    raise KeyboardInterrupt  # Ctrl-C in the middle of the trial
wandb.agent(sweep_id, function=train)
"""


def test_ctrl_c_in_a_sweep_function_cancels_its_run_and_stops_the_agent(
    server: ServerProcess, tmp_path: Path
) -> None:
    script = tmp_path / "interrupted.py"
    script.write_text(INTERRUPTED_TRIAL)
    done = subprocess.run(
        [sys.executable, "-c", SHIM_RUNNER, str(script)], capture_output=True, text=True,
        timeout=120, env=_env(RUNWATCH_URL=server.url, SCRIPT_DIR=str(tmp_path / "shim-run")),
    )  # fmt: skip
    assert done.returncode != 0 and "KeyboardInterrupt" in done.stderr
    (run_id,) = [line.split()[1] for line in done.stdout.splitlines() if line.startswith("RUN ")]
    with server.client() as c:
        info = c.get(f"/api/v1/runs/{run_id}").json()
    assert (info["status"], info["error"]) == ("cancelled", "interrupted (KeyboardInterrupt)")


def test_disabled_mode_sends_nothing(server: ServerProcess, tmp_path: Path) -> None:
    script = tmp_path / "disabled.py"
    script.write_text(UNSUPPORTED.format(mode="disabled"))
    done = run_with_shim(server, script, tmp_path)
    assert done.stdout.strip() == "RUN disabled"
    with server.client() as c:
        assert c.get("/api/v1/runs").json()["runs"] == []


FIRST_ATTEMPT = """
import sys
import wandb
wandb.init(project="shim", id="resumable-1", config={"lr": 0.1})
for step in range(5):
    wandb.log({"loss": 1.0 / (step + 1)})
print("LOGGED", flush=True)
sys.stdin.readline()  # preempted here: the test kills this process
"""
SECOND_ATTEMPT = """
import wandb
run = wandb.init(project="shim", id="resumable-1", resume="allow")
print("STEP", run.step, wandb.config["lr"], flush=True)
for _ in range(3):
    wandb.log({"loss": 0.1})
wandb.finish()
"""


def test_resume_continues_a_preempted_run_after_its_last_step(
    server: ServerProcess, tmp_path: Path
) -> None:
    first = tmp_path / "first.py"
    first.write_text(FIRST_ATTEMPT)
    proc = subprocess.Popen(
        [sys.executable, "-c", SHIM_RUNNER, str(first)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL, text=True, env=_env(RUNWATCH_URL=server.url),
    )  # fmt: skip
    try:
        with server.client() as c:
            wait_until(
                lambda: (
                    len(metrics(c, "resumable-1").get("loss", [])) == 5
                    if c.get("/api/v1/runs/resumable-1").status_code == 200
                    else False
                ),
                30,
                what="the first attempt's points",
            )
    finally:
        proc.kill()
        proc.wait(10)
        proc.stdin.close()  # type: ignore[union-attr]
        proc.stdout.close()  # type: ignore[union-attr]
    second = tmp_path / "second.py"
    second.write_text(SECOND_ATTEMPT)
    done = run_with_shim(server, second, tmp_path)
    assert "STEP 5 0.1" in done.stdout
    with server.client() as c:
        wait_until(lambda: c.get("/api/v1/runs/resumable-1").json().get("status") == "succeeded")
        assert [x for x, _ in metrics(c, "resumable-1")["loss"]] == [0, 1, 2, 3, 4, 5, 6, 7]
