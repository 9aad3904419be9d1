"""Pure formatting for the terminal views: sparklines, durations, times, status styles."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Sequence
from typing import Any

from rich.text import Text

BLOCKS = "▁▂▃▄▅▆▇█"
STATUS_STYLE = {
    "running": "bold green",
    "queued": "cyan",
    "succeeded": "green",
    "failed": "bold red",
    "crashed": "red",
    "cancelled": "yellow",
}


# C0 and C1 controls (ESC starts terminal escape sequences), DEL, and the bidi overrides that
# reorder what a terminal shows.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def status_text(run: dict[str, Any]) -> Text:
    """The run's status in its style, and the records its producers lost, if any: a run that
    succeeded with a loss must not read as whole."""
    text = Text(str(run["status"]), style=STATUS_STYLE.get(run["status"], ""))
    lost = run.get("lost")
    if isinstance(lost, int) and lost > 0:
        text.append(f" ⚠ {lost:,} lost", style="bold red")
    return text


def printable(value: object) -> str:
    """User text made harmless for a terminal: each control character is shown as its escape
    (``\\x1b``), never sent to the terminal as it is."""
    return _CONTROL.sub(_escaped, str(value))


def sparkline(values: Sequence[float | str | None], width: int = 40) -> str:
    """The last ``width`` values as block characters scaled to their min..max; a NaN, ±inf or
    missing value is a space (a gap, as in the charts)."""
    numbers = [_finite(v) for v in values[-width:]]
    finite = [v for v in numbers if v is not None]
    if not finite:
        return " " * len(numbers)
    low, high = min(finite), max(finite)
    span = high - low
    out = []
    for v in numbers:
        if v is None:
            out.append(" ")
        else:
            level = 0 if span == 0 else round((v - low) / span * (len(BLOCKS) - 1))
            out.append(BLOCKS[level])
    return "".join(out)


def _finite(value: float | str | None) -> float | None:
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None


def number(value: object) -> str:
    """A metric value in at most ~10 characters; wire strings (nan, inf) as they are."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if value == 0 or 1e-3 <= abs(value) < 1e6:
        return f"{value:.6g}"
    return f"{value:.3e}"


def duration(seconds: float | None) -> str:
    """``1h02m``, ``3m05s``, ``42s``; empty when unknown."""
    if seconds is None or seconds < 0:
        return ""
    s = int(seconds)
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s}s"


def run_time(run: dict[str, Any], now: float) -> str:
    """How long ``run`` has run (until it ended, or ``now``); for one that never started (queued,
    or cancelled while queued) its wait, as ``queued for 6s``."""
    end = run.get("ended_at") or now
    started = run.get("started_at")
    if started is None:
        return f"queued for {duration(end - run['created_at'])}"
    return duration(end - started)


def when(ts: float | None) -> str:
    """A local date and time, or empty."""
    return "" if ts is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))
