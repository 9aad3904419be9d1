"""Helpers for the run page's Logs and Artifacts tabs: real workers under ``runwatch launch``,
SDK runs that write log lines, and probes of the log view."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Locator, Page, expect

from tests.servers import ServerProcess, wait_until

XSS = '<img src=x onerror="window.__xss=1">'
SETTLED = re.compile("live|closed")  # the socket is open, or the run had already ended


class Launch:
    """One ``runwatch launch -- python worker.py`` subprocess against a test server."""

    def __init__(self, server: ServerProcess, tmp_path: Path, body: str, project: str) -> None:
        self.project = project
        self.run_dir = tmp_path / "run"
        script = tmp_path / "worker.py"
        script.write_text(textwrap.dedent(body))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNWATCH_", "WANDB_"))}
        env.update(RUNWATCH_URL=server.url, WANDB_MODE="offline", WANDB_SILENT="true")
        args = [sys.executable, "-m", "runwatch", "launch", "--project", project,
                "--run-dir", str(self.run_dir), "--", sys.executable, str(script)]  # fmt: skip
        self.proc = subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )

    def run(self, client: httpx.Client) -> dict[str, Any]:
        """The launched run, once the server has it."""
        runs = wait_until(
            lambda: client.get("/api/v1/runs", params={"project": self.project}).json()["runs"],
            30,
            what="the launched run",
        )
        run: dict[str, Any] = runs[0]
        return run

    def wait(self, timeout: float = 120) -> int:
        """Wait for the launcher to exit (the worker ended and the run was reported)."""
        _, err = self.proc.communicate(timeout=timeout)
        assert self.proc.returncode is not None, err
        return self.proc.returncode

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate(timeout=30)


def finished(client: httpx.Client, run_id: str) -> dict[str, Any]:
    """The run's info once it has ended."""
    info: dict[str, Any] = wait_until(
        lambda: (r := client.get(f"/api/v1/runs/{run_id}").json())["ended_at"] and r,
        30,
        what="the run to end",
    )
    return info


def open_tab(page: Page, server: ServerProcess, run_id: str, tab: str) -> None:
    """Open the run page on ``tab`` (from the address's hash) and wait for the socket."""
    page.goto(f"{server.url}/runs/{run_id}#{tab}")
    expect(page.locator(f"#tab-{tab}")).to_have_attribute("aria-selected", "true")
    expect(page.locator("#conn")).to_have_attribute("data-state", SETTLED)


def log_rows(page: Page) -> Locator:
    return page.locator("#logs-view .log-line")


def visible_texts(page: Page) -> list[str]:
    texts: list[str] = page.locator(
        "#logs-view .log-line:not([hidden]) .log-text"
    ).all_text_contents()
    return texts


def line_numbers(page: Page) -> list[int]:
    numbers: list[int] = log_rows(page).evaluate_all("rows => rows.map(r => +r.dataset.line)")
    return numbers


def scroll_gap(page: Page) -> float:
    """How far the log view is from its end, in pixels (0: showing the newest line)."""
    gap: float = page.locator("#logs-view .logs-scroll").evaluate(
        "s => s.scrollHeight - s.scrollTop - s.clientHeight"
    )
    return gap


def settled_scroll_top(page: Page) -> float:
    """The log view's scrollTop once a (smooth) scroll has come to rest: unchanged for five
    animation frames in a row."""
    top: float = page.locator("#logs-view .logs-scroll").evaluate(
        """s => new Promise((resolve) => {
            let last = -1;
            let same = 0;
            const tick = () => {
                if (s.scrollTop === last) same += 1;
                else [last, same] = [s.scrollTop, 0];
                if (same >= 5) resolve(last);
                else requestAnimationFrame(tick);
            };
            tick();
        })"""
    )
    return top
