"""The New-sweep page (/new-sweep, from the runs list's "New sweep") in a real Chromium against
a real server: a form builds W&B's sweep configuration, a refused parameter shows the server's
message naming its key, a created sweep shows its id, the agent command and a link to its
page; a run template's parameters pre-fill the rows."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Locator, Page, expect

from tests.queue.setup import running, serve_templates
from tests.servers import ServerProcess

pytestmark = pytest.mark.e2e
NAME = "<i>lr</i> & layers"


def row(page: Page, i: int) -> Locator:
    return page.locator(".sweep-param-row").nth(i)


def test_a_sweep_made_in_the_form_is_created_and_a_bad_bound_is_named(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    page.goto(f"{server.url}/?project=ns")
    link = page.locator("#new-sweep-link")
    expect(link).to_be_visible()
    expect(link).to_have_attribute("href", "/new-sweep?project=ns")
    link.click()
    page.wait_for_url("**/new-sweep?project=ns")
    expect(page.locator("#sweep-project")).to_have_value("ns")
    page.locator("#sweep-name").fill(NAME)
    page.locator("#sweep-method").select_option("grid")
    page.locator("#metric-name").fill("acc")
    page.locator("#metric-goal").select_option("maximize")
    row(page, 0).locator(".param-name").fill("layers")
    row(page, 0).locator(".param-values").fill("1, 2, 4")
    page.locator("#add-param").click()
    row(page, 1).locator(".param-name").fill("lr")
    row(page, 1).locator(".param-kind").select_option("distribution")
    row(page, 1).locator(".param-distribution").select_option("int_uniform")
    row(page, 1).locator(".param-min").fill("5")
    row(page, 1).locator(".param-max").fill("3")
    page.locator("#create-sweep").click()
    expect(page.locator("#form-error")).to_have_text("$.parameters.lr.max: is below min (3 < 5)")

    row(page, 1).locator(".param-max").fill("6")
    page.locator("#create-sweep").click()
    created = page.locator("#created")
    expect(created).to_be_visible()
    sweep_id = page.locator("#created-id").text_content() or ""
    sweep = api.get(f"/api/v1/sweeps/{sweep_id}").json()
    assert sweep["spec"] == {
        "method": "grid",
        "project": "ns",
        "name": NAME,
        "metric": {"name": "acc", "goal": "maximize"},
        "parameters": {
            "layers": {"values": [1, 2, 4]},
            "lr": {"distribution": "int_uniform", "min": 5, "max": 6},
        },
    }
    assert sweep["trial_limit"] == 6
    expect(page.locator("#created-command")).to_have_text(
        f"runwatch agent {sweep_id} -- python train.py"
    )
    page.locator("#created-link").click()
    page.wait_for_url(f"**/sweep?sweep={sweep_id}")
    expect(page.locator('#sweep-head [data-part="name"]')).to_have_text(NAME)
    expect(page.locator('#sweep-head [data-part="handed"]')).to_have_text(
        "0 of 6 handed out (space)"
    )
    assert page.console_errors == [] or all("422" in e for e in page.console_errors)


@pytest.fixture
def templated(tmp_path: Path) -> Iterator[ServerProcess]:
    with running(serve_templates(tmp_path)) as server:
        yield server


def test_a_run_templates_parameters_prefill_the_rows(page: Page, templated: ServerProcess) -> None:
    page.goto(f"{templated.url}/new-sweep")
    expect(page.locator("#template-row")).to_be_visible()
    page.locator("#template-select").select_option("train")
    expect(page.locator("#sweep-project")).to_have_value("automl")
    names = page.locator(".param-name").evaluate_all("els => els.map(e => e.value)")
    assert names == ["lr", "epochs", "model", "exit"]  # the file and the string are not swept
    page.locator("#sweep-method").select_option("random")
    page.locator("#run-cap").fill("4")
    page.locator("#metric-name").fill("loss")
    page.locator("#create-sweep").click()
    expect(page.locator("#created")).to_be_visible()
    sweep_id = page.locator("#created-id").text_content()
    with templated.client() as api:
        sweep = api.get(f"/api/v1/sweeps/{sweep_id}").json()
    assert sweep["project"] == "automl"
    assert sweep["spec"]["run_cap"] == 4
    assert sweep["spec"]["metric"] == {"name": "loss", "goal": "minimize"}
    assert sweep["spec"]["parameters"] == {
        "lr": {"distribution": "uniform", "min": 1e-5, "max": 1.0},
        "epochs": {"distribution": "int_uniform", "min": 1, "max": 100},
        "model": {"values": ["mlp", "cnn", "resnet"]},
        "exit": {"distribution": "int_uniform", "min": 0, "max": 3},
    }
    assert page.console_errors == []
