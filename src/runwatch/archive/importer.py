"""Restoring an archive into a server through its public API (so a remote server works too).

The run is created with its own id and given its archived times and commands (admin calls);
everything else travels in ordinary batches from one
producer (``archive-import``) numbered from 1, in the archive's order, and the final status is
the last batch (a finished run takes no more data). An import that stops halfway (a damaged
archive, a refused batch, Ctrl-C) leaves the run ``failed`` with the reason as its error. An
image's bytes are checked against their SHA-256 as their record is read, then uploaded several
to a request as the SDK uploads them (:class:`runwatch.sdk.uploads.GroupUploader`: up to 64
blobs and 4 MiB a ``POST …/blobs``, one ``PUT`` a blob for a server that predates it), always
before the batch that names them. A blob the server refuses stops the import naming it. A run
id the server already has is refused: an import never mixes into an existing run.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import quote

import msgspec

from runwatch.archive.client import ApiClient, ApiError
from runwatch.archive.exporter import (
    COMMAND_FIELDS,
    FORMAT,
    HISTOGRAM_FIELDS,
    MEDIA_FIELDS,
    READABLE,
    VERSION,
    Record,
)
from runwatch.protocol import FINAL_STATUSES
from runwatch.sdk.uploads import MAX_GROUP_BLOBS, GroupUploader, UploadError

PRODUCER = "archive-import"
BATCH_ITEMS = 5_000  # items per batch: under the server's 10,000 events and 10,000 keys per batch
BATCH_BYTES = 4 * 1024 * 1024  # and well under its 16 MiB body cap
# The server's caps per batch (max_media_per_batch, max_histograms_per_batch).
FIELD_CAPS = {"media": 1_000, "histograms": 1_000}
POINT_SET_CAP = 4_000  # the server's default cap: a bigger set is sent with its own size as cap
Progress = Callable[[int], None]


class ArchiveError(ValueError):
    """The archive is not one runwatch can import; the message says what is wrong."""


class _Batcher:
    """Groups archive content into batches and posts each one (acked after commit), after the
    image blobs gathered for it (``uploads``)."""

    def __init__(
        self, client: ApiClient, run_path: str, progress: Progress | None, uploads: GroupUploader
    ) -> None:
        self.client = client
        self.path = f"{run_path}/batches"
        self.progress = progress
        self.uploads = uploads
        self.seq = 0
        self.batch: dict[str, list[Any]] = {}
        self.items = self.bytes = 0

    def add(self, field: str, item: Any, size: int = 1) -> None:
        self.batch.setdefault(field, []).append(item)
        self.items += size
        self.bytes += len(msgspec.json.encode(item)) if field != "points" else 48
        full = len(self.batch[field]) >= FIELD_CAPS.get(field, BATCH_ITEMS)
        if full or self.items >= BATCH_ITEMS or self.bytes >= BATCH_BYTES:
            self.flush()

    def flush(self, **extra: Any) -> None:
        _upload(self.uploads.flush)  # the blobs the batch may name go first
        if not self.batch and not extra:
            return
        self.seq += 1
        body = {"producer": PRODUCER, "batch_seq": self.seq, **self.batch, **extra}
        self.client.post(self.path, msgspec.json.encode(body))
        if self.progress is not None:
            self.progress(self.items)
        self.discard()

    def discard(self) -> None:
        """Drop what is gathered and not yet sent, blobs too."""
        self.batch, self.items, self.bytes = {}, 0, 0
        self.uploads.discard()


def _upload(step: Callable[[], None]) -> None:
    """An upload step of the import; a blob the server would not take is an :class:`ApiError`
    naming it (after the rest of its group is stored)."""
    try:
        step()
    except UploadError as exc:
        reply = exc.reply
        code = reply.error_code or "http_error"
        why = reply.error_message if reply.error_code else str(reply.body)[:200]
        raise ApiError(reply.status, code, f"image blob {exc.sha256}: {why}") from None


def import_run(
    client: ApiClient,
    records: Iterable[Record],
    progress: Progress | None = None,
    group_blobs: int = MAX_GROUP_BLOBS,
) -> str:
    """Create the archived run on the server and send everything; return the run id.
    ``group_blobs``: image blobs one upload request carries at most (1: one ``PUT`` each)."""
    stream = iter(records)
    head = next(stream, None)
    if not head or head.get("type") != "archive" or head.get("format") != FORMAT:
        raise ArchiveError("not a runwatch archive (its first record must be the archive header)")
    if head.get("version") not in READABLE:
        raise ArchiveError(
            f"archive version {head.get('version')} is newer than {VERSION}: upgrade runwatch"
        )
    run = next(stream, None)
    if not run or run.get("type") != "run":
        raise ArchiveError("the archive has no run record after its header")
    run_path = f"/api/v1/runs/{quote(str(run['id']), safe='')}"
    if client.exists(run_path):
        raise ArchiveError(f"run {run['id']} already exists on {client.base}; nothing imported")
    spec = {k: run[k] for k in ("id", "project", "name", "group", "tags", "config", "snapshot")}
    client.post("/api/v1/runs", msgspec.json.encode({**spec, "heartbeat": run["heartbeat"]}))
    uploads = GroupUploader(client.send, quote(str(run["id"]), safe=""), group_blobs)
    batcher = _Batcher(client, run_path, progress, uploads)
    try:
        _send(client, run_path, run, stream, batcher)
    except (Exception, KeyboardInterrupt) as error:
        _stop(batcher, error)
        raise
    return str(run["id"])


def _send(
    client: ApiClient, run_path: str, run: Record, stream: Iterable[Record], batcher: _Batcher
) -> None:
    """Everything after the run's creation: its times, content, commands and final status."""
    times = {"created_at": run["created_at"], "started_at": run["started_at"]}
    client.put(f"{run_path}/times", msgspec.json.encode(times))
    commands: list[Record] = []
    for record in stream:
        if record.get("type") == "command":
            commands.append({k: record[k] for k in COMMAND_FIELDS})
        elif record.get("type") == "blob":
            _add_blob(batcher.uploads, record)
        else:
            _add(batcher, record, run)
    batcher.flush()
    if commands:
        client.put(f"{run_path}/commands", msgspec.json.encode({"commands": commands}))
    # The last batch: vitals, and the final status (after it the run takes no more data).
    last: dict[str, Any] = {"vitals": run["vitals"]} if run.get("vitals") else {}
    if run["status"] in FINAL_STATUSES:
        ended = run["ended_at"] if run["ended_at"] is not None else time.time()
        last["status"] = {
            "state": run["status"], "ts": ended, "error": run["error"], "exit_code": run["exit_code"]
        }  # fmt: skip
    batcher.flush(**last)


