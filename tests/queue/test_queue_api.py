"""The run queue from the outside: templates, typed submission, the scheduler, restarts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.asgi import InProcessServer
from tests.queue.setup import (
    release,
    running,
    serve_templates,
    status,
    submit,
    templates_in_process,
    worker_argv,
)
from tests.servers import wait_until


def test_templates_are_listed_with_typed_params_and_the_data_files(tmp_path: Path) -> None:
    with templates_in_process(tmp_path) as server, server.client() as c:
        body = c.get("/api/v1/templates").json()
    assert body["max_concurrent"] == 1
    (train,) = body["templates"]
    assert train["name"] == "train" and train["project"] == "automl"
    assert "cwd" not in train  # where it runs is the operator's business
    params = {p["name"]: p for p in train["params"]}
    assert params["lr"] == {"name": "lr", "type": "float", "help": "learning rate",
                            "default": 0.001, "min": 0.00001, "max": 1.0}  # fmt: skip
    # An int's bounds and default are ints (1 == 1.0 in Python: the types are checked too).
    epochs = params["epochs"]
    assert epochs == {"name": "epochs", "type": "int", "default": 3, "min": 1, "max": 100}
    assert [type(epochs[k]) for k in ("default", "min", "max")] == [int, int, int]
    assert params["model"]["choices"] == ["mlp", "cnn", "resnet"]
    assert params["note"]["pattern"] == "[A-Za-z0-9 _.-]*" and params["note"]["max_length"] == 40
    # Files inside the dir, not the symlink that leads out of it, and never the dir itself.
    assert params["data"]["files"] == ["mnist.csv", "sub/cifar.csv"]
    assert "dir" not in params["data"]


def test_a_submitted_run_is_queued_started_with_argv_elements_and_succeeds(
    tmp_path: Path,
) -> None:
    with running(serve_templates(tmp_path)) as server, server.client() as c:
        r = submit(c, lr=0.01, model="cnn", note="two words", data="sub/cifar.csv")
        assert r.status_code == 201, r.text
        run = r.json()
        assert run["status"] == "queued" and run["project"] == "automl"
        assert run["config"] == {"lr": 0.01, "epochs": 3, "model": "cnn",
                                 "data": "sub/cifar.csv", "note": "two words", "exit": 0}  # fmt: skip
        assert run["snapshot"]["template"] == "train"
        assert run["snapshot"]["params"] == run["config"]
        status(c, run["id"], "running")
        data = str((tmp_path / "ops" / "datasets" / "sub" / "cifar.csv").resolve())
        # Each value is one argv element, exactly as validated: no shell split it.
        assert worker_argv(server, run["id"]) == [
            "--lr", "0.01", "--epochs=3", "--model", "cnn", "--data", data,
            "--note", "two words", "--exit", "0",
        ]  # fmt: skip
        release(server, run["id"])
        done = status(c, run["id"], "succeeded")
        assert done["exit_code"] == 0
        logs = c.get(f"/api/v1/runs/{run['id']}/logs").json()
        assert "worker done" in [line["text"] for line in logs["lines"]]


def test_a_failing_worker_fails_its_run(tmp_path: Path) -> None:
    with running(serve_templates(tmp_path)) as server, server.client() as c:
        run = submit(c, exit=3).json()
        status(c, run["id"], "running")
        release(server, run["id"])
        assert status(c, run["id"], "failed")["exit_code"] == 3


INJECTIONS: list[tuple[dict[str, Any], str]] = [
    ({"note": "; rm -rf /"}, "note"),
    ({"note": "$(touch /tmp/runwatch-pwned)"}, "note"),
    ({"note": "`id`"}, "note"),
    ({"note": "ok\nrm -rf /"}, "note"),
    ({"note": "--config=/etc/passwd"}, "note"),
    ({"note": "-rf"}, "note"),
    ({"note": "x" * 41}, "note"),
    ({"model": "mlp; rm -rf /"}, "model"),
    ({"model": "--help"}, "model"),
    ({"lr": "0.1; rm -rf /"}, "lr"),
    ({"lr": 5}, "lr"),
    ({"lr": True}, "lr"),
    ({"epochs": 2.5}, "epochs"),
    ({"epochs": "3"}, "epochs"),
    ({"data": "../secret.txt"}, "data"),
    ({"data": "sub/../../secret.txt"}, "data"),
    ({"data": "/etc/passwd"}, "data"),
    ({"data": "escape"}, "data"),  # a symlink inside the dir that points out of it
    ({"data": "missing.csv"}, "data"),
    ({"data": "--data=/etc/passwd"}, "data"),
    ({"shell": "rm -rf /"}, "shell"),
]


def test_injection_attempts_are_422_naming_the_parameter_and_start_nothing(
    tmp_path: Path,
) -> None:
    with templates_in_process(tmp_path) as server, server.client() as c:
        for params, field in INJECTIONS:
            r = submit(c, **params)
            assert r.status_code == 422, (params, r.text)
            error = r.json()["error"]
            assert error["code"] == "invalid_param" and error["field"] == f"$.params.{field}"
            assert error["message"].startswith(f"{field}: "), error
        assert c.get("/api/v1/runs").json()["runs"] == []
    assert not (server.data_dir / "runs").exists()
    assert not Path("/tmp/runwatch-pwned").exists()


def test_bad_submissions_get_clear_errors(tmp_path: Path) -> None:
    with templates_in_process(tmp_path) as server, server.client() as c:
        r = c.post("/api/v1/templates/nope/runs", json={"params": {}})
        assert r.status_code == 404 and r.json()["error"]["code"] == "template_not_found"
        r = c.post("/api/v1/templates/train/runs", json={"params": [], "x": 1})
        assert r.status_code == 400 and r.json()["error"]["field"] in ("$.params", "$.x")
        r = c.post("/api/v1/templates/train/runs", json={"params": {}})
        assert r.status_code == 422 and r.json()["error"]["field"] == "$.params.data"


def test_with_one_slot_the_second_run_waits_and_a_cancelled_one_never_starts(
    tmp_path: Path,
) -> None:
    with running(serve_templates(tmp_path)) as server, server.client() as c:
        first, second, third = (submit(c, note=n).json()["id"] for n in ("a", "b", "c"))
        status(c, first, "running")
        worker_argv(server, first)
        assert c.get(f"/api/v1/runs/{second}").json()["status"] == "queued"
        r = c.post(f"/api/v1/runs/{second}/commands", json={"kind": "cancel"})
        assert r.status_code == 201
        assert status(c, second, "cancelled")["error"] == "cancelled while queued"
        release(server, first)
        status(c, first, "succeeded")
        status(c, third, "running")  # the cancelled one was skipped
        release(server, third)
        status(c, third, "succeeded")
        assert not (server.data_dir / "runs" / second).exists()
        assert c.get(f"/api/v1/runs/{second}").json()["started_at"] is None


def test_two_slots_run_two_at_once(tmp_path: Path) -> None:
    with (
        running(serve_templates(tmp_path, "--max-concurrent", "2")) as server,
        server.client() as c,
    ):
        ids = [submit(c, note=n).json()["id"] for n in ("a", "b", "c")]
        for run_id in ids[:2]:
            status(c, run_id, "running")
        assert c.get(f"/api/v1/runs/{ids[2]}").json()["status"] == "queued"
        release(server, ids[1])
        status(c, ids[2], "running")
        for run_id in (ids[0], ids[2]):
            release(server, run_id)
            status(c, run_id, "succeeded")


def test_a_queued_run_survives_a_restart_and_starts_after_it(tmp_path: Path) -> None:
    server = serve_templates(tmp_path, "--max-concurrent", "0")  # the queue is paused
    with running(server), server.client() as c:
        run_id = submit(c).json()["id"]
        assert c.get(f"/api/v1/runs/{run_id}").json()["status"] == "queued"
    server.extra_args = [*server.extra_args[:-2], "--max-concurrent", "1"]
    with running(server), server.client() as c:
        status(c, run_id, "running")
        release(server, run_id)
        status(c, run_id, "succeeded")


def test_a_running_run_is_reattached_after_the_server_is_killed(tmp_path: Path) -> None:
    server = serve_templates(tmp_path)
    with running(server):
        with server.client() as c:
            first, second = (submit(c, note=n).json()["id"] for n in ("a", "b"))
            status(c, first, "running")
            worker_argv(server, first)
        server.kill()  # the launcher lives on in its own session
        server.start()
        with server.client() as c:
            assert c.get(f"/api/v1/runs/{second}").json()["status"] == "queued"
            release(server, first)
            status(c, first, "succeeded")  # reported by the launcher to the new server
            status(c, second, "running")
            release(server, second)
            status(c, second, "succeeded")


@pytest.mark.parametrize("bad", ["no_command", "unknown_placeholder", "bad_default"])
def test_a_bad_templates_file_stops_the_server_with_one_line(tmp_path: Path, bad: str) -> None:
    import subprocess
    import sys

    bodies = {
        "no_command": "[templates.t]\ndescription = 'x'\n",
        "unknown_placeholder": "[templates.t]\ncommand = ['python', '{lr}']\n",
        "bad_default": "[templates.t]\ncommand = ['python', '{n}']\n"
        "[templates.t.params.n]\ntype = 'int'\nmax = 3\ndefault = 9\n",
    }
    path = tmp_path / "t.toml"
    path.write_text(bodies[bad])
    out = subprocess.run(
        [sys.executable, "-m", "runwatch", "serve", "--port", "0", "--data", str(tmp_path / "d"),
         "--templates", str(path)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 1
    assert out.stderr.startswith("runwatch: error: ") and "template 't'" in out.stderr
    assert "Traceback" not in out.stderr


def test_no_templates_file_means_no_templates(app_server: InProcessServer) -> None:
    with app_server.client() as c:
        assert c.get("/api/v1/templates").json()["templates"] == []
        r = c.post("/api/v1/templates/train/runs", json={})
        assert r.status_code == 404


def test_submission_needs_admin(tmp_path: Path) -> None:
    from runwatch.tokens import create, with_store

    data = tmp_path / "data"
    write = create(data, "write", None, None, "w")[0]
    admin = create(data, "admin", None, None, "a")[0]
    server = serve_templates(tmp_path)
    with running(server):
        for token, expected in ((None, 401), (write, 403)):
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            r = httpx.post(f"{server.url}/api/v1/templates/train/runs", headers=headers,
                           json={"params": {"data": "mnist.csv"}})  # fmt: skip
            assert r.status_code == expected
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {admin}"}) as c:
            run_id = submit(c).json()["id"]
            # The launcher reports with a write token minted for it, revoked when it exits.
            status(c, run_id, "running")
            release(server, run_id)
            status(c, run_id, "succeeded")

            def revoked() -> list[object]:
                tokens = with_store(data, lambda s: s.list_tokens())
                name = f"launcher of run {run_id}"
                return [t for t in tokens if t.name == name and t.revoked_at]

            wait_until(revoked, 20, what="the launcher's token to be revoked")


def test_fuzzed_submissions_get_201_or_a_clear_4xx_and_never_a_5xx(tmp_path: Path) -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    names = st.sampled_from(["lr", "epochs", "model", "data", "note", "exit", "other"])
    scalars = st.one_of(
        st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.text(max_size=60),
        st.floats(allow_nan=False, allow_infinity=False),
        st.sampled_from(["mnist.csv", "../secret.txt", "escape", "-x", "cnn", "$(id)", 10**400]),
    )  # fmt: skip
    values = st.one_of(scalars, st.lists(scalars, max_size=3), st.dictionaries(names, scalars))
    # The queue is paused: nothing is ever launched.
    with templates_in_process(tmp_path, max_concurrent=0) as server, server.client() as c:

        @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
        @given(st.dictionaries(names, values, max_size=7))
        def check(params: dict[str, Any]) -> None:
            r = c.post("/api/v1/templates/train/runs", json={"params": params})
            assert r.status_code in (201, 400, 422), r.text
            if r.status_code != 201:
                error = r.json()["error"]
                assert error["field"] and error["message"]

        check()
    assert not (server.data_dir / "runs").exists()
