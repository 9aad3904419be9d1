"""The New-run form in real Chromium with checked choices and uploads: a choice the server cannot
offer is disabled, "(install required)"; a file is uploaded from the form, listed first in the
one picker (uploads above the template's samples), picked, and the queued run gets its path;
an upload past the cap is refused with the cap named."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from runwatch.server.uploads import MAX_UPLOAD_BYTES
from tests.server.test_template_checks import write
from tests.servers import ServerProcess

pytestmark = pytest.mark.e2e


@pytest.fixture
def form_server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A server with the checked templates; its queue paused (nothing is launched)."""
    args = ["--templates", str(write(tmp_path)), "--max-concurrent", "0"]
    server = ServerProcess(tmp_path / "data", extra_args=args).start()
    yield server
    server.stop()


def test_unavailable_choices_are_disabled_and_an_upload_is_picked(
    page: Page, form_server: ServerProcess, tmp_path: Path
) -> None:
    page.goto(f"{form_server.url}/new")
    model = page.locator("#param-model option")
    expect(model).to_have_text(
        ["choose…", "linear", "torchy", "missing-module (install required)",
         "missing-path (install required)"]
    )  # fmt: skip
    assert model.evaluate_all("os => os.map(o => o.disabled)") == [False, False, False, True, True]

    data = page.locator("#param-data")
    expect(data.locator('optgroup[label="Samples"] option')).to_have_text(["iris.csv"])
    expect(data.locator('optgroup[label="Uploaded"] option')).to_have_count(0)

    local = tmp_path / "my data.csv"
    local.write_text("x,y\n3,4\n")
    page.locator("#upload-data").set_input_files(str(local))
    expect(page.locator(".upload-status")).to_have_text("Uploaded my_data.csv.")
    expect(data.locator('optgroup[label="Uploaded"] option')).to_have_text(["my_data.csv"])
    expect(data).to_have_value("@uploads/my_data.csv")  # picked once stored
    # One picker: the uploads first, the template's samples below.
    labels = data.locator("optgroup").evaluate_all("gs => gs.map(g => g.label)")
    assert labels == ["Uploaded", "Samples"]

    # Too large: refused with the cap named, next to the field; nothing is added.
    big = tmp_path / "big.bin"
    with big.open("wb") as f:
        f.truncate(MAX_UPLOAD_BYTES + 1)
    page.locator("#upload-data").set_input_files(str(big))
    expect(page.locator("#error-data")).to_contain_text(f"at most {MAX_UPLOAD_BYTES:,} bytes")
    expect(data.locator('optgroup[label="Uploaded"] option')).to_have_count(1)

    page.locator("#param-model").select_option(label="torchy")
    page.locator("#submit-run").click()
    page.wait_for_url(f"{form_server.url}/runs/**")
    run_id = page.url.rsplit("/", 1)[1]
    with httpx.Client(base_url=form_server.url) as c:
        run = c.get(f"/api/v1/runs/{run_id}").json()
    uploaded = (form_server.data_dir / "uploads" / "my_data.csv").resolve()
    assert run["config"] == {"model": "torchy", "data": "@uploads/my_data.csv"}
    assert run["snapshot"]["argv"][-1] == str(uploaded)
    assert uploaded.read_text() == "x,y\n3,4\n"
    # The 413 is the form's answer (shown by the field); the browser logs the failed request.
    assert all("413" in e for e in page.console_errors)  # type: ignore[attr-defined]
