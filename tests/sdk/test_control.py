"""Lifecycle and control with a real producer: cancel, user commands, crashes, promotion."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import httpx
import pytest

import runwatch
from tests.proxy import RecordingProxy
from tests.servers import ServerProcess, wait_until


def command(c: httpx.Client, run_id: str, kind: str, **payload: object) -> dict:
    r = c.post(f"/api/v1/runs/{run_id}/commands", json={"kind": kind, "payload": payload})
    assert r.status_code == 201, r.text
    return r.json()


def command_state(c: httpx.Client, run_id: str, cmd_id: int) -> str:
    commands = c.get(f"/api/v1/runs/{run_id}/commands").json()["commands"]
    return next(cmd["state"] for cmd in commands if cmd["id"] == cmd_id)


def test_cancel_reaches_the_loop_and_ends_the_run_cancelled(
    server: ServerProcess, tmp_path: Path
) -> None:
    run = runwatch.init(project="ctl", url=server.url, run_dir=tmp_path)
    stopped_at: list[float] = []

    def loop() -> None:
        step = 0
        while not run.should_stop:
            run.log({"x": float(step)}, step=step)
            step += 1
            time.sleep(0.005)  # a training step's pacing, not synchronisation
        stopped_at.append(time.monotonic())
        run.finish()

    worker = threading.Thread(target=loop)
    worker.start()
    with server.client() as c:
        wait_until(
            lambda: c.get(f"/api/v1/runs/{run.id}").json()["summary"], 10, what="first points"
        )
        sent = time.monotonic()
        cancel = command(c, run.id, "cancel")
        worker.join(15)
        assert stopped_at and stopped_at[0] - sent < 5
        info = c.get(f"/api/v1/runs/{run.id}").json()
        assert info["status"] == "cancelled"
        assert command_state(c, run.id, cancel["id"]) == "applied"
        kinds = [e["kind"] for e in c.get(f"/api/v1/runs/{run.id}/events").json()["events"]]
        assert kinds.count("status") == 2


def test_a_cancels_reason_is_the_runs_error(server: ServerProcess, tmp_path: Path) -> None:
    run = runwatch.init(project="ctl", url=server.url, run_dir=tmp_path)
    with server.client() as c:
        assert run.wait_stop(0.05) is False  # no cancel yet: the wait times out
        command(c, run.id, "cancel", reason="stopped early by hyperband: loss is worse")
        assert run.wait_stop(15) is True  # woken by the cancel, not by its timeout
        wait_until(lambda: run.should_stop, 15, what="the cancel to reach the producer")
        assert run.stop_reason == "stopped early by hyperband: loss is worse"
        run.finish()
        info = c.get(f"/api/v1/runs/{run.id}").json()
    assert (info["status"], info["error"]) == (
        "cancelled",
        "stopped early by hyperband: loss is worse",
    )


def test_stop_hooks_run_on_a_cancel_and_a_failing_one_breaks_nothing(
    server: ServerProcess, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The internal hook the W&B shim's agent interrupts its function with: each is called on
    the poller's thread when a cancel arrives (at once when registered after it); one that
    raises is reported and leaves the cancel applied and the poller delivering."""
    run = runwatch.init(project="ctl", url=server.url, run_dir=tmp_path)
    called: list[str] = []
    pings: list[dict] = []

    def failing() -> None:
        raise RuntimeError("a hook's bug")

    run._on_stop_asked(failing)
    run._on_stop_asked(lambda: called.append("before"))
    run.on_command("ping", pings.append)
    with server.client() as c:
        cancel = command(c, run.id, "cancel", reason="enough")
        wait_until(lambda: called, 15, what="the hook after the failing one")
        run._on_stop_asked(lambda: called.append("after"))
        assert called == ["before", "after"]
        command(c, run.id, "ping", n=1)
        wait_until(lambda: run.should_stop and pings, 15, what="a command after the cancel")
        run.finish()
        assert command_state(c, run.id, cancel["id"]) == "applied"
        info = c.get(f"/api/v1/runs/{run.id}").json()
    assert (info["status"], info["error"], pings) == ("cancelled", "enough", [{"n": 1}])
    assert 'a stop hook failed: RuntimeError("a hook\'s bug")' in capsys.readouterr().err


