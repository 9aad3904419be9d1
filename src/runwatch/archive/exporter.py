"""Reading one run through the HTTP API as archive records (plain dicts with a ``type``).

An archive holds what a run *is*, not what a server assigned it: run meta, config and request
snapshot, every raw point (step, wall time, value) in stored order, events, tables, point sets,
each text key's latest text, snapshot history, log lines, the artifact manifest, the commands
sent to the producer (what was asked, when, and what came of it; the newest 200), every kept
image entry of each image key (oldest first, each blob's bytes once, base64, just before the
first entry naming it) and every kept histogram. Sequence numbers, version and line numbers,
last-update/heartbeat times and the summary's numbers (derived from the points) are left out,
so a run exported, imported elsewhere and exported again gives the same bytes. Status events
are left out too: the final status is in the run record and importing it records it again.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

from runwatch.archive.client import ApiClient
from runwatch.store.media_history import HISTOGRAM_CAP

FORMAT = "runwatch-archive"
VERSION = 4  # 2: command records; 3: blob, media and histogram records; 4: texts records
READABLE = (1, 2, 3, VERSION)  # versions an import reads
COMMAND_FIELDS = ("kind", "payload", "state", "created_at", "updated_at", "error")
MEDIA_FIELDS = (
    "step", "ts", "kind", "sha256", "mime", "width", "height", "caption", "entity", "vmin", "vmax",
)  # fmt: skip
HISTOGRAM_FIELDS = ("step", "ts", "edges", "counts", "nan", "inf", "neg_inf")
POINTS_PER_RECORD = 10_000  # points of one key per ``points`` record (fixed: output is stable)
TEXTS_PER_RECORD = 1_000  # text keys per ``texts`` record (under an import batch's items)
NON_FINITE = frozenset({"nan", "inf", "-inf"})  # how a number that is not finite reads as JSON
PAGE = 20_000
EVENTS_PAGE = 1_000
LOGS_PAGE = 10_000
MEDIA_KEYS_PAGE = 1_000  # the server's largest pages of image keys and of one key's items
MEDIA_PAGE = 1_000
RUN_FIELDS = (
    "id", "project", "name", "group", "tags", "config", "snapshot", "heartbeat",
    "status", "created_at", "started_at", "ended_at", "exit_code", "error", "vitals",
)  # fmt: skip
Record = dict[str, Any]
Progress = Callable[[int], None]


def count_points(client: ApiClient, run_id: str) -> int:
    """How many points the run has (one bucket per key): the export's progress total."""
    body = client.get(f"/api/v1/runs/{run_id}/metrics", max_points=1)
    total = 0
    for series in body["series"].values():
        total += sum(series["count"]) if series.get("count") else len(series["x"])
    return total


def export_run(
    client: ApiClient, run_id: str, progress: Progress | None = None
) -> Iterator[Record]:
    """Yield the run's archive records in their fixed order; ``progress(n)`` counts points."""
    base = f"/api/v1/runs/{quote(run_id, safe='')}"
    run = client.get(base)
    yield {"type": "archive", "format": FORMAT, "version": VERSION}
    yield {"type": "run", **{k: run.get(k) for k in RUN_FIELDS}}
    keys = sorted(client.get(f"{base}/metrics", max_points=1)["series"])
    for key in keys:
        yield from _points(client, base, key, progress)
    yield from _texts(run["summary"], set(keys))
    yield from _events(client, base)
    state = client.get(f"{base}/state")
    for name in sorted(state["tables"]):
        yield {"type": "table", "name": name, "rows": state["tables"][name]["rows"]}
    for name in sorted(state["point_sets"]):
        yield {"type": "point_set", "name": name, "points": state["point_sets"][name]["points"]}
    for key in sorted(state["snapshots"]):
        yield from _snapshots(client, base, key)
    yield from _logs(client, base)
    manifest = client.get(f"{base}/artifacts")["artifacts"]
    if manifest:
        yield {"type": "artifacts", "manifest": manifest}
    for command in reversed(client.get(f"{base}/commands")["commands"]):  # oldest first
        yield {"type": "command", **{k: command[k] for k in COMMAND_FIELDS}}
    yield from _media(client, base)
    yield from _histograms(client, base)


