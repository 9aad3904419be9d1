"""The runs table's "Queue again" in real Chromium: the best run of the current sort (or of the
checked runs) opens the New-run form with its template and parameters, and queuing it makes a
queued run with that config; a run not queued from a template prefills the parameters named
like its config keys, as text."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.helpers import create_run
from tests.queue.setup import running, serve_templates, status, submit
from tests.servers import ServerProcess

pytestmark = pytest.mark.e2e
XSS = '<img src=x onerror="window.__xss=1">'


@pytest.fixture
def queue_server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A server with the test templates and one slot; its launchers are killed afterwards."""
    with running(serve_templates(tmp_path)) as server:
        yield server


@pytest.fixture
def c(queue_server: ServerProcess) -> Iterator[httpx.Client]:
    with queue_server.client() as client:
        yield client


def queued(c: httpx.Client, **params: Any) -> dict[str, Any]:
    response = submit(c, **params)
    assert response.status_code == 201, response.text
    run: dict[str, Any] = response.json()
    return run


def open_table(page: Page, server: ServerProcess, query: str) -> None:
    page.goto(f"{server.url}/{query}")
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    expect(page.locator("#runs-body tr.run-row[data-run-id]").first).to_be_visible()
    expect(page.locator("#queue-again")).to_be_enabled()


def queue_from_form(page: Page, server: ServerProcess, c: httpx.Client) -> dict[str, Any]:
    """Submit the form; the new run's info, through the API."""
    page.locator("#submit-run").click()
    page.wait_for_url(lambda url: "/runs/" in url)
    run: dict[str, Any] = c.get(f"/api/v1/runs/{page.url.rsplit('/', 1)[1]}").json()
    return run


def test_the_best_run_of_the_sort_is_queued_again_with_its_template_and_parameters(
    page: Page, queue_server: ServerProcess, c: httpx.Client
) -> None:
    blocker = queued(c, note="blocker")  # holds the only slot: the others stay queued
    status(c, blocker["id"], "running")
    best = queued(c, lr=0.2, epochs=7, model="resnet", data="sub/cifar.csv", note="original")
    other = queued(c, lr=0.05, model="cnn", note="other")
    open_table(page, queue_server, "?project=automl&sort=-config.lr&col=config.lr")
    expect(page.locator("#runs-body tr.run-row").first).to_have_attribute("data-run-id", best["id"])

    page.select_option("#queue-again", "best")
    page.wait_for_url(f"{queue_server.url}/new?from={best['id']}")
    expect(page.locator("#template-select")).to_have_value("train")
    expect(page.locator("#param-lr")).to_have_value("0.2")
    expect(page.locator("#param-epochs")).to_have_value("7")
    expect(page.locator("#param-model")).to_have_value("2")  # resnet
    expect(page.locator("#param-data")).to_have_value("sub/cifar.csv")
    expect(page.locator("#param-note")).to_have_value("original")
    expect(page.locator("#run-project")).to_have_value("automl")
    expect(page.locator("#prefill-note")).to_have_text(
        f"Prefilled from run {best['name']} ({best['id']}), queued from template train: "
        "review and queue."
    )
    again = queue_from_form(page, queue_server, c)
    assert again["id"] not in (best["id"], blocker["id"])
    assert again["status"] == "queued"
    assert again["config"] == best["config"]
    assert again["snapshot"]["template"] == "train"
    assert again["snapshot"]["params"] == best["snapshot"]["params"]

    # The best of the checked runs, in the table's sort: lr 0.05 beats the blocker's 0.001.
    open_table(page, queue_server, "?project=automl&sort=-config.lr&col=config.lr")
    for run in (blocker, other):
        page.locator(f'#runs-body tr[data-run-id="{run["id"]}"] input.run-select').check()
    expect(page.locator('#queue-again option[value="selected"]')).to_have_text(
        "the best of the 2 checked runs"
    )
    page.select_option("#queue-again", "selected")
    page.wait_for_url(f"{queue_server.url}/new?from={other['id']}")
    expect(page.locator("#param-lr")).to_have_value("0.05")
    expect(page.locator("#param-model")).to_have_value("1")  # cnn
    assert page.console_errors == []


def test_a_run_not_from_a_template_prefills_the_parameters_named_like_its_config_keys(
    page: Page, queue_server: ServerProcess, c: httpx.Client
) -> None:
    blocker = queued(c, note="blocker")
    status(c, blocker["id"], "running")
    config = {"lr": 0.3, "model": "cnn", "note": XSS, "epochs": 12, "unused": 1}
    made = create_run(c, "automl", "by-hand", config=config)
    open_table(page, queue_server, "?project=automl")
    expect(page.locator('#queue-again option[value="selected"]')).to_be_disabled()
    page.locator(f'#runs-body tr[data-run-id="{made["id"]}"] input.run-select').check()
    expect(page.locator('#queue-again option[value="selected"]')).to_have_text("the checked run")
    page.select_option("#queue-again", "selected")
    page.wait_for_url(f"{queue_server.url}/new?from={made['id']}")
    expect(page.locator("#template-select")).to_have_value("train")
    expect(page.locator("#prefill-note")).to_have_text(
        f"run by-hand ({made['id']}) was not queued from a template: pick a template; "
        "parameters named like its config keys are filled from it (lr, epochs, model, note)."
    )
    expect(page.locator("#param-lr")).to_have_value("0.3")
    expect(page.locator("#param-epochs")).to_have_value("12")
    expect(page.locator("#param-model")).to_have_value("1")
    expect(page.locator("#param-note")).to_have_value(XSS)  # a value, as text
    expect(page.locator("#param-data")).to_have_value("")  # no config key names it
    assert page.locator("#new-run-form img").count() == 0
    assert page.evaluate("() => window.__xss") is None

    page.locator("#param-note").fill("fixed")
    page.locator("#param-data").select_option("mnist.csv")
    again = queue_from_form(page, queue_server, c)
    assert again["status"] == "queued"
    assert again["config"] == {
        "lr": 0.3,
        "epochs": 12,
        "model": "cnn",
        "data": "mnist.csv",
        "note": "fixed",
        "exit": 0,
    }
    assert page.console_errors == []