def test_user_command_runs_its_handler_once_on_the_training_thread(
    server: ServerProcess, tmp_path: Path
) -> None:
    calls: list[tuple[dict, str]] = []
    with runwatch.init(project="ctl", url=server.url, run_dir=tmp_path) as run:

        def deprecate(payload: dict) -> None:
            calls.append((payload, threading.current_thread().name))
            run.event("deprecate", entity=payload["entity"], reason="from the dashboard")

        def explode(payload: dict) -> None:
            raise ValueError("no such entity")

        run.on_command("deprecate", deprecate)
        run.on_command("explode", explode)
        with server.client() as c:
            good = command(c, run.id, "deprecate", entity=47)
            bad = command(c, run.id, "explode")
            unknown = command(c, run.id, "mystery")

            def states() -> list[str]:
                run.log({"tick": 1.0})  # handlers run inside the loop's own calls
                return [command_state(c, run.id, i["id"]) for i in (good, bad, unknown)]

            wait_until(lambda: states() == ["applied", "failed", "failed"], 15, what="results")
            for _ in range(20):
                run.log({"tick": 1.0})
    assert calls == [({"entity": 47}, threading.main_thread().name)]
    with server.client() as c:
        events = c.get(f"/api/v1/runs/{run.id}/events", params={"kind": "deprecate"}).json()[
            "events"
        ]
        assert [e["entity"] for e in events] == [47]
        errors = {
            cmd["kind"]: cmd["error"]
            for cmd in c.get(f"/api/v1/runs/{run.id}/commands").json()["commands"]
        }
    assert errors["explode"] == "ValueError: no such entity"
    assert "no handler" in errors["mystery"]


def test_commands_survive_a_server_restart_and_apply_once(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data").start()
    applied: list[dict] = []
    run = runwatch.init(project="ctl", url=server.url, run_dir=tmp_path / "run")
    run.on_command("bump", applied.append)
    try:
        run.log({"x": 1.0})
        with server.client() as c:
            wait_until(
                lambda: c.get(f"/api/v1/runs/{run.id}").json()["summary"], 10, what="a point"
            )
            cmd = command(c, run.id, "bump", n=1)
        server.kill()
        server.start()  # the command is durable: still pending or delivered
        with server.client() as c:

            def applied_state() -> bool:
                run.log({"x": 2.0})
                return command_state(c, run.id, cmd["id"]) == "applied"

            wait_until(applied_state, 20, what="the command to be applied")
            second = command(c, run.id, "bump", n=2)
            wait_until(
                lambda: (
                    (run.log({"x": 3.0}), command_state(c, run.id, second["id"]))[1] == "applied"
                ),
                20,
            )
        for _ in range(20):
            run.log({"x": 4.0})
        assert applied == [{"n": 1}, {"n": 2}]
    finally:
        run.finish()
        server.stop()


def test_a_killed_producer_becomes_crashed_and_a_resumed_heartbeat_is_recorded(
    server: ServerProcess, tmp_path: Path
) -> None:
    script = tmp_path / "train.py"
    script.write_text(
        textwrap.dedent(f"""
        import sys, runwatch
        run = runwatch.init(project="ctl", url={server.url!r}, heartbeat=0.3)
        run.log({{"x": 1.0}})
        print(run.id, flush=True)
        sys.stdin.read()  # alive (heartbeating from the SDK's thread) until killed
    """)
    )
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    assert proc.stdout is not None
    run_id = proc.stdout.readline().split()[0]
    with server.client() as c:
        wait_until(lambda: c.get(f"/api/v1/runs/{run_id}").json()["summary"], 10, what="points")
        killed = time.monotonic()
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        proc.stdout.close()
        assert proc.stdin is not None
        proc.stdin.close()
        wait_until(
            lambda: c.get(f"/api/v1/runs/{run_id}").json()["status"] == "crashed",
            10,
            what="crashed",
        )
        # 3 missed heartbeats of 0.3 s, plus the 1 s sweep, plus slack for a busy machine
        assert time.monotonic() - killed < 5
        info = c.get(f"/api/v1/runs/{run_id}").json()
        assert "no heartbeat" in info["error"]
        assert c.post(f"/api/v1/runs/{run_id}/heartbeat").json() == {"status": "running"}
        kinds = [e["kind"] for e in c.get(f"/api/v1/runs/{run_id}/events").json()["events"]]
        assert kinds[-2:] == ["heartbeat.resumed", "status"]
        assert c.get(f"/api/v1/runs/{run_id}").json()["error"] is None


def test_a_producer_back_from_a_crash_still_takes_commands(
    server: ServerProcess, tmp_path: Path
) -> None:
    """Frozen (SIGSTOP) until its run is crashed, then let go: the command poll answered
    "crashed" meanwhile, yet the producer keeps polling, and a cancel still reaches its loop."""
    script = tmp_path / "train.py"
    script.write_text(
        textwrap.dedent(f"""
        import time, runwatch
        run = runwatch.init(project="ctl", url={server.url!r}, heartbeat=1.0)
        print(run.id, flush=True)
        step = 0
        while not run.should_stop:
            run.log({{"x": float(step)}}, step=step)
            step += 1
            time.sleep(0.05)  # a training step's pacing
        run.finish()
    """)
    )
    proc = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, text=True, cwd=tmp_path
    )
    try:
        assert proc.stdout is not None
        run_id = proc.stdout.readline().strip()
        with server.client() as c:
            status = lambda: c.get(f"/api/v1/runs/{run_id}").json()["status"]  # noqa: E731
            wait_until(lambda: c.get(f"/api/v1/runs/{run_id}").json()["summary"], 20)
            proc.send_signal(signal.SIGSTOP)
            wait_until(lambda: status() == "crashed", 20, what="crashed")
            proc.send_signal(signal.SIGCONT)
            wait_until(lambda: status() == "running", 20, what="running again")
            cancel = command(c, run_id, "cancel")
            assert proc.wait(20) == 0
            assert status() == "cancelled"
            assert command_state(c, run_id, cancel["id"]) == "applied"
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGCONT)
            proc.kill()
            proc.wait(10)
        assert proc.stdout is not None
        proc.stdout.close()


