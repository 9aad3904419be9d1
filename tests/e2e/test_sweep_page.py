"""A sweep's page (/sweep?sweep=ID) in a real Chromium, its trials run by real `runwatch agent`
processes: the header's counts and the best value so far match the API, a trial finishing
updates them live, the sweep's parameters and metric are the first axes, Pause / Resume /
Stop change the sweep's state (the API agrees, a refusal is shown), a read token gets no
buttons (nor New sweep on the runs list), and user text stays text."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, Route, expect

import runwatch
from runwatch.tokens import create
from tests.e2e.helpers import Producer, create_run, rows
from tests.e2e.parcoords import drag
from tests.servers import ServerProcess, wait_until

pytestmark = pytest.mark.e2e

NAME = "<b>grid</b> of x & y"
SWEEP = {
    "method": "grid",
    "project": "sp",
    "name": NAME,
    "metric": {"name": "score", "goal": "minimize"},
    "parameters": {"x": {"values": [1, 2, 3]}, "y": {"values": [0, 1]}},
}
# A trial: its score from its configuration; with GATE set (a FIFO), it waits until the test
# opens it (ending itself after 60 s should the test not) and then scores below every grid
# point; with FAIL set, it fails before logging anything.
TRIAL = """
import json, os, signal, runwatch
params = json.loads(os.environ["RUNWATCH_SWEEP_PARAMS"])
run = runwatch.init()
if os.environ.get("FAIL"):
    raise SystemExit(3)
gate = os.environ.get("GATE")
if gate:
    signal.alarm(60)
    with open(gate) as through:  # blocks until the test opens the FIFO's other end
        through.read()
    signal.alarm(0)
