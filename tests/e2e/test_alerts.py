"""Watch rules end to end: a real SDK producer, a real server, a real webhook receiver on
loopback and real Chromium showing the run's feed and the project's Alerts page."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

import runwatch
from tests.e2e.widgets import open_run
from tests.rules.receiver import ALLOW_LOOPBACK, WebhookReceiver
from tests.servers import ServerProcess, wait_until

pytestmark = pytest.mark.e2e


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A server whose webhooks may reach the receiver on loopback (the operator allows it)."""
    proc = ServerProcess(tmp_path / "data", extra_args=ALLOW_LOOPBACK).start()
    yield proc
    proc.stop()


class DivergingLoop:
    """A training loop on its own thread: finite loss until ``diverge`` is set, NaN after;
    leaves the loop when ``should_stop`` turns true and finishes the run."""

    def __init__(self, server: ServerProcess, run_dir: Path) -> None:
        self.run = runwatch.init(project="watch", name="diverges", url=server.url, run_dir=run_dir)
        self.diverge = threading.Event()
        self.stopped = False
        self.first_nan_step: int | None = None
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        step = 0
        while not self.run.should_stop and step < 100_000:
            if self.diverge.is_set() and self.first_nan_step is None:
                self.first_nan_step = step
            loss = math.nan if self.first_nan_step is not None else 1.0 / (step + 1)
            self.run.log({"loss": loss, "acc": step / 100_000}, step=step)
            step += 1
            time.sleep(0.005)  # a training step's pacing, not synchronisation
        self.stopped = self.run.should_stop
        self.run.finish()

    def start(self) -> DivergingLoop:
        self._thread.start()
        return self

    def join(self) -> None:
        self._thread.join(20)


def test_a_nan_rule_alerts_once_posts_the_webhook_and_cancels_the_producer(
    page: Page, server: ServerProcess, api: httpx.Client, tmp_path: Path
) -> None:
    with WebhookReceiver(200) as hook:
        rule = {
            "name": "loss diverged",
            "condition": {"type": "nonfinite", "key": "loss"},
            "actions": [
                {"type": "event", "level": "error"},
                {"type": "webhook", "url": hook.url},
                {"type": "cancel"},
            ],
        }
        created = api.post("/api/v1/projects/watch/rules", json=rule)
        assert created.status_code == 201, created.text
        listed = api.get("/api/v1/projects/watch/rules")
        assert "secret-part" not in created.text and "secret-part" not in listed.text
        assert listed.json()["rules"][0]["actions"][1] == {
            "type": "webhook",
            "url": "http://127.0.0.1/…",
        }

        loop = DivergingLoop(server, tmp_path / "run").start()
        try:
            open_run(page, server, loop.run.id)
            expect(page.locator("#alerts-link")).to_have_attribute("href", "/alerts?project=watch")
            alerts_page = page.context.new_page()
            alerts_page.goto(f"{server.url}/alerts?project=watch")
            expect(alerts_page.locator("#conn")).to_have_attribute("data-state", "live")
            expect(alerts_page.locator("#rules .rule")).to_have_count(1)
            expect(alerts_page.locator("#alerts-empty")).to_be_visible()

            loop.diverge.set()
            loop.join()
            assert loop.stopped, "the producer never saw should_stop"
            step = loop.first_nan_step

            alert_row = page.locator('#event-feed .event[data-kind="alert"]')
            expect(alert_row).to_have_count(1)
            expect(alert_row).to_contain_text(f"loss is nan at step {step}")
            expect(alert_row).to_have_attribute("data-level", "error")
            live_row = alerts_page.locator("#alerts .alert-row")
            expect(live_row).to_have_count(1)
            expect(live_row.locator(".alert-message")).to_have_text(f"loss is nan at step {step}")
            actions = live_row.locator(".alert-action")
            expect(actions.nth(0)).to_have_text("event (error): done")
            expect(actions.nth(1)).to_have_text("webhook http://127.0.0.1/…: delivered")
            expect(actions.nth(2)).to_have_text("cancel: done")
            # Narrow, the run's name stays on one line, whole (never broken inside a word).
            alerts_page.set_viewport_size({"width": 600, "height": 900})
            link = live_row.locator(".run-link")
            expect(link).to_have_attribute("title", "diverges")
            lines = "a => { const r = document.createRange(); r.selectNodeContents(a);"
            assert link.evaluate(lines + " return r.getClientRects().length; }") == 1
        finally:
            loop.diverge.set()
            loop.join()

        info = api.get(f"/api/v1/runs/{loop.run.id}").json()
        assert info["status"] == "cancelled"
        wait_until(lambda: hook.bodies, 10, what="the webhook POST")
        alerts = api.get("/api/v1/projects/watch/alerts").json()["alerts"]
        assert len(alerts) == 1 and alerts[0]["detail"]["step"] == step
        assert len(hook.bodies) == 1  # NaN after NaN is one episode: one alert, one POST
        assert hook.bodies[0]["content"].endswith(f"loss is nan at step {step}")
        assert hook.paths == ["/services/T000/B000/secret-part"]
    assert "secret-part" not in server.log_path.read_text()
    assert page.console_errors == []


