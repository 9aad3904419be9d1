"""``runwatch sync``: upload what spools hold and the server has not acknowledged.

Each batch is sent again under its original ``(producer, batch_seq)``, so whatever the server
already has is stored once: syncing twice, or syncing what the live sender already delivered,
adds nothing. A spool starts where its producer (or the last sync) recorded the server's
acknowledgement, and is synced under its ``acked_lock`` (a second sync of it waits; its
producer does not cut it meanwhile); spools that end with their producer's final status go
last, so a run is marked finished only after every producer's data is in. A spool whose run
the server refuses for good (a sweep trial logged offline whose sweep was stopped since, or
whose claim was handed out again) is said in one line and kept; the other spools are synced,
and the sync fails. A batch the server refuses for good (a 4xx other than 401, 403, 408 and 429,
e.g. 409 ``run_finished``: another producer finished the run) is handled as the live sender
handles it: kept in the spool's bounded refused file (:mod:`runwatch.sdk.refused`), its records
counted, and the sync goes on with the next batch (stopping there would hold back every later
batch on every later sync); the caller says so in one line, and the sync fails. The run says so
too, where its user looks (its ``lost`` count): an ``sdk.lost`` event rides in the spool's
final-status batch, or, for a gone producer whose spool has none, goes up in a batch of its own
under the producer name :data:`REPORTER` adds (the producer's own batch numbers may be in use).

Images: each batch's blobs are uploaded before it, several to a request as the live sender
uploads them (:class:`runwatch.sdk.uploads.GroupUploader`), gathered across batches: a batch
waits (in order) until the group holding its images went up, so a spool of one image a batch
still sends them 64 to a request. They are read from the producer's ``blobs/<producer>/`` (then
``blobs/``, where older producers kept them). A blob the server refuses stops the sync naming
it, once the rest of its group is stored and the batches before its own are posted. A blob a
live producer already deleted belongs to a batch the server acknowledged after the ``.acked``
offset was read: that batch is posted anyway and answered as a duplicate (the server finds a
stored batch before its images).
Once a spool is delivered whole and its producer is gone (crashed, or finished), its blob
directory is deleted; so are the files in ``blobs/`` itself that no unacknowledged batch names
(:func:`runwatch.sdk.blobs.remove_legacy`).
"""

from __future__ import annotations

import contextlib
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import msgspec

from runwatch.protocol import PRODUCER_GONE
from runwatch.sdk.blobs import named_in, producer_dir, read_blob, remove_dir, remove_legacy
from runwatch.sdk.refused import Refusals, refused_for_good, refused_path
from runwatch.sdk.sender import REFUSED_FOR_GOOD
from runwatch.sdk.spool import (
    acked_lock,
    advance_acked,
    ends_run,
    read_acked,
    read_header,
    spooled_bodies,
    writer_gone,
)
from runwatch.sdk.transport import Reply, Transport
from runwatch.sdk.uploads import MAX_GROUP_BLOBS, MAX_GROUP_BYTES, GroupUploader, UploadError

_decode = msgspec.json.decode
# Bytes of batches held back past the first while their images gather into a group (as much as
# a group of images: memory stays within two groups, whatever the spool holds).
MAX_WAITING_BYTES = MAX_GROUP_BYTES
# Appended to a gone producer's name for the batch that reports what the server refused of it.
REPORTER = ":sync"


class SyncError(RuntimeError):
    """A spool the server would not take; the message says why."""


class RunRefused(SyncError):
    """The server refused to create the spool's run for good (``REFUSED_FOR_GOOD``: a sweep
    trial that must not run), so the run will never exist. The spool is kept: it is the only
    copy of what was logged, and only its owner knows whether that is still wanted."""


class SyncResult(msgspec.Struct):
    run_id: str
    batches: int = 0
    duplicates: int = 0
    after_final: int = 0  # batches the spool held after its producer's final status
    ended: bool = False
    refusals: Refusals | None = None  # the spool's batches the server refused for good


def refused_line(spool: Path, result: SyncResult) -> str | None:
    """The one line that says a sync's batches refused for good (None: there were none)."""
    refusals = result.refusals
    if refusals is None or not refusals.records:
        return None
    return f"{spool}: run {result.run_id}: {refusals.describe()}"


