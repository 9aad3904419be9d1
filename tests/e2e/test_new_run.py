"""The New-run form and the queue in real Chromium: fields from typed parameters, client and
server messages next to each field, queued → running → succeeded live, waiting, cancel, re-run."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.queue.setup import release, running, serve_templates, status, submit
from tests.servers import ServerProcess

pytestmark = pytest.mark.e2e


@pytest.fixture
def queue_server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A server with the test templates, one slot; its launchers are killed afterwards."""
    with running(serve_templates(tmp_path)) as server:
        yield server


@pytest.fixture
def c(queue_server: ServerProcess) -> Iterator[httpx.Client]:
    with queue_server.client() as client:
        yield client


def blocker(server: ServerProcess, c: httpx.Client) -> str:
    """A run that holds the only slot until released."""
    run_id: str = submit(c, note="blocker").json()["id"]
    status(c, run_id, "running")
    return run_id


def open_form(page: Page, server: ServerProcess) -> None:
    page.goto(f"{server.url}/?project=automl")
    link = page.locator("#new-run-link")
    expect(link).to_be_visible()  # shown because the server declares templates
    link.click()
    expect(page).to_have_url(f"{server.url}/new?project=automl")
    expect(page.locator("#template-select")).to_have_value("train")


def fill(page: Page, lr: str = "0.01", note: str = "from the form") -> None:
    page.locator("#param-lr").fill(lr)
    page.locator("#param-model").select_option(label="cnn")
    page.locator("#param-data").select_option("sub/cifar.csv")
    page.locator("#param-note").fill(note)


def test_a_run_from_the_form_waits_its_turn_then_runs_and_succeeds_live(
    page: Page, queue_server: ServerProcess, c: httpx.Client
) -> None:
    first = blocker(queue_server, c)
    open_form(page, queue_server)
    # Fields come from the parameter types: bounds, choices, the data dir's files, defaults.
    expect(page.locator("#param-lr")).to_have_attribute("type", "number")
    expect(page.locator("#param-lr")).to_have_attribute("max", "1")
    expect(page.locator("#param-epochs")).to_have_value("3")
    expect(page.locator("#param-model option")).to_have_text(["choose…", "mlp", "cnn", "resnet"])
    expect(page.locator("#param-data option")).to_have_text(
        ["choose a file…", "mnist.csv", "sub/cifar.csv"]
    )
    fill(page)
    page.locator("#submit-run").click()
    page.wait_for_url(f"{queue_server.url}/runs/**")
    run_id = page.url.rsplit("/", 1)[1]
    pill = page.locator("#run-status")
    expect(pill).to_have_text("queued")  # the only slot is taken
    expect(page.locator('#request-snapshot dd[data-field="template"]')).to_have_text("train")
    expect(page.locator('#request-snapshot dd[data-field="parameters"]')).to_contain_text(
        "note=from the form"
    )
    release(queue_server, first)
    expect(pill).to_have_text("running", timeout=20_000)
    release(queue_server, run_id)
    expect(pill).to_have_text("succeeded", timeout=20_000)
    run = c.get(f"/api/v1/runs/{run_id}").json()
    assert run["config"]["lr"] == 0.01 and run["config"]["data"] == "sub/cifar.csv"
    assert page.console_errors == []


def test_a_queued_run_is_cancelled_from_its_page_and_never_starts(
    page: Page, queue_server: ServerProcess, c: httpx.Client
) -> None:
    first = blocker(queue_server, c)
    open_form(page, queue_server)
    fill(page, note="never runs")
    page.locator("#submit-run").click()
    page.wait_for_url(f"{queue_server.url}/runs/**")
    run_id = page.url.rsplit("/", 1)[1]
    expect(page.locator("#run-status")).to_have_text("queued")
    page.locator("#cancel-run").click()
    page.locator("#cancel-confirm").click()
    expect(page.locator("#run-status")).to_have_text("cancelled")
    release(queue_server, first)
    status(c, first, "succeeded")
    later = submit(c, note="after").json()["id"]  # the next one gets the slot, not the cancelled
    status(c, later, "running")
    release(queue_server, later)
    status(c, later, "succeeded")
    assert c.get(f"/api/v1/runs/{run_id}").json()["started_at"] is None
    assert not (queue_server.data_dir / "runs" / run_id).exists()


def test_a_queued_run_shows_its_wait_and_a_start_only_once_it_runs(
    page: Page, queue_server: ServerProcess, c: httpx.Client
) -> None:
    first = blocker(queue_server, c)
    waiting = submit(c, note="waits").json()["id"]
    page.goto(f"{queue_server.url}/runs/{waiting}")
    expect(page.locator("#run-status")).to_have_text("queued")
    meta = page.locator("#run-meta")
    expect(meta.locator('[data-meta="queued for"] dd')).to_have_text(re.compile(r"^\d+s$"))
    expect(meta.locator('[data-meta="started"]')).to_be_hidden()
    expect(meta.locator('[data-meta="duration"]')).to_be_hidden()

    release(queue_server, first)  # the slot frees: the queue launches it, live
    expect(page.locator("#run-status")).to_have_text("running", timeout=20_000)
    expect(meta.locator('[data-meta="started"]')).to_be_visible()
    expect(meta.locator('[data-meta="duration"] dd')).to_have_text(re.compile(r"^\d+s$"))
    expect(meta.locator('[data-meta="queued for"]')).to_be_hidden()

    # One cancelled while queued (the slot is taken) never started either.
    cancelled = submit(c, note="cancelled").json()["id"]
    assert c.post(f"/api/v1/runs/{cancelled}/commands", json={"kind": "cancel"}).is_success
    status(c, cancelled, "cancelled")
    release(queue_server, waiting)
    page.goto(f"{queue_server.url}/runs/{cancelled}")
    expect(page.locator("#run-status")).to_have_text("cancelled")
    expect(meta.locator('[data-meta="queued for"] dd')).to_have_text(re.compile(r"^\d+s$"))
    expect(meta.locator('[data-meta="started"]')).to_be_hidden()
    expect(meta.locator('[data-meta="duration"]')).to_be_hidden()
    assert page.console_errors == []


