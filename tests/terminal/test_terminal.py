"""``runwatch runs`` and ``runwatch tail``, run as a user runs them, against a real server."""

from __future__ import annotations

import math
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import runwatch
from runwatch.terminal.render import duration, sparkline
from tests.queue.setup import running, serve_templates, status, submit
from tests.servers import ServerProcess, wait_until
from tests.test_cli import cli


def _env(server: ServerProcess) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNWATCH_")}
    return {**env, "RUNWATCH_URL": server.url, "COLUMNS": "200"}


@dataclass
class Tailing:
    """A ``runwatch tail`` process following ``run``, its stdout lines collected as they come."""

    run: runwatch.Run
    proc: subprocess.Popen[str]
    lines: list[str]


@contextmanager
def tailing(server: ServerProcess, tmp_path: Path, name: str) -> Iterator[Tailing]:
    """Start a run with one point and ``runwatch tail`` on it; on exit, end the tail (killed if
    still running), finish the run, and check the tail printed no traceback and ended with
    ``stopped``."""
    run = runwatch.init(project="t", name=name, url=server.url, run_dir=tmp_path / "r")
    run.log({"loss": 1.0}, step=0)
    with server.client() as c:
        wait_until(lambda: "loss" in c.get(f"/api/v1/runs/{run.id}").json().get("summary", {}))
    proc = subprocess.Popen(
        [sys.executable, "-m", "runwatch", "tail", run.id, "--interval", "0.1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(server),
    )  # fmt: skip
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")))  # type: ignore[union-attr]
    reader.start()
    try:
        wait_until(lambda: any("running" in line for line in lines), 30, what="a first frame")
        yield Tailing(run, proc, lines)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        reader.join(10)
        stderr = proc.stderr.read()  # type: ignore[union-attr]
        proc.stdout.close()  # type: ignore[union-attr]
        proc.stderr.close()  # type: ignore[union-attr]
        run.finish()
    assert "Traceback" not in stderr and lines[-1].strip() == "stopped"


def test_sparkline_scales_to_min_max_and_leaves_gaps_for_non_finite() -> None:
    assert sparkline([0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]) == "▁▂▃▄▅▆▇█"
    assert sparkline([1.0, "nan", 3.0, None, math.inf]) == "▁ █  "
    assert sparkline([2.0, 2.0]) == "▁▁" and sparkline([]) == ""
    assert sparkline([float(i) for i in range(100)], width=10) == "▁▂▃▃▄▅▆▆▇█"
    assert duration(3725) == "1h02m" and duration(65) == "1m05s" and duration(None) == ""


def test_runs_lists_runs_filtered_by_project_and_status(
    server: ServerProcess, tmp_path: Path
) -> None:
    done_run = runwatch.init(
        project="alpha", name="[red]first[/red]", url=server.url, run_dir=tmp_path / "a"
    )
    done_run.log({"loss": 0.25}, step=0)
    done_run.finish()
    live = runwatch.init(project="beta", name="second", url=server.url, run_dir=tmp_path / "b")
    try:
        with server.client() as c:
            wait_until(
                lambda: c.get(f"/api/v1/runs/{done_run.id}").json().get("status") == "succeeded"
            )
            wait_until(lambda: c.get(f"/api/v1/runs/{live.id}").status_code == 200)
        everything = cli("runs", env=_env(server))
        assert everything.returncode == 0, everything.stderr
        assert done_run.id in everything.stdout and live.id in everything.stdout
        assert "[red]first[/red]" in everything.stdout  # a name is text, never Rich markup
        assert "loss=0.25" in everything.stdout
        alpha = cli("runs", "--project", "alpha", env=_env(server)).stdout
        assert done_run.id in alpha and live.id not in alpha
        running = cli("runs", "--status", "running", env=_env(server)).stdout
        assert live.id in running and done_run.id not in running
        none = cli("runs", "--project", "nobody", env=_env(server))
        assert none.returncode == 0 and "no runs in project nobody" in none.stdout
    finally:
        live.finish()


def test_runs_and_tail_say_how_many_records_a_run_lost(
    server: ServerProcess, tmp_path: Path
) -> None:
    run = runwatch.init(project="lossy", name="lossy", url=server.url, run_dir=tmp_path / "r")
    run.log({"loss": 0.5}, step=0)
    for _ in range(2):  # each past the server's payload limit: the SDK leaves it out, counted
        run.event("oversized", payload={"blob": "x" * 70_000})
    assert run.finish() is False
    whole = runwatch.init(project="lossy", name="whole", url=server.url, run_dir=tmp_path / "w")
    assert whole.finish()
    listed = cli("runs", "--project", "lossy", env=_env(server))
    assert listed.returncode == 0, listed.stderr
    row = {r.id: next(x for x in listed.stdout.splitlines() if r.id in x) for r in (run, whole)}
    assert "succeeded ⚠ 2 lost" in row[run.id] and "⚠" not in row[whole.id]
    tailed = cli("tail", run.id, "--frames", "1", env=_env(server))
    assert tailed.returncode == 0 and "succeeded ⚠ 2 lost" in tailed.stdout, tailed.stderr


def test_runs_refuses_a_status_that_is_no_run_status_in_one_line() -> None:
    """A typo is an error naming the option and the statuses there are, not "no runs"."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNWATCH_")}
    done = cli("runs", "--status", "bogus", env={**env, "RUNWATCH_URL": "http://127.0.0.1:9"})
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("runwatch: error: Invalid value for '--status'")
    assert "'bogus' is not one of 'queued', 'running'" in done.stderr
    assert done.stderr.count("\n") == 1


def test_tail_once_shows_status_values_sparklines_and_events(
    server: ServerProcess, tmp_path: Path
) -> None:
    run = runwatch.init(project="t", name="tailed", url=server.url, run_dir=tmp_path / "r")
    for step in range(50):
        run.log({"loss": 1.0 / (step + 1), "acc": step / 50}, step=step)
    run.event("birth", entity=7, size=3)
    run.finish()
    with server.client() as c:
        wait_until(lambda: c.get(f"/api/v1/runs/{run.id}").json().get("status") == "succeeded")
    done = cli("tail", run.id, "--frames", "1", env=_env(server))
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "tailed" in out and "succeeded" in out
    loss_line = next(line for line in out.splitlines() if line.lstrip().startswith("loss"))
    assert "0.02" in loss_line and "█" in loss_line and "▁" in loss_line
    assert "birth" in out and "size=3" in out
    missing = cli("tail", "nosuchrun", "--frames", "1", env=_env(server))
    assert missing.returncode == 1 and "no run with id 'nosuchrun'" in missing.stderr


def test_tail_follows_a_live_run_and_quits_cleanly_on_ctrl_c(
    server: ServerProcess, tmp_path: Path
) -> None:
    with tailing(server, tmp_path, "live") as tail:
        tail.run.event("late-event", level="warning", note="arrived later")
        tail.run.log({"loss": 0.5}, step=1)
        wait_until(lambda: any("late-event" in line for line in tail.lines), 30, what="the event")
        tail.proc.send_signal(signal.SIGINT)
        assert tail.proc.wait(30) == 0


def test_tail_rides_out_a_server_restart(server: ServerProcess, tmp_path: Path) -> None:
    with tailing(server, tmp_path, "restarted") as tail:
        server.stop()
        wait_until(lambda: any("reconnecting" in line for line in tail.lines), 30, what="a mark")
        assert tail.proc.poll() is None, "tail exited while the server was down"
        server.start()
        tail.run.event("after-restart", note="the view goes on")
        wait_until(lambda: any("after-restart" in line for line in tail.lines), 30, what="data")
        tail.proc.send_signal(signal.SIGINT)
        assert tail.proc.wait(30) == 0
    last_frame = "".join(tail.lines).rsplit("frame", 1)[-1]
    assert "reconnecting" not in last_frame


def test_tail_on_a_terminal_redraws_in_place_and_quits_on_ctrl_c(
    server: ServerProcess, tmp_path: Path
) -> None:
    import pty

    run = runwatch.init(project="t", name="on-a-tty", url=server.url, run_dir=tmp_path / "r")
    run.log({"loss": 1.0}, step=0)
    with server.client() as c:
        wait_until(lambda: "loss" in c.get(f"/api/v1/runs/{run.id}").json().get("summary", {}))
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "runwatch", "tail", run.id, "--interval", "0.1"],
        stdin=follower, stdout=follower, stderr=follower, env=_env(server), close_fds=True,
    )  # fmt: skip
    os.close(follower)
    seen = bytearray()

    def read_until(text: bytes) -> bool:
        while text not in seen:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the terminal closed: the process is gone
                return False
            if not chunk:
                return False
            seen.extend(chunk)
        return True

    reader_result: list[bool] = []
    try:
        reader = threading.Thread(target=lambda: reader_result.append(read_until(b"on-a-tty")))
        reader.start()
        reader.join(30)
        assert reader_result == [True], seen.decode(errors="replace")[-2000:]
        assert b"\x1b[" in seen  # drawn with cursor control: in place, not frame after frame
        assert b"frame 1" not in seen
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0
        read_until(b"stopped")
        assert b"stopped" in seen and b"Traceback" not in seen
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(leader)
        run.finish()


def test_a_run_cancelled_while_queued_shows_its_wait_not_a_start_or_run_time(
    tmp_path: Path,
) -> None:
    with running(serve_templates(tmp_path)) as server, server.client() as c:
        blocker = submit(c, note="blocker").json()["id"]
        status(c, blocker, "running")  # holds the only slot
        queued = submit(c, note="cancelled").json()["id"]
        assert c.post(f"/api/v1/runs/{queued}/commands", json={"kind": "cancel"}).is_success
        status(c, queued, "cancelled")
        tail = cli("tail", queued, "--frames", "1", env=_env(server))
        assert tail.returncode == 0, tail.stderr
        header = next(line for line in tail.stdout.splitlines() if queued in line)
        assert re.search(rf"{queued}  cancelled  queued for \d+s$", header), header
        listed = cli("runs", "--status", "cancelled", env=_env(server))
        row = next(line for line in listed.stdout.splitlines() if queued in line)
        # No start time: the row's only time is the wait.
        assert re.search(r"cancelled[\s│]+queued for \d+s", row), row
        assert not re.search(r"\d\d:\d\d", row), row