def test_rules_are_created_and_deleted_from_the_alerts_page(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    api.post("/api/v1/runs", json={"project": "ui"})
    page.goto(f"{server.url}/alerts?project=ui")
    expect(page.locator("#rules-empty")).to_be_visible()
    form = page.locator("#rule-form")
    form.locator('[name="name"]').fill("<b>too high</b>")
    form.locator('[name="type"]').select_option("threshold")
    expect(form.locator('[data-field="steps"]')).to_be_hidden()
    form.locator('[name="key"]').fill("loss")
    form.locator('[name="value"]').fill("10")
    form.locator('[name="points"]').fill("3")
    form.locator('[name="webhook"]').fill("https://hooks.example.com/services/SECRET")
    form.locator('button[type="submit"]').click()

    rule = page.locator("#rules .rule")
    expect(rule).to_have_count(1)
    expect(rule.locator(".rule-name")).to_have_text("<b>too high</b>")  # as text, not HTML
    expect(rule.locator(".rule-what")).to_have_text("loss above 10 for 3 points")
    expect(rule.locator(".rule-does")).to_have_text(
        "event (warning) · webhook https://hooks.example.com/…"
    )
    stored = api.get("/api/v1/projects/ui/rules").json()["rules"]
    assert stored[0]["condition"] == {
        "type": "threshold", "key": "loss", "op": "above", "value": 10.0, "points": 3,
    }  # fmt: skip

    form.locator('[name="name"]').fill("no key")
    form.locator('[name="type"]').select_option("plateau")
    form.locator('[name="key"]').fill("loss")
    form.locator('button[type="submit"]').click()  # neither steps nor minutes: refused
    expect(page.locator("#rule-error")).to_contain_text("a plateau needs `steps` or `minutes`")
    expect(rule).to_have_count(1)

    rule.locator(".rule-delete").click()
    expect(page.locator("#rules .rule")).to_have_count(0)
    assert api.get("/api/v1/projects/ui/rules").json()["rules"] == []
    # The browser logs the refused POST itself; nothing else may have gone wrong.
    assert [e for e in page.console_errors if "400 (Bad Request)" not in e] == []


def test_a_rule_of_the_rules_file_offers_no_delete(page: Page, tmp_path: Path) -> None:
    """A rules file's rule is removed from the file (the API refuses it): the page offers
    Delete on the page's own rules only."""
    from tests.rules.test_rules_api import NAN_RULE, write_rules

    rules = write_rules(tmp_path / "rules.toml", 10)
    server = ServerProcess(tmp_path / "data", extra_args=["--rules", str(rules)]).start()
    try:
        with server.client() as api:
            api.post("/api/v1/projects/mnist/rules", json=NAN_RULE).raise_for_status()
        page.goto(f"{server.url}/alerts?project=mnist")
        rules_listed = page.locator("#rules .rule")
        expect(rules_listed).to_have_count(3)
        expect(rules_listed.locator(".rule-delete:visible")).to_have_count(1)
        expect(rules_listed.filter(has_text="from the rules file")).to_have_count(2)
        for i in range(2):
            expect(rules_listed.nth(i).locator(".rule-delete")).to_be_hidden()
        expect(rules_listed.nth(2).locator(".rule-delete")).to_be_visible()
    finally:
        server.stop()
    assert page.console_errors == []


def test_the_alerts_page_opens_the_only_project_and_lines_up_its_form(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    """With one project there is nothing to choose: /alerts follows it. The form's labels stand
    on one line and the cancel checkbox sits beside its words (a 1,000 px window)."""
    api.post("/api/v1/runs", json={"project": "only"})
    page.set_viewport_size({"width": 1000, "height": 800})
    page.goto(f"{server.url}/alerts")
    expect(page).to_have_url(f"{server.url}/alerts?project=only")
    expect(page.locator("#project-select")).to_have_value("only")
    expect(page.locator("#rules-empty")).to_be_visible()
    expect(page.locator("#conn")).to_contain_text("live")
    form = page.locator("#rule-form")
    expect(form.locator('[name="name"]')).to_be_visible()
    tops = {
        name: form.locator(f'[data-field="{name}"] .field-label').bounding_box()
        for name in ("name", "type", "key", "level")
    }
    assert len({round(box["y"]) for box in tops.values() if box}) == 1, tops
    box = form.locator('[name="cancel"]').bounding_box()
    words = form.locator(".rule-cancel").bounding_box()
    assert box and words and words["height"] < 2 * box["height"] + 8  # one line, not two