def _stop(batcher: _Batcher, error: BaseException) -> None:
    """An import that stopped halfway leaves its run ``failed``, saying why, so the half-made
    run is plain in the runs list rather than looking like a run still going. Best effort: a
    server that cannot be reached keeps the run as it was, and the import's own error stands."""
    batcher.discard()
    reason = "interrupted" if isinstance(error, KeyboardInterrupt) else str(error)
    status = {"state": "failed", "ts": time.time(), "error": f"import stopped: {reason}"}
    with contextlib.suppress(Exception):
        batcher.flush(status=status)


def _add_blob(uploads: GroupUploader, record: Record) -> None:
    """Check a blob's bytes against its SHA-256, then gather them for upload (idempotent on
    the server), which may upload the group gathered before them."""
    sha = str(record["sha256"])
    try:
        data = base64.b64decode(record["data"], validate=True)
    except (binascii.Error, TypeError):
        raise ArchiveError(f"blob {sha} in the archive is not base64; import stopped") from None
    actual = hashlib.sha256(data).hexdigest()
    if actual != sha:
        raise ArchiveError(
            f"blob {sha} in the archive does not match its bytes (their SHA-256 is {actual}):"
            " the archive is damaged; import stopped"
        )
    _upload(lambda: uploads.add(sha, str(record["mime"]), data))


def _add(batcher: _Batcher, record: Record, run: Record) -> None:
    kind = record.get("type")
    if kind == "points":
        key = record["key"]
        for step, ts, value in record["points"]:
            batcher.add("points", [step, ts, {key: value}])
    elif kind == "texts":
        # A text's own step and time are not kept (the summary holds only the text).
        batcher.add("texts", [0, run["created_at"], record["texts"]], len(record["texts"]))
    elif kind == "event":
        keys = ("kind", "ts", "level", "entity", "payload", "entities", "step")
        batcher.add("events", {k: record[k] for k in keys if k in record})
    elif kind == "table":
        batcher.add("tables", {"name": record["name"], "rows": record["rows"]}, len(record["rows"]))
    elif kind == "point_set":
        points = record["points"]
        item: dict[str, Any] = {"name": record["name"], "points": points, "replace": True}
        if len(points) > POINT_SET_CAP:
            item["cap"] = len(points)
        batcher.add("point_sets", item, len(points))
    elif kind == "snapshot":
        batcher.add("snapshots", {k: record[k] for k in ("key", "step", "ts", "value")})
    elif kind == "log":
        batcher.add("logs", {k: record[k] for k in ("stream", "ts", "text")})
    elif kind == "artifacts":
        batcher.add("manifests", record["manifest"])
    elif kind == "media":
        batcher.add("media", {"key": record["key"], **{k: record[k] for k in MEDIA_FIELDS}})
    elif kind == "histogram":
        item = {"key": record["key"], **{k: record[k] for k in HISTOGRAM_FIELDS}}
        batcher.add("histograms", item)
    else:
        raise ArchiveError(f"unknown archive record type {kind!r}")
