"""``runwatch runs``: the runs a server has, as a Rich table."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from runwatch.archive.client import ApiClient
from runwatch.terminal.render import number, printable, run_time, status_text, when

SUMMARY_KEYS = 3  # latest values shown per run (the first keys, alphabetically)


def runs_table(runs: list[dict[str, Any]], now: float | None = None) -> Table:
    """One row per run, newest first: id, name, project, status, started, duration, latest values."""
    now = time.time() if now is None else now
    table = Table("id", "name", "project", "status", "started", "duration", "latest")
    for run in sorted(runs, key=lambda r: r["created_at"], reverse=True):
        summary = run.get("summary") or {}
        latest = ", ".join(f"{k}={number(summary[k])}" for k in sorted(summary)[:SUMMARY_KEYS])
        table.add_row(
            run["id"],
            Text(printable(run["name"])),  # user text: never markup, never control codes
            Text(printable(run["project"])),
            status_text(run),
            when(run.get("started_at")),
            run_time(run, now),
            Text(printable(latest)),
        )
    return table


def show_runs(
    url: str | None, token: str | None, project: str | None, status: str | None, console: Console
) -> int:
    """Print the table; return how many runs it shows."""
    with ApiClient(url, token) as client:
        runs = client.get("/api/v1/runs", project=project, status=status)["runs"]
    if not runs:
        console.print("no runs" + (f" in project {project}" if project else ""))
        return 0
    console.print(runs_table(runs))
    return len(runs)
