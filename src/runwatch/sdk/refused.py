"""Batches the server refused for good, kept beside the spool for inspection.

A 4xx other than 401, 403, 408 and 429 (e.g. 409 ``run_finished``: another producer finished
the run; 422: a record this server does not take) means the server will never store the batch.
Its records are lost, and counted as such; its body is appended, with the server's answer, to
``refused-<producer>.jsonl`` next to the spool, by the live sender and by ``runwatch sync``
alike. The file is bounded: past :data:`MAX_REFUSED_BYTES` further bodies are not written
(still counted). Each line is ``{"refused": {"status", "code", "message"}, "batch": <body>}``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec

from runwatch.sdk.transport import Reply

MAX_REFUSED_BYTES = 16 * 2**20
RETRYABLE_4XX = frozenset({401, 403, 408, 429})


def refused_for_good(reply: Reply) -> bool:
    """Whether the server will never take what it answered with ``reply``."""
    return 400 <= reply.status < 500 and reply.status not in RETRYABLE_4XX


def refused_path(spool: Path, producer: str) -> Path:
    """The refused file of the spool's producer (``refused-<producer>.jsonl`` beside it)."""
    return spool.parent / f"refused-{producer}.jsonl"


def why(reply: Reply) -> str:
    """The server's reason, as its error code and message (or its status and body)."""
    if reply.error_code is not None:
        return f"{reply.error_code}: {reply.error_message}"
    return f"HTTP {reply.status}: {reply.body}"


def count_records(body: bytes) -> int:
    """Records in a batch as the sender counts them (each item of its lists, and its status),
    but for loss reports (``sdk.lost`` events): the records they count were counted already,
    and a refused report counted as lost would be reported again, and refused again."""
    try:
        wire = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return 0
    if not isinstance(wire, dict):
        return 0
    items = sum(len(v) for v in wire.values() if isinstance(v, list))
    reports = sum(
        1 for e in wire.get("events") or () if isinstance(e, dict) and e.get("kind") == "sdk.lost"
    )
    return items - reports + (1 if wire.get("status") is not None else 0)


class Refusals:
    """The batches of one spool the server refused for good: each kept in ``file`` (within
    its cap), their records counted, the first reason remembered. One per live sender, and one
    per ``runwatch sync`` of a spool."""

    def __init__(self, file: Path) -> None:
        self.file = file
        self.records = 0  # records in refused batches
        self.unkept = 0  # of them, in batches past the file's cap
        self.reason: str | None = None  # the server's, for the first refusal

    def add(self, body: bytes, reply: Reply) -> int:
        """A batch was refused for good: keep and count it; return its records."""
        records = count_records(body)
        if not keep_refused(self.file, body, reply):
            self.unkept += records
        self.records += records
        self.reason = self.reason or why(reply)
        return records

    def describe(self) -> str:
        """What the user is told: how many records, why, and where they are."""
        where = f"kept in {self.file}"
        if self.unkept:
            where += f" ({self.unkept} of them not: past its {MAX_REFUSED_BYTES // 2**20} MiB cap)"
        return (
            f"{self.records} records were refused by the server for good ({self.reason});"
            f" they are not in the run, they are {where}"
        )


def keep_refused(path: Path, body: bytes, reply: Reply) -> bool:
    """Append a refused batch and the server's answer to ``path``; False when it is past
    :data:`MAX_REFUSED_BYTES` or cannot be written (the batch is then only counted)."""
    answer: dict[str, Any] = {
        "status": reply.status,
        "code": reply.error_code,
        "message": reply.error_message if reply.error_code is not None else reply.body,
    }
    line = b'{"refused":' + msgspec.json.encode(answer) + b',"batch":' + body + b"}\n"
    try:
        with path.open("ab") as f:
            if f.tell() + len(line) > MAX_REFUSED_BYTES:
                return False
            f.write(line)
    except OSError:
        return False
    return True