def test_promote_records_the_artifact_checksum(server: ServerProcess, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    with runwatch.init(
        project="ctl", name="best", url=server.url, run_dir=run_dir, config={"lr": 0.1}
    ) as run:
        run.log({"acc": 0.9})
        (run_dir / "checkpoints").mkdir(parents=True)
        (run_dir / "checkpoints" / "model.pt").write_bytes(b"weights" * 1000)
    (tmp_path / "secret.txt").write_text("outside the run dir")
    with server.client() as c:
        url = f"/api/v1/runs/{run.id}/promote"
        r = c.post(url, json={"name": "prod", "artifact": "checkpoints/model.pt"})
        assert r.status_code == 201, r.text
        assert r.json()["sha256"] == hashlib.sha256(b"weights" * 1000).hexdigest()
        assert r.json()["detail"] == {"of": "artifact", "size": 7000}
        for escape in (
            "../secret.txt",
            str(tmp_path / "secret.txt"),
            "checkpoints/../../secret.txt",
        ):
            refused = c.post(url, json={"name": "x", "artifact": escape})
            assert refused.status_code == 404 and refused.json()["error"]["field"] == "$.artifact"
        plain = c.post(url, json={"name": "no-file"})
        # Without an artifact: the SHA-256 of the run's config and final metrics (sorted JSON).
        facts = json.dumps({"config": {"lr": 0.1}, "summary": {"acc": 0.9}}, separators=(",", ":"))
        assert plain.status_code == 201 and plain.json()["detail"] == {"of": "config+summary"}
        assert plain.json()["sha256"] == hashlib.sha256(facts.encode()).hexdigest()
        promoted = c.get("/api/v1/promoted").json()["promoted"]
        assert [(p["name"], p["run_name"]) for p in promoted] == [
            ("no-file", "best"),
            ("prod", "best"),
        ]
        running = c.post("/api/v1/runs", json={"project": "ctl"}).json()
        refused = c.post(f"/api/v1/runs/{running['id']}/promote", json={"name": "x"})
        assert (
            refused.status_code == 409
            and "only succeeded runs" in refused.json()["error"]["message"]
        )


def test_a_nul_in_a_promotion_is_a_400_naming_the_field(
    server: ServerProcess, tmp_path: Path
) -> None:
    with runwatch.init(project="ctl", name="best", url=server.url, run_dir=tmp_path) as run:
        run.log({"acc": 0.9})
    with server.client() as c:
        url = f"/api/v1/runs/{run.id}/promote"
        for body, field in (
            ({"name": "nul", "artifact": "a\x00b"}, "$.artifact"),
            ({"name": "nul", "artifact": "\x00"}, "$.artifact"),
            ({"name": "a\x00b"}, "$.name"),
        ):
            refused = c.post(url, json=body)
            assert refused.status_code == 400, refused.text
            assert refused.json()["error"]["field"] == field
        assert c.get("/api/v1/promoted").json()["promoted"] == []
        spec = c.get("/openapi.json").json()
    fields = spec["components"]["schemas"]["PromoteIn"]["properties"]
    assert "pattern" in fields["name"]
    assert any("pattern" in option for option in fields["artifact"]["anyOf"])
    assert "400" in spec["paths"]["/api/v1/runs/{run_id}/promote"]["post"]["responses"]


def test_init_captures_a_request_snapshot(server: ServerProcess, tmp_path: Path) -> None:
    with runwatch.init(project="ctl", url=server.url, run_dir=tmp_path) as run:
        run.log({"x": 1.0})
    with server.client() as c:
        snapshot = c.get(f"/api/v1/runs/{run.id}").json()["snapshot"]
    assert snapshot["python"] == sys.version.split()[0]
    assert snapshot["run_dir"] == str(tmp_path.resolve())
    assert snapshot["argv"] == sys.argv and snapshot["hostname"] == socket.gethostname()
    assert (snapshot["pid"], snapshot["cwd"], snapshot["executable"]) == (
        os.getpid(),
        os.getcwd(),
        sys.executable,
    )
    assert snapshot["packages"]["runwatch"] == importlib.metadata.version("runwatch")


@pytest.mark.parametrize("kind", ["cancel", "deprecate"])
def test_commands_to_a_finished_run_are_refused(
    server: ServerProcess, tmp_path: Path, kind: str
) -> None:
    with runwatch.init(project="ctl", url=server.url, run_dir=tmp_path) as run:
        run.log({"x": 1.0})
    with server.client() as c:
        r = c.post(f"/api/v1/runs/{run.id}/commands", json={"kind": kind})
        assert r.status_code == 409 and r.json()["error"]["code"] == "run_finished"


def test_the_kinds_a_producer_handles_reach_its_run(
    server: ServerProcess, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with runwatch.init(project="ctl", url=server.url, run_dir=tmp_path) as run:
        run.on_command("split", lambda payload: None)
        run.on_command("lower_lr", lambda payload: None)
        run.on_command("split", lambda payload: None)  # a new handler, the same kind
        run.on_command("cancel", lambda payload: None)  # the page's own button
        run.on_command("has space", lambda payload: None)  # no POST can name it
    with server.client() as c:
        info = c.get(f"/api/v1/runs/{run.id}").json()
    assert info["command_kinds"] == ["split", "lower_lr"]
    assert "command kind 'has space' cannot be sent from the page" in capsys.readouterr().err


def test_a_run_refused_for_a_stopped_sweep_stops_and_keeps_nothing(
    server: ServerProcess, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The server refuses a stopped sweep's trial not started (409 ``sweep_stopped``): final, so
    the run says it was refused and should stop, log() goes on never raising, nothing is
    retried or spooled for ``runwatch sync``, and the SDK itself prints nothing."""
    with server.client() as c:
        spec = {"method": "grid", "parameters": {"x": {"values": [1, 2]}}}
        sweep_id = c.post("/api/v1/sweeps", json=spec).json()["id"]
        trial = c.post(f"/api/v1/sweeps/{sweep_id}/next", json={}).json()["trial"]
        c.post(f"/api/v1/sweeps/{sweep_id}/stop").raise_for_status()
        run = runwatch.init(project="p", url=server.url, run_dir=tmp_path, run_id=trial["run_id"])
        assert run.wait_stop(30)  # init waits for the answer, unless the server is slow
        hooked = threading.Event()
        run._on_stop_asked(hooked.set)  # registered after the refusal: called at once
        assert run.refused == (
            f"sweep {sweep_id!r} is stopped: its trial 0 was not started and is cancelled"
        )
        assert run.should_stop and run.stop_reason == run.refused and hooked.is_set()
        for step in range(10_000):
            run.log({"loss": 1.0}, step=step)
        run.event("note")
        assert run.finish() is False
        assert c.get(f"/api/v1/runs/{trial['run_id']}").status_code == 404
    assert not list(tmp_path.rglob("spool-*")) and not list(tmp_path.rglob("*.acked"))
    assert capsys.readouterr().err == ""


def test_a_started_trials_run_the_server_lost_is_not_refused_for_good(
    server: ServerProcess, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The server is restored from a backup taken before a trial's run existed, and its sweep
    is stopped (again) before the SDK creates the run again: the server takes the trial for one
    not started and refuses it (409 ``sweep_stopped``). The SDK, whose run it created before,
    says the server lost the run, and neither stops the training nor drops its spool: what the
    server never acknowledged stays there for ``runwatch sync``."""
    backup = tmp_path / "backup"
    restored = threading.Event()
    with server.client() as c:
        spec = {"method": "grid", "parameters": {"x": {"values": [1, 2]}}}
        sweep_id = c.post("/api/v1/sweeps", json=spec).json()["id"]
        trial = c.post(f"/api/v1/sweeps/{sweep_id}/next", json={}).json()["trial"]
    server.stop()
    shutil.copytree(server.data_dir, backup)
    server.start()

    def stop_before_recreating(method: str, path: str) -> None:
        if restored.is_set() and (method, path) == ("POST", "/api/v1/runs"):
            with server.client() as c:
                c.post(f"/api/v1/sweeps/{sweep_id}/stop").raise_for_status()

    work = tmp_path / "work"
    with RecordingProxy(server.url, before=stop_before_recreating) as proxy:
        run = runwatch.init(project="p", url=proxy.url, run_dir=work, run_id=trial["run_id"])
        for step in range(5):
            run.log({"loss": float(step)}, step=step)
        wait_until(lambda: run._sender.acked_batches, what="the first batch acknowledged")
        with server.client() as c:  # a running trial goes on after a stop
            c.post(f"/api/v1/sweeps/{sweep_id}/stop").raise_for_status()
        server.stop()
        shutil.rmtree(server.data_dir)
        shutil.copytree(backup, server.data_dir)
        restored.set()
        server.start()
        for step in range(5, 10):
            run.log({"loss": float(step)}, step=step)

        def recreation_refused() -> bool:
            return any((e.path, e.status) == ("/api/v1/runs", 409) for e in list(proxy.exchanges))

        wait_until(recreation_refused, 30, what="the run's creation refused again")
        assert run.refused is None and not run.should_stop
        assert run.finish(timeout=1) is False
    err = capsys.readouterr().err
    assert (
        f"the server lost run {trial['run_id']} and refuses to create it again: sweep"
        f" {sweep_id!r} is stopped" in err
    )
    assert "(sweep_stopped)" in err
    spools = list(work.rglob("spool-*.jsonl"))
    assert len(spools) == 1 and b'"loss":9.0' in spools[0].read_bytes()


def test_the_page_offers_the_first_32_kinds_whatever_else_has_a_handler(
    server: ServerProcess, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A cancel handler and a kind no POST can name are not offered, so they take none of the
    32 places (they did: the 32nd kind was refused with only 30 offered)."""
    kinds = [f"k{i}" for i in range(33)]
    with runwatch.init(project="ctl", url=server.url, run_dir=tmp_path) as run:
        run.on_command("cancel", lambda payload: None)
        run.on_command("has space", lambda payload: None)
        for kind in kinds:
            run.on_command(kind, lambda payload: None)
    with server.client() as c:
        info = c.get(f"/api/v1/runs/{run.id}").json()
    assert info["command_kinds"] == kinds[:32]
    assert capsys.readouterr().err.count("the page offers the first 32 command kinds only") == 1
