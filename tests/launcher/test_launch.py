"""`runwatch launch` with real worker processes: lifecycle, capture, cancel escalation, Ctrl-C."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx

from runwatch.sdk.spool import read_batches
from tests.servers import ServerProcess, alive, wait_until

REPO = Path(__file__).resolve().parents[2]  # workers import tests.servers.wait_until from it


def launcher(
    server_url: str, run_dir: Path, script: Path, *options: str, cwd: Path | None = None
) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNWATCH_")}
    env["RUNWATCH_URL"] = server_url
    args = [
        sys.executable,
        "-m",
        "runwatch",
        "launch",
        "--project",
        "lp",
        "--run-dir",
        str(run_dir),
        *options,
    ]
    return subprocess.Popen([*args, "--", sys.executable, str(script)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=cwd)  # fmt: skip


def worker(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "worker.py"
    path.write_text(textwrap.dedent(body))
    return path


def only_run(c: httpx.Client) -> dict:
    runs = wait_until(
        lambda: c.get("/api/v1/runs", params={"project": "lp"}).json()["runs"], 20, what="the run"
    )
    return runs[0]


def finished(c: httpx.Client, run_id: str) -> dict:
    return wait_until(
        lambda: (info := c.get(f"/api/v1/runs/{run_id}").json())["ended_at"] and info,
        30,
        what="the end",
    )


def test_a_worker_with_the_sdk_succeeds_and_its_output_is_captured(
    server: ServerProcess, tmp_path: Path
) -> None:
    script = worker(
        tmp_path,
        """
        import os, sys, runwatch
        print("run id", os.environ["RUNWATCH_RUN_ID"], flush=True)
        print("a warning", file=sys.stderr, flush=True)
        with runwatch.init(project="ignored", config={"lr": 0.01}) as run:
            for step in range(50):
                run.log({"loss": 1 / (step + 1)}, step=step)
    """,
    )
    proc = launcher(server.url, tmp_path / "run", script)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    with server.client() as c:
        run = only_run(c)
        assert (
            f"run id {run['id']}" in out and run["status"] == "succeeded" and run["exit_code"] == 0
        )
        # The launcher made the run; the worker's config joined the launcher's own.
        assert run["config"]["lr"] == 0.01 and run["config"]["command"][0] == sys.executable
        values = c.get(f"/api/v1/runs/{run['id']}/metrics", params={"keys": "loss"}).json()[
            "series"
        ]["loss"]
        assert values["x"] == list(range(50))
        assert values["value"] == [1 / (step + 1) for step in range(50)]
        lines = c.get(f"/api/v1/runs/{run['id']}/logs").json()["lines"]
        # Two pipes, two readers: lines keep their order within a stream, not across streams.
        assert sorted((x["stream"], x["text"]) for x in lines) == [
            ("stderr", "a warning"),
            ("stdout", f"run id {run['id']}"),
        ]
        only_err = c.get(f"/api/v1/runs/{run['id']}/logs", params={"stream": "stderr"}).json()[
            "lines"
        ]
        assert [x["text"] for x in only_err] == ["a warning"]
    assert (tmp_path / "run" / "stderr.log").read_text() == "a warning\n"
    assert "a warning" in err


def test_a_failing_worker_reports_its_exit_code_and_last_stderr_lines(
    server: ServerProcess, tmp_path: Path
) -> None:
    script = worker(
        tmp_path,
        """
        import sys
        for i in range(30):
            print(f"line {i}", file=sys.stderr)
        sys.exit(3)
    """,
    )
    proc = launcher(server.url, tmp_path / "run", script)
    proc.communicate(timeout=60)
    assert proc.returncode == 3
    with server.client() as c:
        run = finished(c, only_run(c)["id"])
    assert run["status"] == "failed" and run["exit_code"] == 3
    assert run["error"].startswith("exited with code 3\nline 10\n") and run["error"].endswith(
        "line 29"
    )


def test_a_heartbeat_sidecar_becomes_metrics(server: ServerProcess, tmp_path: Path) -> None:
    script = worker(
        tmp_path,
        f"""
        import json, os, sys
        import httpx
        sys.path.insert(0, {str(REPO)!r})
        from tests.servers import wait_until
        path = os.path.join(os.environ["RUNWATCH_RUN_DIR"], "heartbeat.json")
        metrics = os.environ["RUNWATCH_URL"] + "/api/v1/runs/" + os.environ["RUNWATCH_RUN_ID"]
        def shown():
            reply = httpx.get(metrics + "/metrics", params={{"keys": "heartbeat/progress"}})
            return reply.json()["series"].get("heartbeat/progress", {{}}).get("value") or [None]
        for step in range(1, 6):
            with open(path + ".tmp", "w") as f:
                json.dump({{"step": step, "progress": step / 5}}, f)
            os.replace(path + ".tmp", path)
            # The next write once the launcher has reported this one (it reads the latest only).
            wait_until(lambda: shown()[-1] == step / 5, 30, what=f"heartbeat {{step}}")
    """,
    )
    proc = launcher(server.url, tmp_path / "run", script)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err  # the worker saw each of its heartbeats reported
    with server.client() as c:
        run = only_run(c)
        series = c.get(
            f"/api/v1/runs/{run['id']}/metrics", params={"keys": "heartbeat/progress"}
        ).json()["series"]["heartbeat/progress"]
    # A heartbeat read twice (the launcher rereads it every interval) is the same point again.
    points = list(dict.fromkeys(zip(series["x"], series["value"], strict=True)))
    assert points == [(1, 0.2), (2, 0.4), (3, 0.6), (4, 0.8), (5, 1.0)]


def run_until_started(c: httpx.Client) -> str:
    run = only_run(c)
    wait_until(
        lambda: c.get(f"/api/v1/runs/{run['id']}/logs").json()["lines"], 20, what="the worker"
    )
    return str(run["id"])


def test_cancel_escalates_to_sigterm_then_sigkill(server: ServerProcess, tmp_path: Path) -> None:
    script = worker(
        tmp_path,
        """
        import signal
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a worker that will not stop politely
        print("started", flush=True)
        while True:
            signal.pause()  # only SIGKILL ends it
    """,
    )
    proc = launcher(server.url, tmp_path / "run", script, "--grace", "0.5")
    with server.client() as c:
        run_id = run_until_started(c)
        assert c.post(f"/api/v1/runs/{run_id}/commands", json={"kind": "cancel"}).status_code == 201
        proc.communicate(timeout=60)
        run = finished(c, run_id)
    assert proc.returncode == 130
    assert run["status"] == "cancelled" and run["exit_code"] == -signal.SIGKILL


def test_a_cooperative_worker_stops_itself_on_cancel(server: ServerProcess, tmp_path: Path) -> None:
    script = worker(
        tmp_path,
        """
        import runwatch
        with runwatch.init() as run:
            print("started", flush=True)
            step = 0
            while not run.should_stop:
                run.log({"x": float(step)}, step=step)
                step += 1
            print("stopping at", step, flush=True)
    """,
    )
    proc = launcher(server.url, tmp_path / "run", script, "--grace", "30")
    with server.client() as c:
        run_id = run_until_started(c)
        c.post(f"/api/v1/runs/{run_id}/commands", json={"kind": "cancel"})
        proc.communicate(timeout=60)
        run = finished(c, run_id)
        texts = [x["text"] for x in c.get(f"/api/v1/runs/{run_id}/logs").json()["lines"]]
    assert proc.returncode == 0  # the worker's own exit code: it stopped cleanly
    assert (run["status"], run["exit_code"]) == ("cancelled", 0)
    assert run["error"] == "cancelled from the dashboard"
    assert len([t for t in texts if t.startswith("stopping at ")]) == 1


def test_ctrl_c_on_the_launcher_reaches_the_worker_and_cancels(
    server: ServerProcess, tmp_path: Path
) -> None:
    script = worker(
        tmp_path,
        """
        import signal
        print("started", flush=True)
        try:
            while True:
                signal.pause()  # until the launcher passes Ctrl-C on
        except KeyboardInterrupt:
            print("interrupted", flush=True)
    """,
    )
    proc = launcher(server.url, tmp_path / "run", script)
    with server.client() as c:
        run_id = run_until_started(c)
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)
        run = finished(c, run_id)
        texts = [x["text"] for x in c.get(f"/api/v1/runs/{run_id}/logs").json()["lines"]]
    assert proc.returncode == 0  # the worker handled the interrupt and exited cleanly
    assert run["status"] == "cancelled" and run["error"] == "interrupted (Ctrl-C on the launcher)"
    assert texts == ["started", "interrupted"]


def test_a_killed_launcher_takes_its_worker_with_it(server: ServerProcess, tmp_path: Path) -> None:
    """SIGKILL of the launcher alone (the worker is in a session of its own): the worker,
    training and heartbeating through the SDK, dies too, and the silent run is crashed."""
    script = worker(
        tmp_path,
        """
        import os, signal
        import runwatch
        signal.alarm(120)  # should the test not end it
        with runwatch.init() as run:
            print("pid", os.getpid(), flush=True)
            for step in range(10**6):
                run.log({"loss": 1 / (step + 1)}, step=step)
                if run.wait_stop(0.1):  # a training step, cut short by a cancel
                    break
    """,
    )
    proc = launcher(server.url, tmp_path / "run", script)
    pid = 0
    try:
        assert proc.stdout is not None
        pid = int(proc.stdout.readline().split()[1])
        proc.kill()  # the launcher only
        proc.communicate(timeout=30)
        wait_until(lambda: not alive(pid), 10, what="the dead launcher's worker to end")
        with server.client() as c:
            run_id = only_run(c)["id"]
            wait_until(
                lambda: c.get(f"/api/v1/runs/{run_id}").json()["status"] == "crashed", 40,
                what="the silent run to be marked crashed",
            )  # fmt: skip
    finally:
        if pid:  # an orphan of the old launcher, or a failure above left it running
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        proc.kill()
        proc.communicate(timeout=30)


def test_the_launcher_rides_out_a_server_that_is_briefly_down(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data").start()
    server.stop()
    go = tmp_path / "server-is-back"
    script = worker(
        tmp_path,
        f"""
        import pathlib, sys
        sys.path.insert(0, {str(REPO)!r})
        from tests.servers import wait_until
        for i in range(10):
            print("tick", i, flush=True)
        wait_until(pathlib.Path({str(go)!r}).exists, 60, what="the server to be back")
        for i in range(10, 20):
            print("tick", i, flush=True)
    """,
    )
    proc = launcher(server.url, tmp_path / "run", script)
    try:
        stdout = tmp_path / "run" / "stdout.log"
        wait_until(
            lambda: stdout.exists() and "tick 9" in stdout.read_text(), 20, what="logs while down"
        )
        server.start()
        go.touch()
        proc.communicate(timeout=90)
        with server.client() as c:
            run = finished(c, only_run(c)["id"])
            lines = c.get(f"/api/v1/runs/{run['id']}/logs").json()["lines"]
        assert run["status"] == "succeeded" and [x["text"] for x in lines] == [
            f"tick {i}" for i in range(20)
        ]
    finally:
        server.stop()


def test_without_project_the_launch_takes_runwatch_project_as_init_does(
    server: ServerProcess, tmp_path: Path
) -> None:
    script = worker(tmp_path, "print('hi', flush=True)\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNWATCH_")}
    env.update({"RUNWATCH_URL": server.url, "RUNWATCH_PROJECT": "from-env"})
    done = subprocess.run(
        [sys.executable, "-m", "runwatch", "launch", "--run-dir", str(tmp_path / "run"), "--",
         sys.executable, str(script)],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    with server.client() as c:
        runs = c.get("/api/v1/runs", params={"project": "from-env"}).json()["runs"]
        assert len(runs) == 1 and runs[0]["status"] == "succeeded"
        assert c.get("/api/v1/runs", params={"project": "default"}).json()["runs"] == []


def test_nothing_to_launch_is_a_clear_error(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "runwatch", "launch", "--"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "Missing argument 'command'" in done.stderr and "Traceback" not in done.stderr


def test_a_worker_killed_mid_burst_has_its_spool_delivered_before_the_final_status(
    server: ServerProcess, tmp_path: Path
) -> None:
    script = worker(
        tmp_path,
        """
        import os, signal, runwatch
        run = runwatch.init(project="ignored")
        for step in range(300_000):
            run.log({"loss": float(step)}, step=step)
        os.kill(os.getpid(), signal.SIGKILL)  # no finish(): what is queued is in the spool
    """,
    )
    proc = launcher(server.url, tmp_path / "run", script)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode != 0 and "failed (exit code -9)" in err, err
    spools = [p for p in (tmp_path / "run").glob("spool-*.jsonl") if "loss" in p.read_text()]
    # Every step from some step on (delivered ones before it may have been cut away); the
    # server then holds every step up to the last spooled one.
    steps = [p[0] for b in read_batches(spools[0]) for p in b["points"] if "loss" in p[2]]
    with server.client() as c:
        run = finished(c, only_run(c)["id"])
        params = {"keys": "loss", "max_points": 1}
        series = c.get(f"/api/v1/runs/{run['id']}/metrics", params=params).json()["series"]
    assert run["status"] == "failed" and "killed by signal 9" in run["error"]
    assert steps and steps == list(range(steps[0], steps[-1] + 1))
    assert sum(series["loss"]["count"]) == steps[-1] + 1


def test_a_worker_batch_the_server_refuses_is_named_in_one_launcher_line(
    server: ServerProcess, tmp_path: Path
) -> None:
    """The worker logs offline (its URL has no server), so its spool is left to the launcher,
    and one of its batches holds an event the server refuses for good: the launcher says how
    many records, why and where they are kept, in one line; the run still gets its status."""
    script = worker(
        tmp_path,
        """
        import time, runwatch
        from runwatch.sdk.sender import EVENT
        run = runwatch.init(url="http://127.0.0.1:9")  # nothing listens: all stays spooled
        # An event with a field this server does not know, as from a newer SDK.
        run._queue.append((EVENT, {"kind": "newer", "ts": time.time(), "unknown_field": 1}))
        run.finish(timeout=0.5)
    """,
    )
    proc = launcher(server.url, tmp_path / "run", script)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    (kept,) = (tmp_path / "run").glob("refused-*.jsonl")
    lines = [line for line in err.splitlines() if "refused by the server" in line]
    assert len(lines) == 1, err
    assert lines[0].startswith("runwatch: ") and str(kept) in lines[0], lines
    # The refused batch holds the event and the worker's own end (worker.finished).
    (refused,) = [json.loads(line)["batch"] for line in kept.read_text().splitlines()]
    assert [e["kind"] for e in refused["events"]] == ["newer", "worker.finished"]
    assert "2 records were refused by the server for good" in lines[0]
    assert "unknown_field" in lines[0]
    with server.client() as c:
        run = finished(c, only_run(c)["id"])
        events = c.get(f"/api/v1/runs/{run['id']}/events", params={"kind": "newer"}).json()
    assert run["status"] == "succeeded" and events["events"] == []


def test_scan_interval_sets_how_often_the_run_dir_is_scanned(
    server: ServerProcess, tmp_path: Path
) -> None:
    """With ``--scan-interval 0.5`` a checkpoint written mid-run is listed within seconds; the
    worker waits for that itself (well under the default 10 s) and fails if it does not come."""
    script = worker(
        tmp_path,
        f"""
        import json, os, sys
        sys.path.insert(0, {str(REPO)!r})
        from tests.servers import wait_until
        run_dir = os.environ["RUNWATCH_RUN_DIR"]
        os.makedirs(os.path.join(run_dir, "checkpoints"))
        with open(os.path.join(run_dir, "checkpoints", "mid.pt"), "wb") as f:
            f.write(b"w")
        def listed():
            try:
                with open(os.path.join(run_dir, "artifacts.json")) as f:
                    return [a["path"] for a in json.load(f)["artifacts"]]
            except (OSError, ValueError):
                return []
        wait_until(lambda: "checkpoints/mid.pt" in listed(), 6, what="the scan")
    """,
    )
    proc = launcher(server.url, tmp_path / "run", script, "--scan-interval", "0.5")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    with server.client() as c:
        run = finished(c, only_run(c)["id"])
        artifacts = c.get(f"/api/v1/runs/{run['id']}/artifacts").json()["artifacts"]
    assert run["status"] == "succeeded"
    assert [a["path"] for a in artifacts] == ["checkpoints/mid.pt"]


def test_files_written_beside_the_worker_not_in_the_run_dir_are_pointed_out(
    server: ServerProcess, tmp_path: Path
) -> None:
    """The worker runs in the launcher's working directory: a TensorBoard logdir or a
    heartbeat.json written with a relative path lands there, unwatched, and the end says so;
    the same files under $RUNWATCH_RUN_DIR are watched and draw no warning."""
    body = """
        import os, pathlib
        base = pathlib.Path({base})
        (base / "runs" / "exp").mkdir(parents=True)
        (base / "runs" / "exp" / "events.out.tfevents.1.host").write_bytes(b"")
        (base / "heartbeat.json").write_text('{{"loss": 1.0}}')
    """
    work = tmp_path / "work"
    work.mkdir()
    relative = worker(tmp_path, body.format(base='"."'))
    outside = launcher(server.url, tmp_path / "run", relative, cwd=work)
    _, err = outside.communicate(timeout=120)
    assert outside.returncode == 0, err
    warnings = [line for line in err.splitlines() if line.startswith("runwatch: warning:")]
    assert warnings == [
        f"runwatch: warning: no TensorBoard files under the run dir {tmp_path / 'run'}, but the"
        f" worker wrote some to {work / 'runs/exp/events.out.tfevents.1.host'}, which is not"
        " watched: write them under $RUNWATCH_RUN_DIR",
        f"runwatch: warning: no heartbeat.json under the run dir {tmp_path / 'run'}, but the"
        f" worker wrote some to {work / 'heartbeat.json'}, which is not watched: write them"
        " under $RUNWATCH_RUN_DIR",
    ]
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    inside = worker(fresh, body.format(base='os.environ["RUNWATCH_RUN_DIR"]'))
    watched = launcher(server.url, tmp_path / "run2", inside, cwd=fresh)
    _, err = watched.communicate(timeout=120)
    assert watched.returncode == 0, err
    assert "runwatch: warning:" not in err
