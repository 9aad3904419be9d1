"""The New-sweep page (/new-sweep, from the runs list's "New sweep") in a real Chromium against
a real server: a form builds W&B's sweep configuration, a refused parameter shows the server's
message naming its key, a repeated or blank parameter name is named next to its row before
anything is sent, a created sweep shows its id, the agent command and a link to its page; the
defaults with a name and a range make a sweep; a run template's parameters pre-fill the rows."""

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


def fill_rows(page: Page, rows: list[tuple[str, str]]) -> None:
    """Type (name, values) into the form's first rows, adding rows as needed."""
    for i, (name, values) in enumerate(rows):
        if i >= page.locator(".sweep-param-row").count():
            page.locator("#add-param").click()
        row(page, i).locator(".param-name").fill(name)
        row(page, i).locator(".param-values").fill(values)


def test_a_repeated_or_blank_name_is_named_next_to_its_row_and_nothing_is_sent(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    posted: list[str] = []
    page.on("request", lambda r: posted.append(r.url) if r.method == "POST" else None)
    page.goto(f"{server.url}/new-sweep?project=dup")
    fill_rows(page, [("lr", "1, 2"), ("lr", "3, 4"), ("", "5"), ("<b>x</b>", ".5, -.5, 1.2.3")])
    page.locator("#create-sweep").click()
    expect(page.locator("#form-error")).to_have_text(
        "parameter 2: lr is also the name of parameter 1; parameter 3: has no name"
    )
    expect(row(page, 1).locator(".param-error")).to_have_text(
        "parameter 2: lr is also the name of parameter 1"
    )
    expect(row(page, 2).locator(".param-error")).to_have_text("parameter 3: has no name")
    expect(row(page, 0).locator(".param-error")).to_be_hidden()
    expect(row(page, 1)).to_have_attribute("data-invalid", "true")
    expect(page.locator("#created")).to_be_hidden()
    assert posted == []

    fill_rows(page, [("lr", "1, 2"), ("epochs", "3, 4"), ("seed", "5")])
    page.locator("#create-sweep").click()
    expect(page.locator("#created")).to_be_visible()
    assert page.locator(".param-error:visible").count() == 0
    sweep = api.get(f"/api/v1/sweeps/{page.locator('#created-id').text_content()}").json()
    assert sweep["spec"]["parameters"] == {
        "lr": {"values": [1, 2]},
        "epochs": {"values": [3, 4]},
        "seed": {"values": [5]},
        "<b>x</b>": {"values": [0.5, -0.5, "1.2.3"]},
    }
    assert page.console_errors == []


def test_the_defaults_with_a_name_and_a_range_make_a_sweep(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    page.goto(f"{server.url}/new-sweep")
    row(page, 0).locator(".param-name").fill("lr")
    row(page, 0).locator(".param-kind").select_option("distribution")
    row(page, 0).locator(".param-min").fill(".001")
    row(page, 0).locator(".param-max").fill("0.1")
    page.locator("#create-sweep").click()
    expect(page.locator("#created")).to_be_visible()
    sweep = api.get(f"/api/v1/sweeps/{page.locator('#created-id').text_content()}").json()
    assert sweep["spec"] == {
        "method": "random",
        "project": "default",
        "parameters": {"lr": {"distribution": "uniform", "min": 0.001, "max": 0.1}},
    }
    assert page.console_errors == []


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
