"""The managed TensorBoard process over a launched run's directory: answers on its port, and is
gone after stop, shutdown, a SIGKILL of the server, or (left by a previous server) at start."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import httpx

from runwatch.server.owned import ChildRecords
from tests.servers import ServerProcess, alive, wait_until


def registered(answer: httpx.Response) -> dict[str, Any] | None:
    if answer.status_code == 404 and answer.json()["error"]["code"] == "no_run_dir":
        return None
    assert answer.status_code == 200, answer.text
    started: dict[str, Any] = answer.json()
    return started


def launch_idle_worker(server: ServerProcess, run_dir: Path) -> subprocess.Popen[bytes]:
    """``runwatch launch`` of a worker that waits for its cancel (the launcher registers the
    run dir with the server on this machine)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNWATCH_")}
    env["RUNWATCH_URL"] = server.url
    worker = [sys.executable, "-c", "import signal; signal.pause()"]
    args = [sys.executable, "-m", "runwatch", "launch", "--project", "tb",
            "--run-dir", str(run_dir), "--", *worker]  # fmt: skip
    return subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def start_over_launched_run(c: httpx.Client) -> tuple[str, dict[str, Any]]:
    """The launched run's id and the answer of the first TensorBoard start over its dir (404
    until the launcher has registered the run dir)."""
    runs = wait_until(
        lambda: c.get("/api/v1/runs", params={"project": "tb"}).json()["runs"],
        30,
        what="the launched run",
    )
    run_id = runs[0]["id"]
    started = wait_until(
        lambda: registered(c.post(f"/api/v1/runs/{run_id}/tensorboard", timeout=90)),
        90,
        what="TensorBoard over the launched run's dir",
    )
    return run_id, started


def test_tensorboard_starts_answers_and_stops(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data").start()
    run_dir = tmp_path / "run"
    launcher = launch_idle_worker(server, run_dir)
    try:
        with server.client() as c:
            run_id, started = start_over_launched_run(c)
            assert started["url"].startswith("http://127.0.0.1:") and started["logdir"] == str(
                run_dir.resolve()
            )
            assert httpx.get(started["url"], timeout=10).status_code == 200
            again = c.post(f"/api/v1/runs/{run_id}/tensorboard", timeout=90).json()
            assert again["pid"] == started["pid"] and again["lease_until"] >= started["lease_until"]
            assert c.delete(f"/api/v1/runs/{run_id}/tensorboard").json() == {"stopped": True}
            wait_until(lambda: not alive(started["pid"]), 15, what="TensorBoard to exit")
            second = c.post(f"/api/v1/runs/{run_id}/tensorboard", timeout=90).json()
            assert c.post(f"/api/v1/runs/{run_id}/commands", json={"kind": "cancel"}).is_success
            assert launcher.wait(60) != 0  # cancelled
        server.stop()  # shutting the server down stops what it started
        wait_until(lambda: not alive(second["pid"]), 15, what="TensorBoard to exit with the server")
    finally:
        if launcher.poll() is None:
            launcher.kill()
            launcher.wait(10)
        server.stop()


def test_the_cli_prints_the_proxy_url_once_and_is_quiet_on_renewals(tmp_path: Path) -> None:
    """``runwatch tensorboard`` names the address to open (the server's proxy, not TensorBoard's
    loopback port) in one line, and renewing the lease prints nothing more."""
    server = ServerProcess(tmp_path / "data").start()
    launcher = launch_idle_worker(server, tmp_path / "run")
    cli: subprocess.Popen[str] | None = None
    try:
        with server.client() as c:
            run_id, _ = start_over_launched_run(c)
            env = {k: v for k, v in os.environ.items() if not k.startswith("RUNWATCH_")}
            env["RUNWATCH_URL"] = server.url
            cli = subprocess.Popen(
                [sys.executable, "-m", "runwatch", "tensorboard", run_id, "--renew-every", "0.2"],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
            )  # fmt: skip
            assert cli.stdout is not None
            first = cli.stdout.readline()
            proxy = f"{server.url}/api/v1/runs/{run_id}/tensorboard/proxy/"
            assert first == f"TensorBoard for run {run_id}: {proxy}  (Ctrl-C stops it)\n"
            assert httpx.get(proxy, timeout=30).status_code == 200
            status = f"/api/v1/runs/{run_id}/tensorboard"
            leased = c.get(status).json()["lease_until"]
            wait_until(  # several renewals later
                lambda: c.get(status).json()["lease_until"] > leased + 1.0,
                30,
                what="the CLI to renew the lease",
            )
            cli.send_signal(signal.SIGINT)  # Ctrl-C stops the TensorBoard
            rest, err = cli.communicate(timeout=30)
            assert rest == "" and "Traceback" not in err, err
            wait_until(lambda: not c.get(status).json()["running"], 15, what="TensorBoard to stop")
    finally:
        if cli is not None and cli.poll() is None:
            cli.kill()
            cli.wait(10)
        launcher.kill()
        launcher.wait(10)
        server.stop()


def test_a_killed_server_leaves_no_tensorboard_behind(tmp_path: Path) -> None:
    """SIGKILL: no shutdown code runs, yet the TensorBoard dies with the server, and the next
    server on the data dir forgets its record."""
    server = ServerProcess(tmp_path / "data").start()
    launcher = launch_idle_worker(server, tmp_path / "run")
    try:
        with server.client() as c:
            _, started = start_over_launched_run(c)
        pid = started["pid"]
        assert alive(pid) and os.getpgid(pid) == pid  # its own process group
        records = tmp_path / "data" / "children"
        assert [p.name for p in records.iterdir()] == [f"{pid}.json"]
        server.kill()
        wait_until(lambda: not alive(pid), 15, what="TensorBoard to die with the server")
        server.start()
        assert list(records.iterdir()) == []  # the dead child's record is gone
    finally:
        launcher.send_signal(signal.SIGINT)  # Ctrl-C: the launcher stops its worker too
        try:
            launcher.wait(60)
        finally:
            if launcher.poll() is None:
                launcher.kill()
                launcher.wait(10)
        server.stop()


def sleeper() -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", "import signal; signal.pause()"], start_new_session=True
    )


