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
batch on every later sync); the caller says so in one line, and the sync fails.

Images: each batch's blobs are uploaded before it, several to a request as the live sender
uploads them (:mod:`runwatch.sdk.uploads`), from the producer's ``blobs/<producer>/`` (then
``blobs/``, where older producers kept them). A blob a live producer already deleted
belongs to a batch the server acknowledged after the ``.acked`` offset was read: that batch is
posted anyway and answered as a duplicate (the server finds a stored batch before its images).
Once a spool is delivered whole and its producer is gone (crashed, or finished), its blob
directory is deleted; so are the files in ``blobs/`` itself that no unacknowledged batch names
(:func:`runwatch.sdk.blobs.remove_legacy`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import msgspec

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
from runwatch.sdk.uploads import Blob, GroupSize, refused_blob, upload_request

_decode = msgspec.json.decode


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
) -> SyncResult:
    """Create the spool's run if needed, then send each batch not yet acknowledged;
    ``progress(bytes)``. Records how far the server acknowledged, so a second sync sends
    nothing. Deletes the producer's blobs afterwards when it is gone. Holds the spool's
    :func:`acked_lock` throughout: while another sync holds it, ``on_busy()`` and wait."""
    with acked_lock(path, on_busy):
        return _sync_spool(path, transport, progress)


def _sync_spool(path: Path, transport: Transport, progress: Callable[[int], None]) -> SyncResult:
    header = read_header(path)
    run_id = header["run"]["id"]
    refusals = Refusals(refused_path(path, header["producer"]))
    result = SyncResult(run_id, refusals=refusals)
    # Told before the spool is read: a producer gone by then appends nothing after it.
    gone = writer_gone(path)
    blob_dirs = [producer_dir(path.parent, header["producer"]), path.parent / "blobs"]
    start = read_acked(path)
    created = False
    uploaded: set[str] = set()
    group_size = GroupSize()
    for end, body in spooled_bodies(path, start):
        if not created:
            _create(transport, header["run"], path)
            created = True
        missing = _upload_blobs(path, run_id, body, blob_dirs, transport, uploaded, group_size)
        reply = transport.post(f"/api/v1/runs/{run_id}/batches", body)
        if reply.error_code == "blob_missing" and missing:
            raise SyncError(f"the image blob {missing[0]} of {path} is missing from {blob_dirs[0]}")
        if reply.error_code == "run_finished" and result.ended:
            # A version 1 spool could hold a warning queued after its own final status.
            result.after_final += 1
            continue
        if refused_for_good(reply) and reply.error_code not in ("run_not_found", "blob_missing"):
            refusals.add(body, reply)
        else:
            if not 200 <= reply.status < 300:
                _check(reply, path, f" batch {_decode(body).get('batch_seq')}")
            result.batches += 1
        result.ended = result.ended or (header["spool"] == 1 and "status" in _decode(body))
        result.duplicates += bool(isinstance(reply.body, dict) and reply.body.get("duplicate"))
        progress(len(body))
        if header["spool"] != 1:
            advance_acked(path, end)
    if gone:
        remove_dir(blob_dirs[0])
    remove_legacy(path.parent)
    return result


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


def _upload_blobs(
    spool: Path,
    run_id: str,
    body: bytes,
    blob_dirs: list[Path],
    transport: Transport,
    done: set[str],
    group_size: GroupSize,
) -> list[str]:
    """Upload the blobs a batch names before the batch, each once per sync (uploading again is
    harmless: stored once), as many to a request as ``group_size`` takes; return those found
    nowhere. Read as they go up: one group in memory at a time."""
    missing: list[str] = []
    group: list[Blob] = []
    held = 0
    for sha256, mime in dict.fromkeys(named_in(body)):
        if sha256 in done:
            continue
        blob = read_blob(blob_dirs, sha256, mime)
        if blob is None:
            missing.append(sha256)
            continue
        if not group_size.takes(len(group), held, len(blob)):
            _upload_group(spool, run_id, group, transport, done, group_size)
            group, held = [], 0
        group.append((sha256, mime, blob))
        held += len(blob)
    _upload_group(spool, run_id, group, transport, done, group_size)
    return missing


def _upload_group(
    spool: Path,
    run_id: str,
    blobs: list[Blob],
    transport: Transport,
    done: set[str],
    group_size: GroupSize,
) -> None:
    """Upload ``blobs``, fewer to a request when ``group_size`` says so; a refusal is a
    :class:`SyncError` naming the blob (the one the server named, or the first)."""
    while blobs:
        group = blobs[: group_size.now]
        reply = transport.send(*upload_request(run_id, group))
        if group_size.answered(reply, len(group)):
            continue
        _check(reply, spool, f" image blob {group[refused_blob(reply, len(group)) or 0][0]}")
        done.update(sha256 for sha256, _, _ in group)
        blobs = blobs[len(group) :]


def _check(reply: Reply, path: Path, what: str) -> None:
    action = f"send{what}" if what else "create the run"
    if reply.status == 0:
        raise SyncError(f"could not {action} for {path}: the server is unreachable")
    if not 200 <= reply.status < 300:
        raise SyncError(f"could not {action} for {path}: HTTP {reply.status} {reply.body}")