def find_spools(paths: Iterable[Path]) -> list[Path]:
    """Spool files named directly, or found under run directories; final-status spools last."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(path.rglob("spool-*.jsonl"))
        elif path.is_file():
            found.append(path)
        else:
            raise SyncError(f"{path} does not exist")
    return sorted(found, key=ends_run)  # stable: otherwise in the order given


def sync_spool(
    path: Path,
    transport: Transport,
    progress: Callable[[int], None] = lambda n: None,
    on_busy: Callable[[], None] = lambda: None,
    group_blobs: int = MAX_GROUP_BLOBS,
) -> SyncResult:
    """Create the spool's run if needed, then send each batch not yet acknowledged;
    ``progress(bytes)``. Records how far the server acknowledged, so a second sync sends
    nothing. Deletes the producer's blobs afterwards when it is gone. Holds the spool's
    :func:`acked_lock` throughout: while another sync holds it, ``on_busy()`` and wait.
    ``group_blobs``: image blobs one upload request carries at most (1: one ``PUT`` each)."""
    with acked_lock(path, on_busy):
        return _sync_spool(path, transport, progress, group_blobs)


def _sync_spool(
    path: Path, transport: Transport, progress: Callable[[int], None], group_blobs: int
) -> SyncResult:
    header = read_header(path)
    # Told before the spool is read: a producer gone by then appends nothing after it.
    gone = writer_gone(path)
    delivery = _Delivery(path, header, transport, progress, group_blobs, gone)
    created = False
    for end, body in spooled_bodies(path, read_acked(path)):
        if not created:
            _create(transport, header["run"], path)
            created = True
        delivery.add(end, body)
    delivery.finish()
    if gone:
        remove_dir(delivery.blob_dirs[0])
    remove_legacy(path.parent)
    return delivery.result


class _Waiting(msgspec.Struct):
    """A batch read from the spool and not posted yet: its images are not all uploaded."""

    end: int  # the spool offset after it
    body: bytes
    named: list[str]  # the blobs it names that were found
    missing: list[str]  # those found nowhere


class _Delivery:
    """One spool's batches on their way: each batch's blobs are gathered into the uploader's
    group, across batches, and a batch is posted once its blobs are up, in the spool's order.
    Held back meanwhile: at most :data:`MAX_WAITING_BYTES` of batches past the first (then the
    group goes up as it is) and the group itself."""

    def __init__(
        self,
        path: Path,
        header: dict[str, Any],
        transport: Transport,
        progress: Callable[[int], None],
        group_blobs: int,
        gone: bool,
    ) -> None:
        self.path = path
        # A gone producer's batches are its past, not proof that it lives (PRODUCER_GONE).
        self.headers = {PRODUCER_GONE: "true"} if gone else None
        self.header = header
        self.transport = transport
        self.progress = progress
        self.run_id = header["run"]["id"]
        self.batches_path = f"/api/v1/runs/{self.run_id}/batches"
        self.refusals = Refusals(refused_path(path, header["producer"]))
        self.result = SyncResult(self.run_id, refusals=self.refusals)
        self.blob_dirs = [producer_dir(path.parent, header["producer"]), path.parent / "blobs"]
        self.uploads = GroupUploader(transport.send, self.run_id, group_blobs)
        self.waiting: deque[_Waiting] = deque()
        self.waiting_bytes = 0
        self.gone = gone
        self.reported = 0  # refused records an sdk.lost event on the run counts

    def add(self, end: int, body: bytes) -> None:
        """Gather the batch's blobs (read as they are gathered), then post what is ready."""
        named: list[str] = []
        missing: list[str] = []
        for sha256, mime in dict.fromkeys(named_in(body)):
            if self.uploads.wants(sha256):
                blob = read_blob(self.blob_dirs, sha256, mime)
                if blob is None:
                    missing.append(sha256)
                    continue
                with self._uploading():
                    self.uploads.add(sha256, mime, blob)
            named.append(sha256)
        self.waiting.append(_Waiting(end, body, named, missing))
        self.waiting_bytes += len(body)
        if self.waiting_bytes > MAX_WAITING_BYTES:
            with self._uploading():
                self.uploads.flush()
        self._post_ready()

    def finish(self) -> None:
        """Upload what is gathered and post every batch left."""
        with self._uploading():
            self.uploads.flush()
        self._post_ready()
        if self.gone and self.refusals.records > self.reported:
            # Nothing of the producer's will follow to carry the report.
            wire = {
                "producer": self.header["producer"] + REPORTER,
                "batch_seq": time.time_ns(),  # a later sync's report is another batch
                "points": [],
                "events": [self._loss_event()],
            }
            reply = self.transport.post(self.batches_path, msgspec.json.encode(wire), self.headers)
            _check(reply, self.path, " its loss report")

    def _loss_event(self) -> dict[str, Any]:
        """An ``sdk.lost`` event for the refused records no event reported yet, as the live
        sender writes one."""
        records, self.reported = self.refusals.records - self.reported, self.refusals.records
        payload = {
            "lost": records,
            "refused": 0,
            "rejected": records,
            "spool": str(self.path),
            "reason": f"refused by the server ({self.refusals.reason})",
            "refused_file": str(self.refusals.file),
        }
        return {"kind": "sdk.lost", "ts": time.time(), "level": "error", "payload": payload}

    @contextlib.contextmanager
    def _uploading(self) -> Iterator[None]:
        """A blob the server would not take stops the sync, naming it, once the batches whose
        blobs are all up are posted."""
        try:
            yield
        except UploadError as exc:
            self._post_ready()
            raise _failure(exc.reply, self.path, f" image blob {exc.sha256}") from None

    def _post_ready(self) -> None:
        """Post the oldest waiting batches whose blobs are all uploaded, in order."""
        sent = self.uploads.sent
        while self.waiting and all(sha256 in sent for sha256 in self.waiting[0].named):
            batch = self.waiting.popleft()
            self.waiting_bytes -= len(batch.body)
            self._post(batch)

    def _post(self, batch: _Waiting) -> None:
        body, result = batch.body, self.result
        wire = _decode(body)
        if "status" in wire and self.refusals.records > self.reported:
            # The run's final status is its last chance to take events from this producer.
            wire["events"] = [*wire.get("events", ()), self._loss_event()]
            body = msgspec.json.encode(wire)
        reply = self.transport.post(self.batches_path, body, self.headers)
        if reply.error_code == "blob_missing" and batch.missing:
            raise SyncError(
                f"the image blob {batch.missing[0]} of {self.path} is missing from"
                f" {self.blob_dirs[0]}"
            )
        if reply.error_code == "run_finished" and result.ended:
            # A version 1 spool could hold a warning queued after its own final status.
            result.after_final += 1
            return
        if refused_for_good(reply) and reply.error_code not in ("run_not_found", "blob_missing"):
            self.refusals.add(body, reply)
        else:
            if not 200 <= reply.status < 300:
                _check(reply, self.path, f" batch {wire.get('batch_seq')}")
            result.batches += 1
        result.ended = result.ended or (self.header["spool"] == 1 and "status" in wire)
        result.duplicates += bool(isinstance(reply.body, dict) and reply.body.get("duplicate"))
        self.progress(len(body))
        if self.header["spool"] != 1:
            advance_acked(self.path, batch.end)