def test_messages_appear_next_to_each_field_from_the_client_and_the_server(
    page: Page, queue_server: ServerProcess, c: httpx.Client, tmp_path: Path
) -> None:
    open_form(page, queue_server)
    fill(page, lr="5", note="--config=/etc/passwd")
    page.locator("#param-epochs").fill("2.5")
    page.locator("#submit-run").click()
    expect(page.locator("#error-lr")).to_have_text("must be at most 1")
    expect(page.locator("#error-epochs")).to_have_text("must be a whole number")
    expect(page.locator("#error-note")).to_contain_text("must not start with '-'")
    expect(page.locator("#error-model")).to_have_text("")
    assert page.url.endswith("/new?project=automl")
    # The file is gone by the time the form is sent: only the server can tell.
    (tmp_path / "ops" / "datasets" / "sub" / "cifar.csv").unlink()
    fill(page, lr="0.5", note="fine")
    page.locator("#param-epochs").fill("4")
    page.locator("#submit-run").click()
    expect(page.locator("#error-data")).to_have_text("no file 'sub/cifar.csv' in the data dir")
    expect(page.locator("#error-lr")).to_have_text("")
    assert c.get("/api/v1/runs").json()["runs"] == []
    assert page.console_errors == [] or all("422" in e for e in page.console_errors)


def test_rerun_with_the_same_parameters_and_promotion_keeps_them(
    page: Page, queue_server: ServerProcess, c: httpx.Client
) -> None:
    first = submit(c, lr=0.2, model="resnet", note="original").json()["id"]
    status(c, first, "running")
    release(queue_server, first)
    done = status(c, first, "succeeded")
    page.goto(f"{queue_server.url}/runs/{first}")
    expect(page.locator("#env-panel")).to_have_attribute("open", "")
    button = page.locator("#rerun-button")
    expect(button).to_have_text("Re-run with these parameters")
    button.click()
    page.wait_for_url(lambda url: "/runs/" in url and not url.endswith(first))
    second = page.url.rsplit("/", 1)[1]
    expect(page.locator("#run-status")).to_have_text("running", timeout=20_000)
    again = c.get(f"/api/v1/runs/{second}").json()
    assert again["config"] == done["config"] and again["snapshot"]["template"] == "train"
    release(queue_server, second)
    expect(page.locator("#run-status")).to_have_text("succeeded", timeout=20_000)
    promoted = c.post(f"/api/v1/runs/{first}/promote", json={"name": "best"}).json()
    assert promoted["detail"]["template"] == "train"
    assert promoted["detail"]["params"] == done["config"]


FLAG = "must not start with '-' (it could be read as a flag)"


CHECKS = [
    ({"type": "int", "min": 1, "max": 9}, "3", {"value": 3}),
    ({"type": "int", "min": 1, "max": 9}, "0", {"error": "must be at least 1"}),
    ({"type": "int"}, "2.5", {"error": "must be a whole number"}),
    ({"type": "float", "max": 1}, "1e-3", {"value": 0.001}),
    ({"type": "float"}, "", {"error": "a value is required"}),
    ({"type": "choice", "choices": ["a", 2]}, "1", {"value": 2}),
    ({"type": "string", "pattern": "[a-z]+"}, "abc", {"value": "abc"}),
    ({"type": "string", "pattern": "[a-z]+"}, "ab c", {"error": "must match the pattern [a-z]+"}),
    ({"type": "string", "pattern": ".*"}, "-x", {"error": FLAG}),
    ({"type": "string", "allow_leading_dash": True}, "-1", {"value": "-1"}),
    ({"type": "string", "max_length": 3}, "abcd", {"error": "must be at most 3 characters"}),
    ({"type": "string"}, "a\nb", {"error": "must not contain control characters"}),
    ({"type": "string", "pattern": "[a-z]*"}, "", {"value": ""}),
    # A pattern JavaScript cannot compile is left to the server.
    ({"type": "string", "pattern": "(?P<x>a)"}, "zzz", {"value": "zzz"}),
]


def test_client_checks_say_what_the_server_says(page: Page, queue_server: ServerProcess) -> None:
    page.goto(f"{queue_server.url}/new")
    for param, raw, expected in CHECKS:
        got = page.evaluate(
            "async ([p, raw]) => (await import('/static/js/new-run-form.js')).checkValue(p, raw)",
            [{"name": "x", **param}, raw],
        )
        assert got == expected, (param, raw)
