"""A sweep trial that the server's hyperband stopped reads "stopped early" (the reason as the
pill's title) in the runs list and in its run page's header, live, in a real Chromium; its
status stays ``cancelled`` for the filters, and a run cancelled otherwise still reads so."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.servers import ServerProcess

pytestmark = pytest.mark.e2e

SWEEP = {
    "method": "grid",
    "project": "hb",
    "metric": {"name": "loss", "goal": "minimize"},
    "early_terminate": {"type": "hyperband", "min_iter": 2, "eta": 3},  # the first rung at 2
    "parameters": {"x": {"values": [1, 2, 3]}},
}


def batch(api: httpx.Client, run_id: str, seq: int, **body: Any) -> None:
    answer = api.post(
        f"/api/v1/runs/{run_id}/batches", json={"producer": "t", "batch_seq": seq, **body}
    )
    assert answer.is_success, answer.text


def losses(api: httpx.Client, run_id: str, loss: float) -> None:
    """Three steps of ``loss``: past the rung at step 2, so the server judges the trial."""
    batch(api, run_id, 1, points=[[step, 1.0, {"loss": loss}] for step in range(3)])


def cancel(api: httpx.Client, run_id: str, error: str) -> None:
    batch(api, run_id, 2, status={"state": "cancelled", "ts": 2.0, "error": error})


def test_a_trial_stopped_early_reads_so_in_the_runs_list_and_its_header(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    sweep_id = api.post("/api/v1/sweeps", json=SWEEP).json()["id"]
    ids = []
    for _ in range(3):
        claimed = api.post(f"/api/v1/sweeps/{sweep_id}/next", json={"agent": "a"}).json()
        ids.append(claimed["trial"]["run_id"])
    good, bad, other = ids
    for run_id in ids:
        assert api.post("/api/v1/runs", json={"project": "hb", "id": run_id}).is_success
    losses(api, good, 1.0)

    # The run page is open before the verdict: the early_stop event tells the header why.
    page.goto(f"{server.url}/runs/{bad}")
    pill = page.locator("#run-status")
    expect(pill).to_have_text("running")
    losses(api, bad, 10.0)
    expect(page.locator(".event[data-kind='early_stop']")).to_have_count(1)
    (event,) = api.get(f"/api/v1/runs/{bad}/events", params={"kind": "early_stop"}).json()["events"]
    reason = event["payload"]["message"]
    assert reason.startswith("stopped early by hyperband")
    expect(pill).to_have_text("running")  # judged, not ended yet
    cancel(api, bad, reason)
    expect(pill).to_have_text("stopped early")
    expect(pill).to_have_attribute("title", reason)
    expect(pill).to_have_attribute("data-status", "cancelled")
    page.reload()  # hydrated: the reason comes with the run
    expect(pill).to_have_text("stopped early")
    expect(pill).to_have_attribute("title", reason)

    page.goto(f"{server.url}/?project=hb")

    def status_of(run_id: str) -> Any:
        return page.locator(f"tr.run-row[data-run-id='{run_id}'] .col-status .pill")

    expect(status_of(bad)).to_have_text("stopped early")
    expect(status_of(bad)).to_have_attribute("title", reason)
    expect(status_of(good)).to_have_text("running")
    expect(status_of(other)).to_have_text("running")
    # A trial cancelled by a person, live: it reads cancelled, with no reason of early stop.
    cancel(api, other, "by hand")
    expect(status_of(other)).to_have_text("cancelled")
    assert status_of(other).get_attribute("title") is None
    # The status filter knows both as cancelled.
    page.goto(f"{server.url}/?project=hb&status=cancelled")
    expect(page.locator("tr.run-row[data-run-id]")).to_have_count(2)
    expect(status_of(bad)).to_have_text("stopped early")
    trials = api.get(f"/api/v1/sweeps/{sweep_id}/trials").json()["trials"]
    assert [t["status"] for t in trials] == ["running", "stopped_early", "cancelled"]
    assert page.console_errors == []  # type: ignore[attr-defined]