def test_a_tensorboard_left_by_a_previous_server_is_stopped_at_start(tmp_path: Path) -> None:
    """A child recorded by a server that is gone is stopped; one whose server still runs, and a
    process that merely reuses a recorded pid, are left alone."""
    data = tmp_path / "data"
    previous_server = subprocess.run(  # records a child, then exits without stopping it
        [sys.executable, "-c", textwrap.dedent("""
            import subprocess, sys
            from pathlib import Path
            from runwatch.server.owned import ChildRecords
            child = subprocess.Popen([sys.executable, "-c", "import signal; signal.pause()"],
                                     start_new_session=True, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
            ChildRecords(Path(sys.argv[1])).add(child.pid, kind="tensorboard", port=6006)
            print(child.pid)
        """), str(data)],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    stale = int(previous_server.stdout)
    owned_by_a_live_server = sleeper()
    ChildRecords(data).add(owned_by_a_live_server.pid, kind="tensorboard", port=6007)
    reused = sleeper()  # a record of a process that had this pid before
    record = {"pid": reused.pid, "created": 1.0, "owner": {"pid": 1 << 22, "created": 1.0}}
    (data / "children" / f"{reused.pid}.json").write_text(json.dumps(record))
    server = ServerProcess(data)
    try:
        assert alive(stale)
        server.start()
        wait_until(lambda: not alive(stale), 15, what="the stale TensorBoard to be stopped")
        assert alive(owned_by_a_live_server.pid) and alive(reused.pid)
        left = sorted(p.name for p in (data / "children").iterdir())
        assert left == [f"{owned_by_a_live_server.pid}.json"]
        assert "stopped 1 TensorBoard(s) a previous server left running" in (
            server.log_path.read_text()
        )
    finally:
        server.stop()
        with contextlib.suppress(ProcessLookupError):
            os.kill(stale, signal.SIGKILL)
        for proc in (owned_by_a_live_server, reused):
            proc.kill()
            proc.wait(10)