def _create(transport: Transport, spec: dict[str, Any], path: Path) -> None:
    """Create the spool's run since its producer's ``started_at`` (a spool written offline keeps
    its real times), or at the server's time when the server finds that clock ahead of its own."""
    reply = transport.post("/api/v1/runs", msgspec.json.encode(spec))
    if reply.start_refused:
        spec = {k: v for k, v in spec.items() if k != "started_at"}
        reply = transport.post("/api/v1/runs", msgspec.json.encode(spec))
    if reply.error_code in REFUSED_FOR_GOOD:
        raise RunRefused(
            f"{path}: the server will not create run {spec['id']}: {reply.error_message}"
            f" ({reply.error_code}); nothing of it was sent, and the spool is kept (delete it"
            " to stop syncing it)"
        )
    _check(reply, path, "")


def _check(reply: Reply, path: Path, what: str) -> None:
    if not 200 <= reply.status < 300:
        raise _failure(reply, path, what)


def _failure(reply: Reply, path: Path, what: str) -> SyncError:
    """The one line that says what a request the server did not take was for, and why."""
    action = f"send{what}" if what else "create the run"
    if reply.status == 0:
        return SyncError(f"could not {action} for {path}: the server is unreachable")
    return SyncError(f"could not {action} for {path}: HTTP {reply.status} {reply.body}")