run.log({"score": -1.0 if gate else params["x"] * 10 + params["y"]})
run.finish()
"""
SOURCES = str(Path(runwatch.__file__).resolve().parents[1])


def agent(
    server: ServerProcess, sweep_id: str, work: Path, count: int, **env: str
) -> subprocess.Popen[str]:
    """A real `runwatch agent` running `count` trials of TRIAL."""
    work.mkdir(parents=True, exist_ok=True)
    (work / "trial.py").write_text(TRIAL)
    clean = {k: v for k, v in os.environ.items() if not k.startswith("RUNWATCH_")}
    clean["PYTHONPATH"] = os.pathsep.join(filter(None, [SOURCES, clean.get("PYTHONPATH")]))
    return subprocess.Popen(
        [sys.executable, "-m", "runwatch", "agent", sweep_id, "--count", str(count), "--",
         sys.executable, "trial.py"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=work,
        env={**clean, **env, "RUNWATCH_URL": server.url},
    )  # fmt: skip


def open_gate(gate: Path) -> bool:
    """Let a trial waiting at the FIFO ``gate`` through; False while none waits there yet."""
    try:
        end = os.open(gate, os.O_WRONLY | os.O_NONBLOCK)  # ENXIO until a reader has it open
    except OSError:
        return False
    os.close(end)
    return True


def done(proc: subprocess.Popen[str]) -> None:
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err[-2000:]


def new_sweep(api: httpx.Client, **changes: Any) -> dict[str, Any]:
    answer = api.post("/api/v1/sweeps", json={**SWEEP, **changes})
    assert answer.status_code == 201, answer.text
    sweep: dict[str, Any] = answer.json()
    return sweep


def counts(page: Page) -> dict[str, int]:
    shown = page.locator(".sweep-count").evaluate_all(
        "items => items.map(i => [i.dataset.status, Number(i.dataset.count)])"
    )
    return {status: n for status, n in shown if n}


def test_counts_and_best_so_far_follow_the_trials_live(
    page: Page, server: ServerProcess, api: httpx.Client, tmp_path: Path
) -> None:
    sweep = new_sweep(api)
    sweep_id = sweep["id"]
    assert sweep["page"] == f"/sweep?sweep={sweep_id}"
    done(agent(server, sweep_id, tmp_path / "a", 3))
    trials = api.get(f"/api/v1/sweeps/{sweep_id}/trials").json()["trials"]
    scores = [t["config"]["x"] * 10 + t["config"]["y"] for t in trials]
    assert len(scores) == 3

    page.goto(f"{server.url}{sweep['page']}")
    head = page.locator("#sweep-head")
    expect(head.locator('[data-part="name"]')).to_have_text(NAME)
    assert head.locator("b").count() == 0
    expect(head.locator('[data-part="id"]')).to_have_text(sweep_id)
    expect(head.locator('[data-part="method"]')).to_have_text("grid")
    expect(head.locator('[data-part="metric"]')).to_have_text("minimize score")
    expect(head.locator('[data-part="state"]')).to_have_text("running")
    expect(head.locator('[data-part="handed"]')).to_have_text("3 of 6 handed out (space)")
    expect(page.locator("#best-chart")).to_have_attribute("data-points", "3")
    expect(page.locator("#best-chart")).to_have_attribute("data-best", str(min(scores)))
    assert counts(page) == {"finished": 3}
    # The sweep's parameters and metric are the first axes, its metric the colour and curves.
    names = page.locator(".axis-chip-name").all_text_contents()
    assert names[:3] == ["config.x", "config.y", "summary.score"]
    expect(page.locator("#colour-field")).to_have_value("summary.score")
    expect(page.locator("#colour-dir")).to_have_attribute("data-dir", "min")
    expect(page.locator("#curve-metric")).to_have_value("score")
    expect(page.locator(".parcoords-canvas")).to_have_attribute("data-drawn", "3")
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")

    # A fourth trial, held at its gate: it is running; once through, it is the best.
    gate = tmp_path / "go"
    os.mkfifo(gate)
    held = agent(server, sweep_id, tmp_path / "b", 1, GATE=str(gate))
    try:
        expect(head.locator('[data-part="handed"]')).to_have_text("4 of 6 handed out (space)")
        wait_until(
            lambda: counts(page) == {"finished": 3, "running": 1}, timeout=30, what="running"
        )
        wait_until(lambda: open_gate(gate), timeout=30, what="the held trial at its gate")
        done(held)
    finally:
        held.kill()
        held.communicate()
    wait_until(lambda: counts(page) == {"finished": 4}, timeout=30, what="4 finished")
    expect(page.locator("#best-chart")).to_have_attribute("data-points", "4")
    expect(page.locator("#best-chart")).to_have_attribute("data-best", "-1")
    assert api.get(f"/api/v1/sweeps/{sweep_id}").json()["trials"] == {"succeeded": 4}
    expect(page.locator(".parcoords-canvas")).to_have_attribute("data-drawn", "4")

    # A failing trial is counted as such; the best stays.
    done(agent(server, sweep_id, tmp_path / "c", 1, FAIL="1"))
    wait_until(lambda: counts(page) == {"finished": 4, "failed": 1}, timeout=30, what="failed")
    expect(page.locator('.sweep-count[data-status="failed"]')).to_have_text("1 failed/crashed")
    expect(page.locator("#best-chart")).to_have_attribute("data-best", "-1")
    assert api.get(f"/api/v1/sweeps/{sweep_id}").json()["trials"] == {"succeeded": 4, "failed": 1}
    assert page.console_errors == []


def test_pause_resume_and_stop_change_the_sweep(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    sweep_id = new_sweep(api)["id"]
    page.goto(f"{server.url}/sweep?sweep={sweep_id}")
    head = page.locator("#sweep-head")
    state = head.locator('[data-part="state"]')
    pause, resume, stop = (head.locator(f'[data-part="{a}"]') for a in ("pause", "resume", "stop"))
    api_state = lambda: api.get(f"/api/v1/sweeps/{sweep_id}").json()["state"]  # noqa: E731
    expect(state).to_have_text("running")
    expect(resume).to_be_hidden()

    # While the POST is on its way (held at the network), the buttons are disabled.
    held: list[Route] = []
    page.route("**/api/v1/sweeps/*/pause", lambda route: held.append(route))
    pause.click()
    # page.evaluate lets playwright deliver the held request to the handler meanwhile.
    wait_until(lambda: bool(held) or page.evaluate("false"), what="the pause request")
    expect(pause).to_be_disabled()
    expect(stop).to_be_disabled()
    held[0].continue_()
    expect(state).to_have_text("paused")
    page.unroute("**/api/v1/sweeps/*/pause")
    assert api_state() == "paused"
    expect(pause).to_be_hidden()
    expect(stop).to_be_enabled()
    resume.click()
    expect(state).to_have_text("running")
    assert api_state() == "running"

    # Stopped elsewhere while the page still offers Pause: the refusal is shown, then the state.
    pause.click()
    expect(state).to_have_text("paused")
    assert api.post(f"/api/v1/sweeps/{sweep_id}/stop").status_code == 200
    resume.click()
    error = head.locator('[data-part="action-error"]')
    expect(error).to_contain_text("resume:")
    expect(error).to_contain_text("stopped")
    expect(state).to_have_text("stopped", timeout=10_000)  # the next read of the sweep
    expect(stop).to_be_hidden()
    expect(resume).to_be_hidden()
    assert all("409" in e for e in page.console_errors), page.console_errors


def test_a_finished_sweep_offers_stop_only_while_a_trial_has_not_ended(
    page: Page, server: ServerProcess, api: httpx.Client, tmp_path: Path
) -> None:
    """Its one point handed out but the trial not started: the page offers Stop, which cancels
    that trial. A finished sweep whose trials all ended offers nothing."""
    sweep_id = new_sweep(api, run_cap=1)["id"]
    claimed = api.post(f"/api/v1/sweeps/{sweep_id}/next", json={"agent": "elsewhere"})
    assert claimed.json()["trial"]["index"] == 0
    page.goto(f"{server.url}/sweep?sweep={sweep_id}")
    head = page.locator("#sweep-head")
    state = head.locator('[data-part="state"]')
    expect(state).to_have_text("finished")
    expect(head.locator('[data-part="pause"]')).to_be_hidden()
    head.locator('[data-part="stop"]').click()
    head.locator('[data-part="stop-yes"]').click()
    expect(state).to_have_text("stopped")
    wait_until(lambda: counts(page) == {"cancelled": 1}, timeout=30, what="cancelled")
    expect(head.locator('[data-part="stop"]')).to_be_hidden()

    ended = new_sweep(api, run_cap=1)["id"]
    done(agent(server, ended, tmp_path / "a", 1))
    page.goto(f"{server.url}/sweep?sweep={ended}")
    expect(state).to_have_text("finished")
    wait_until(lambda: counts(page) == {"finished": 1}, timeout=30, what="1 finished")
    expect(head.locator('[data-part="actions"]')).to_be_visible()
    for action in ("pause", "resume", "stop"):
        expect(head.locator(f'[data-part="{action}"]')).to_be_hidden()
    assert page.console_errors == []


def test_a_log_distributed_parameter_starts_on_log_axes(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    parameters = {
        "lr": {"distribution": "log_uniform_values", "min": 1e-5, "max": 0.1},
        "layers": {"distribution": "int_uniform", "min": 1, "max": 8},
    }
    sweep = new_sweep(api, method="random", parameters=parameters)
    page.goto(f"{server.url}{sweep['page']}")
    chips = page.locator(".axis-chip")
    expect(chips.first.locator(".axis-chip-name")).to_have_text("config.lr")
    scales = {
        chip.locator(".axis-chip-name").inner_text(): chip.locator(".axis-chip-scale").inner_text()
        for chip in chips.all()
    }
    assert scales == {"config.lr": "log", "config.layers": "lin", "summary.score": "lin"}
    expect(page.locator("#scatter-x")).to_have_value("config.lr")
    expect(page.locator("#scatter-x-scale")).to_have_value("log")
    assert page.console_errors == []


def test_an_unnamed_sweep_shows_its_id_once(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    sweep = new_sweep(api, name=None)
    page.goto(f"{server.url}{sweep['page']}")
    title = page.locator("#sweep-head .sweep-title")
    expect(title.locator('[data-part="name"]')).to_have_text(sweep["id"])
    expect(title.locator('[data-part="id"]')).to_be_hidden()
    assert title.inner_text().count(sweep["id"]) == 1
    assert page.console_errors == []


def test_a_sweep_without_a_metric_says_so_once(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    sweep = new_sweep(api, metric=None, method="grid")
    page.goto(f"{server.url}{sweep['page']}")
    expect(page.locator("#best-hint")).to_have_text("the sweep names no metric")
    expect(page.locator("#best-empty")).to_be_hidden()
    assert page.console_errors == []


def test_an_unknown_sweep_is_named_in_the_error(page: Page, server: ServerProcess) -> None:
    page.goto(f"{server.url}/sweep?sweep=nosuch")
    expect(page.locator("#sweep-error")).to_have_text("no sweep with id 'nosuch'")
    expect(page.locator("#sweep-head")).to_be_hidden()
    expect(page.locator("#sweep-filters")).to_have_text("tag sweep:nosuch")


def test_stop_from_the_page_and_a_read_token_gets_no_buttons(page: Page, tmp_path: Path) -> None:
    data = tmp_path / "data"
    admin = create(data, "admin", None, None, "operator")[0]
    read = create(data, "read", None, None, "viewer")[0]
    elsewhere = create(data, "admin", "other", None, "another project's operator")[0]
    server = ServerProcess(data).start()
    try:
        headers = {"Authorization": f"Bearer {admin}"}
        with httpx.Client(base_url=server.url, headers=headers, timeout=10) as api:
            sweep_id = new_sweep(api)["id"]
            page.goto(f"{server.url}/favicon.ico")
            page.evaluate("t => sessionStorage.setItem('runwatch_token', t)", read)
            page.goto(f"{server.url}/sweep?sweep={sweep_id}")
            head = page.locator("#sweep-head")
            expect(head.locator('[data-part="state"]')).to_have_text("running")
            expect(head.locator('[data-part="scope-note"]')).to_have_text(
                "Pausing or stopping a sweep needs the 'write' scope; this token has 'read'."
            )
            expect(head.locator('[data-part="actions"]')).to_be_hidden()
            page.goto(f"{server.url}/")
            expect(page.locator("#conn")).to_have_attribute("data-state", "live")
            expect(page.locator("#new-sweep-link")).to_be_hidden()

            # An operator limited to another project may not see this sweep: the refusal says so.
            page.evaluate("t => sessionStorage.setItem('runwatch_token', t)", elsewhere)
            page.goto(f"{server.url}/sweep?sweep={sweep_id}")
            expect(page.locator("#sweep-error")).to_contain_text("Forbidden: ")
            expect(page.locator("#sweep-error")).to_contain_text("other")
            expect(head).to_be_hidden()
            page.console_errors.clear()  # the refused GET, logged by Chromium

            page.evaluate("t => sessionStorage.setItem('runwatch_token', t)", admin)
            page.reload()
            # Stop is confirmed in place: keeping the sweep sends nothing.
            head.locator('[data-part="stop"]').click()
            expect(head.locator('[data-part="pause"]')).to_be_hidden()
            head.locator('[data-part="stop-keep"]').click()
            expect(head.locator('[data-part="pause"]')).to_be_visible()
            assert api.get(f"/api/v1/sweeps/{sweep_id}").json()["state"] == "running"
            head.locator('[data-part="stop"]').click()
            head.locator('[data-part="stop-yes"]').click()
            expect(head.locator('[data-part="state"]')).to_have_text("stopped")
            assert api.get(f"/api/v1/sweeps/{sweep_id}").json()["state"] == "stopped"
            expect(head.locator('[data-part="actions"] button:visible')).to_have_count(0)
    finally:
        server.stop()
    assert page.console_errors == []


def test_brushes_stay_in_the_url_and_a_reload_brushes_the_same_runs(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    sweep = new_sweep(api)
    for i in range(12):
        config = {"x": 1 + i % 3, "y": i % 2, "opt": ["adam", "sgd"][i // 2 % 2]}
        run = create_run(api, "sp", f"trial-{i}", tags=[f"sweep:{sweep['id']}"], config=config)
        score = config["x"] * 10 + config["y"] + i / 100
        Producer(api, run["id"]).send(rows([0], score=[score]), status={"state": "succeeded"})
    page.goto(f"{server.url}{sweep['page']}")
    canvas = page.locator(".parcoords-canvas")
    expect(canvas).to_have_attribute("data-drawn", "12")
    # An axis the sweep does not start with: the reload adds it back for its brush.
    page.select_option("#axis-add", "config.opt")
    expect(page.locator(".axis-chip", has_text="config.opt")).to_be_visible()
    expect(canvas).to_have_attribute("data-axes", re.compile("config.opt"))
    canvas.scroll_into_view_if_needed()  # below the sweep's header: the mouse drags in view
    drag(page, "summary.score", 0.0, 0.5)
    drag(page, "config.opt", 0.0, 0.3)  # the lower category: "adam"
    query = page.locator("#brush-query").text_content() or ""
    assert query.startswith("summary.score >= ") and query.endswith(' and config.opt == "adam"')
    kept = page.locator("#brushed-count").get_attribute("data-count")
    assert kept and 0 < int(kept) < 12
    expect(page).to_have_url(re.compile(r"&brush=.*&brush="))
    brushed = page.url

    page.reload()
    expect(canvas).to_have_attribute("data-drawn", "12")
    expect(page.locator("#brush-query")).to_have_text(query)
    expect(page.locator("#brushed-count")).to_have_attribute("data-count", kept)
    expect(canvas).to_have_attribute("data-kept", kept)
    expect(page.locator(".axis-chip", has_text="config.opt")).to_be_visible()
    assert page.url == brushed
    # Cleared brushes leave the URL too.
    page.locator("#clear-brushes").click()
    expect(page).to_have_url(f"{server.url}{sweep['page']}")
    expect(page.locator("#brushed-count")).to_have_attribute("data-count", "12")
    assert page.console_errors == []
