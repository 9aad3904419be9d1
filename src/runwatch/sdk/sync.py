"""``runwatch sync``: upload spools written while the server was unreachable.

Each batch is sent again under its original ``(producer, batch_seq)``, so whatever the server
already has is stored once: syncing twice, or syncing what the live sender already delivered,
adds nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import msgspec

from runwatch.sdk.spool import read_batches, read_header
from runwatch.sdk.transport import Reply, Transport

_encode = msgspec.json.encode


class SyncError(RuntimeError):
    """A spool the server would not take; the message says why."""


class SyncResult(msgspec.Struct):
    run_id: str
    batches: int = 0
    duplicates: int = 0


def find_spools(paths: Iterable[Path]) -> list[Path]:
    """Spool files named directly, or found under run directories."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(path.rglob("spool-*.jsonl"))
        elif path.is_file():
            found.append(path)
        else:
            raise SyncError(f"{path} does not exist")
    return found


def sync_spool(
    path: Path, transport: Transport, progress: Callable[[int], None] = lambda n: None
) -> SyncResult:
    """Create the spool's run if needed, then send each of its batches; ``progress(bytes)``."""
    header = read_header(path)
    run_id = header["run"]["id"]
    result = SyncResult(run_id)
    _check(transport.post("/api/v1/runs", _encode(header["run"])), path, "create the run")
    for batch in read_batches(path):
        batch["producer"] = header["producer"]
        reply = transport.post(f"/api/v1/runs/{run_id}/batches", _encode(batch))
        _check(reply, path, f"send batch {batch['batch_seq']}")
        result.batches += 1
        result.duplicates += bool(reply.body and reply.body.get("duplicate"))
        progress(len(_encode(batch)))
    return result


def _check(reply: Reply, path: Path, what: str) -> None:
    if reply.status == 0:
        raise SyncError(f"could not {what} for {path}: the server is unreachable")
    if not 200 <= reply.status < 300:
        raise SyncError(f"could not {what} for {path}: HTTP {reply.status} {reply.body}")