def _points(client: ApiClient, base: str, key: str, progress: Progress | None) -> Iterator[Record]:
    buffer: list[Any] = []
    after = -1
    while after != 0:
        page = client.get(f"{base}/raw/{quote(key, safe='')}", after=max(after, 0), limit=PAGE)
        buffer += page["points"]
        after = page["next"]
        if progress is not None:
            progress(len(page["points"]))
        while len(buffer) >= POINTS_PER_RECORD:
            yield {"type": "points", "key": key, "points": buffer[:POINTS_PER_RECORD]}
            del buffer[:POINTS_PER_RECORD]
    if buffer:
        yield {"type": "points", "key": key, "points": buffer}


def _texts(summary: dict[str, Any], numeric: set[str]) -> Iterator[Record]:
    """Each text key's latest text, in sorted order, after the points (so on import a key's
    text takes its summary slot after its numbers, as it did). A text lives only in the
    summary: its strings, except a non-finite number's wire form on a key with points (that
    one text of a key that also has points, ``"nan"`` and the like, reads as the number)."""
    texts = sorted(
        (key, value)
        for key, value in summary.items()
        if isinstance(value, str) and not (key in numeric and value in NON_FINITE)
    )
    for start in range(0, len(texts), TEXTS_PER_RECORD):
        yield {"type": "texts", "texts": dict(texts[start : start + TEXTS_PER_RECORD])}


def _events(client: ApiClient, base: str) -> Iterator[Record]:
    after = 0
    while True:
        body = client.get(f"{base}/events", after=after, limit=EVENTS_PAGE)
        for e in body["events"]:
            if e["kind"] != "status":
                yield {
                    "type": "event",
                    **{k: e[k] for k in ("ts", "kind", "level", "entity", "payload")},
                    **{k: e[k] for k in ("entities", "step") if k in e},
                }
        if len(body["events"]) < EVENTS_PAGE:
            return
        after = body["next_after"]


def _snapshots(client: ApiClient, base: str, key: str) -> Iterator[Record]:
    path = f"{base}/snapshots/{quote(key, safe='')}"
    for version in client.get(path)["versions"]:
        kept = client.get(path, at=version["version"])["current"]
        fields = {k: kept[k] for k in ("step", "ts", "reason", "value")}
        yield {"type": "snapshot", "key": key, **fields}


def _logs(client: ApiClient, base: str) -> Iterator[Record]:
    after = 0
    while True:
        body = client.get(f"{base}/logs", after=after, limit=LOGS_PAGE)
        for line in body["lines"]:
            yield {"type": "log", "stream": line["stream"], "ts": line["ts"], "text": line["text"]}
        if len(body["lines"]) < LOGS_PAGE:
            return
        after = body["next_after"]


def _media(client: ApiClient, base: str) -> Iterator[Record]:
    """Each image key's kept entries, oldest first; a blob's bytes go once, before the first
    entry naming them, one blob in memory at a time (the set of hashes sent is what grows: at
    most one per kept entry)."""
    sent: set[str] = set()
    after: str | None = ""
    while after is not None:
        page = client.get(f"{base}/media", after=after, limit=MEDIA_KEYS_PAGE)
        for entry in page["keys"]:
            yield from _media_key(client, base, entry["key"], sent)
        after = page["next_after"]


def _media_key(client: ApiClient, base: str, key: str, sent: set[str]) -> Iterator[Record]:
    path = f"{base}/media/{quote(key, safe='')}"
    after: int | None = None  # steps may be negative: the first page has no ``after``
    while True:
        page = client.get(path, after=after, limit=MEDIA_PAGE)
        for item in page["items"]:
            sha = item["sha256"]
            if sha not in sent:
                data = client.get_bytes(f"{base}/blobs/{sha}")
                text = base64.b64encode(data).decode()
                yield {"type": "blob", "sha256": sha, "mime": item["mime"], "data": text}
                sent.add(sha)
            yield {"type": "media", "key": key, **{k: item[k] for k in MEDIA_FIELDS}}
        after = page["next_after"]
        if after is None:
            return


def _histograms(client: ApiClient, base: str) -> Iterator[Record]:
    """Every kept histogram of each key, oldest first: one answer per key, bounded by the
    store's cap of kept steps (``HISTOGRAM_CAP``) times the bins of each."""
    for key in sorted(client.get(f"{base}/histograms")["keys"]):
        path = f"{base}/histograms/{quote(key, safe='')}"
        for step in client.get(path, max_steps=HISTOGRAM_CAP)["steps"]:
            yield {"type": "histogram", "key": key, **{k: step[k] for k in HISTOGRAM_FIELDS}}
