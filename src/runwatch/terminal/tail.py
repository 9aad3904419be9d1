"""``runwatch tail RUN``: a live terminal view of one run (status, latest values with sparklines,
last events), redrawn every ``interval`` seconds until Ctrl-C (or ``frames`` redraws).

Each redraw asks the server for the run (status, latest values), the last points of every key
and only the events after the last one seen, so a long run costs no more per frame than a new
one. On a terminal the view redraws in place; piped, each frame is printed after the previous.
A server that restarts or is briefly unreachable is ridden out as the page does: the last view
stays, marked as reconnecting, and the next redraw tries again.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from runwatch.archive.client import ApiClient, ApiError
from runwatch.terminal.render import (
    number,
    printable,
    run_time,
    sparkline,
    status_text,
    when,
)

EVENTS_SHOWN = 10  # newest events kept and shown (older ones leave the deque)
KEYS_SHOWN = 30  # metric keys shown (alphabetically first; the view must fit a terminal)
SPARK_POINTS = 40


class TailView:
    """The state of one tail: the run, its series tails and a bounded list of recent events."""

    def __init__(self, client: ApiClient, run_id: str) -> None:
        self.client = client
        self.base = f"/api/v1/runs/{quote(run_id, safe='')}"
        self.events: deque[dict[str, Any]] = deque(maxlen=EVENTS_SHOWN)
        state = client.get(f"{self.base}/state")  # once: the newest events without paging
        for event in sorted(state["events"], key=lambda e: e["seq"])[-EVENTS_SHOWN:]:
            self.events.append(event)
        self.after = max((e["seq"] for e in state["events"]), default=state["seq"])
        self.run: dict[str, Any] = state["run"]
        self.series: dict[str, Any] = {}
        self.unreachable: str | None = None  # why the last refresh failed, while it does

    def try_refresh(self) -> None:
        """Refresh, or keep the last view and note why the server could not answer: it is
        restarting (refused connections, a 5xx) and the next frame tries again."""
        try:
            self.refresh()
        except ConnectionError as exc:
            self.unreachable = str(exc)
        except ApiError as exc:
            if exc.status < 500:
                raise
            self.unreachable = str(exc)
        else:
            self.unreachable = None

    def refresh(self) -> None:
        self.run = self.client.get(self.base)
        keys = sorted(self.run.get("summary") or {})[:KEYS_SHOWN]
        if keys:
            body = self.client.get(f"{self.base}/sparklines", keys=",".join(keys), n=SPARK_POINTS)
            self.series = body["series"]
        while True:
            page = self.client.get(f"{self.base}/events", after=self.after, limit=100)
            self.events.extend(page["events"])
            self.after = page["next_after"]
            if len(page["events"]) < 100:
                break

    def render(self, now: float | None = None) -> Group:
        run = self.run
        now = time.time() if now is None else now
        header = Text()
        header.append(printable(run["name"]), style="bold")
        header.append(f"  {printable(run['project'])}  {run['id']}  ")
        header.append_text(status_text(run))
        header.append(f"  {run_time(run, now)}")
        if self.unreachable is not None:
            header.append(f"\nreconnecting: {printable(self.unreachable)}", style="yellow")
        if run.get("error"):
            header.append(f"\n{printable(run['error'].strip().splitlines()[-1])}", style="red")
        values = Table("metric", "latest", "trend", box=None, pad_edge=False)
        summary = run.get("summary") or {}
        for key in sorted(summary)[:KEYS_SHOWN]:
            tail = self.series.get(key, {}).get("value", [])
            values.add_row(
                Text(printable(key)), printable(number(summary[key])), sparkline(tail, SPARK_POINTS)
            )
        events = Table("time", "level", "kind", "entity", "payload", box=None, pad_edge=False)
        for e in self.events:
            payload = ", ".join(f"{k}={v}" for k, v in (e.get("payload") or {}).items())
            entity = "" if e.get("entity") is None else str(e["entity"])
            events.add_row(
                when(e["ts"])[11:],
                e["level"],
                Text(printable(e["kind"])),
                Text(printable(entity)),
                Text(printable(payload[:80])),
            )
        return Group(header, Text(""), values, Text(""), Text("last events", style="bold"), events)


def tail(
    url: str | None,
    token: str | None,
    run_id: str,
    interval: float,
    frames: int | None,
    console: Console,
) -> None:
    """Show the view until Ctrl-C (which ends it cleanly) or ``frames`` redraws."""
    try:
        with ApiClient(url, token) as client:
            view = TailView(client, run_id)
            if console.is_terminal:
                with Live(view.render(), console=console, auto_refresh=False) as live:
                    _loop(
                        view, lambda n: live.update(view.render(), refresh=True), interval, frames
                    )
            else:

                def show(n: int) -> None:
                    console.rule(f"frame {n}")
                    console.print(view.render())
                    console.file.flush()

                _loop(view, show, interval, frames)
    except KeyboardInterrupt:
        console.print("stopped")


def _loop(view: TailView, draw: Callable[[int], None], interval: float, frames: int | None) -> None:
    shown = 0
    while frames is None or shown < frames:
        view.try_refresh()
        shown += 1
        draw(shown)
        if frames is None or shown < frames:
            time.sleep(interval)  # the redraw period, not a synchronisation
