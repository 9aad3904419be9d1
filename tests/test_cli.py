"""The command line, run as a user would run it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import runwatch
from runwatch.sdk.spool import read_batches
from tests.servers import ServerProcess


def cli(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "runwatch", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=cwd,
    )


def test_help_lists_the_commands() -> None:
    done = cli("--help")
    assert done.returncode == 0
    for command in ("serve", "demo", "sync"):
        assert command in done.stdout


def test_serve_refuses_a_public_address_without_a_token(tmp_path: Path) -> None:
    done = cli("serve", "--host", "0.0.0.0", "--port", "0", "--data", str(tmp_path))
    assert done.returncode == 1
    assert done.stderr.startswith("runwatch: error: refusing to bind 0.0.0.0 without auth")
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("command", [["token", "list"], ["token", "revoke", "1"]])
def test_token_list_and_revoke_refuse_a_data_dir_with_no_runwatch_data(
    command: list[str], tmp_path: Path
) -> None:
    typo = tmp_path / "typo"
    done = cli(*command, "--data", str(typo))
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr == (
        f"runwatch: error: no runwatch data in {typo} (no runwatch.sqlite3):"
        " pass the server's --data or --store\n"
    )
    assert not typo.exists()
    # With no --data, the default ./.runwatch is not made either.
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNWATCH_")}
    default = cli(*command, env=env, cwd=tmp_path)
    assert default.returncode == 1 and "no runwatch data in .runwatch" in default.stderr
    assert not (tmp_path / ".runwatch").exists()
    # `create` still makes a new data dir; then list finds the token.
    data = tmp_path / "data"
    assert cli("token", "create", "--scope", "read", "--data", str(data)).returncode == 0
    listed = cli("token", "list", "--data", str(data))
    assert listed.returncode == 0 and "read" in listed.stdout


@pytest.mark.parametrize(
    "args", [["serve", "--port", "99999"], ["serve", "--port", "-1"], ["demo", "--port", "70000"]]
)
def test_a_port_outside_tcps_range_is_a_one_line_usage_error(
    args: list[str], tmp_path: Path
) -> None:
    done = cli(*args, "--data", str(tmp_path / "data"))
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("runwatch: error: Invalid value for '--port'")
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert not (tmp_path / "data").exists()  # refused before anything ran


def test_a_mistyped_command_is_one_sentence_then_where_help_is() -> None:
    done = cli("tokens")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith(
        "runwatch: error: No such command 'tokens'. Did you mean 'token'? See `"
    )
    assert done.stderr.endswith(" --help`\n") and done.stderr.count("\n") == 1


@pytest.mark.parametrize("command", ["serve", "demo"])
def test_a_port_in_use_is_one_line_naming_it(command: str, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = cli(command, "--port", str(port), "--data", str(tmp_path / "data"))
    assert done.returncode == 1
    assert done.stderr == f"runwatch: error: cannot bind 127.0.0.1:{port}: Address already in use\n"


@pytest.mark.parametrize("command", [["tensorboard", "abc123"], ["tail", "abc123"]])
def test_a_server_that_cannot_be_reached_is_one_line(command: list[str]) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{unused.getsockname()[1]}"  # nothing listens once it closes
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNWATCH_")}
    done = cli(*command, "--url", url, env=env)
    assert done.returncode == 1
    assert done.stderr.startswith(f"runwatch: error: cannot reach the runwatch server at {url}")
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


def test_serve_with_a_missing_templates_file_never_says_it_is_listening(tmp_path: Path) -> None:
    """Supervisors wait for the listening line: a server that then exits must not print it."""
    missing = tmp_path / "missing.toml"
    done = cli(
        "serve", "--port", "0", "--data", str(tmp_path / "data"), "--templates", str(missing)
    )
    assert done.returncode == 1
    assert "listening" not in done.stdout and str(missing) in done.stderr


def test_sync_uploads_a_spool_once_and_is_safe_to_repeat(tmp_path: Path) -> None:
    srv = ServerProcess(tmp_path / "data").start()
    url = srv.url
    srv.stop()
    run = runwatch.init(project="sync", url=url, run_dir=tmp_path / "run")
    for i in range(500):
        run.log({"x": float(i)}, step=i)
    run.event("birth", entity=1)
    run.finish(timeout=0.5)
    assert sum(len(b["points"]) for b in read_batches(run.spool_path)) == 500
    srv.start()
    try:
        first = cli("sync", str(tmp_path / "run"), "--url", url)
        assert first.returncode == 0, first.stderr
        again = cli("sync", str(tmp_path / "run"), "--url", url)
        assert again.returncode == 0 and "nothing to send" in again.stdout
        # Only that line: no empty progress bar after it (rich wraps the long path, not this).
        assert again.stdout.endswith(f"run {run.id}: nothing to send\n") and "%" not in again.stdout
        with srv.client() as c:
            series = c.get(f"/api/v1/runs/{run.id}/metrics", params={"max_points": 1000}).json()
            info = c.get(f"/api/v1/runs/{run.id}").json()
            births = c.get(f"/api/v1/runs/{run.id}/events", params={"kind": "birth"}).json()
        assert series["series"]["x"]["value"] == [float(i) for i in range(500)]
        assert [e["entity"] for e in births["events"]] == [1]  # events, too, once
        assert info["status"] == "succeeded"
    finally:
        srv.stop()


def test_sync_of_a_trial_whose_sweep_was_stopped_since_is_one_line_and_fails(
    tmp_path: Path,
) -> None:
    """A sweep trial's run logged offline, its sweep stopped before the sync: the run will
    never exist (409 sweep_stopped); the sync says so in one line, keeps that spool, still
    syncs the other one, and exits 1."""
    srv = ServerProcess(tmp_path / "data").start()
    url = srv.url
    with srv.client() as c:
        sweep = {"method": "grid", "parameters": {"x": {"values": [1, 2]}}}
        sweep_id = c.post("/api/v1/sweeps", json=sweep).json()["id"]
        trial = c.post(f"/api/v1/sweeps/{sweep_id}/next", json={}).json()["trial"]
    srv.stop()
    runs = []
    for name, run_id in (("trial", trial["run_id"]), ("plain", None)):
        run = runwatch.init(project="p", url=url, run_dir=tmp_path / name, run_id=run_id)
        run.log({"x": 1.0}, step=0)
        run.finish(timeout=0.5)
        runs.append(run)
    srv.start()
    try:
        with srv.client() as c:
            c.post(f"/api/v1/sweeps/{sweep_id}/stop").raise_for_status()
            done = cli("sync", str(tmp_path / "trial"), str(tmp_path / "plain"), "--url", url)
            plain = c.get(f"/api/v1/runs/{runs[1].id}").json()
            missing = c.get(f"/api/v1/runs/{trial['run_id']}")
    finally:
        srv.stop()
    assert done.returncode == 1
    assert done.stderr == (
        f"runwatch: error: {runs[0].spool_path}: the server will not create run {trial['run_id']}:"
        f" sweep {sweep_id!r} is stopped: its trial 0 was not started and is cancelled"
        " (sweep_stopped); nothing of it was sent, and the spool is kept (delete it to stop"
        " syncing it)\n"
    )
    assert runs[0].spool_path.exists()
    assert plain["status"] == "succeeded" and missing.status_code == 404


def test_sync_with_nothing_to_do_says_so(tmp_path: Path) -> None:
    done = cli("sync", str(tmp_path))
    assert done.returncode == 1 and "no spool files" in done.stderr


def every_command() -> list[list[str]]:
    """Each command's words (``["token", "create"]``), from the app itself: none is left out."""
    import typer.main

    from runwatch.cli import app

    def walk(command: Any, words: list[str]) -> list[list[str]]:
        subs = getattr(command, "commands", None)
        if not subs:
            return [words]
        return [w for name, sub in sorted(subs.items()) for w in walk(sub, [*words, name])]

    return walk(typer.main.get_command(app), [])


@pytest.mark.parametrize("words", every_command(), ids=" ".join)
def test_every_command_refuses_an_unknown_option_in_one_line(
    words: list[str], tmp_path: Path
) -> None:
    """An option we do not know is an error before anything runs, not a worker's argument."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNWATCH_")}
    env["RUNWATCH_URL"] = "http://127.0.0.1:9"  # nothing may be sent anywhere
    done = subprocess.run(
        [sys.executable, "-m", "runwatch", *words, "--no-such-option", "2", "--", "true"],
        capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.startswith("runwatch: error: No such option: --no-such-option")
    assert done.stderr.count("\n") == 1 and done.stdout == ""
    assert list(tmp_path.iterdir()) == []  # no data dir, no run dir: nothing ran


def test_launch_options_after_the_double_dash_belong_to_the_worker(tmp_path: Path) -> None:
    """``--scan-interval`` is the launcher's before ``--`` and the worker's after it."""
    srv = ServerProcess(tmp_path / "data").start()
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RUNWATCH_")}
        done = cli(
            "launch", "--scan-interval", "2", "--url", srv.url, "--run-dir", str(tmp_path / "run"),
            "--", sys.executable, "-c", "import sys; print(sys.argv[1:])", "--scan-interval", "3",
            env=env,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert "['--scan-interval', '3']" in done.stdout
    finally:
        srv.stop()


def test_no_help_text_is_eaten_as_rich_markup() -> None:
    """Typer renders help as Rich markup, where a bare ``[default: …]`` or ``[[rules]]`` is a
    tag and vanished from ``serve --help``: every bracket must be escaped to be shown."""
    import typer.main
    from rich.markup import render

    from runwatch.cli import app

    def walk(command: Any) -> Any:
        yield command
        for sub in getattr(command, "commands", {}).values():
            yield from walk(sub)

    for command in walk(typer.main.get_command(app)):
        texts = [command.help] + [getattr(p, "help", None) for p in command.params]
        for text in filter(None, texts):
            assert render(text).plain == text.replace("\\[", "["), (command.name, text)
    shown = cli("serve", "--help", env={**os.environ, "COLUMNS": "400"}).stdout
    assert "may launch [default: DATA/runwatch.toml]" in shown
    assert "([[rules]] tables)" in shown


def test_runs_delete_asks_then_says_one_line_per_run(tmp_path: Path) -> None:
    """``runwatch runs delete``: nothing without a yes; then one line per run deleted, one
    line on standard error per run it could not delete (and exit 1); ``runs`` still lists."""
    srv = ServerProcess(tmp_path / "data").start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNWATCH_")}
    env["RUNWATCH_URL"] = srv.url

    def delete(*args: str, answer: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "runwatch", "runs", "delete", *args],
            input=answer, capture_output=True, text=True, timeout=120, env=env,
        )  # fmt: skip

    try:
        with srv.client() as c:
            ids = [
                c.post("/api/v1/runs", json={"project": "p", "name": n}).json()["id"] for n in "ab"
            ]
            for run_id in ids:
                final = {
                    "producer": "t",
                    "batch_seq": 1,
                    "status": {"state": "succeeded", "ts": 1.0},
                }
                assert c.post(f"/api/v1/runs/{run_id}/batches", json=final).status_code == 200
            running = c.post("/api/v1/runs", json={"project": "p", "name": "on"}).json()["id"]
            a, b = ids

            no = delete(a, answer="n\n")
            assert no.returncode == 1 and "[y/N]" in no.stdout
            assert no.stderr == (
                "runwatch: error: nothing deleted (not confirmed; --yes deletes without asking)\n"
            )
            assert c.get(f"/api/v1/runs/{a}").status_code == 200

            done = delete(a, b, running, "nosuchrun", answer="y\n")
            assert done.returncode == 1
            assert f"Delete 4 runs ({a}, {b}, {running}, nosuchrun)" in done.stdout
            assert done.stdout.split("[y/N] ", 1)[1].splitlines() == [
                f"deleted run {a} (a, project p)",
                f"deleted run {b} (b, project p)",
            ]
            errors = done.stderr.splitlines()
            assert len(errors) == 2 and "Traceback" not in done.stderr
            assert errors[0].startswith(f"runwatch: error: run {running}: ")
            assert "cancel it first" in errors[0] and "run_not_finished" in errors[0]
            assert errors[1].startswith("runwatch: error: run nosuchrun: no run with id")

            again = delete(a, "--yes")
            assert again.returncode == 1 and again.stdout == ""
            assert again.stderr == (
                f"runwatch: error: run {a}: run '{a}' was deleted (HTTP 404 run_deleted)\n"
            )
        listed = cli("runs", env=env)
        assert listed.returncode == 0 and running in listed.stdout and a not in listed.stdout
    finally:
        srv.stop()
