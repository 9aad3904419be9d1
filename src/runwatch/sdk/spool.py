"""The local spool: every record a producer logs, one JSON object per line, before it is sent.

The first line is a header (``{"spool": 1, "run": {...}, "producer": ...}``); each later line is one
record tagged with the batch it was sent in (``"b"``): a metric row ``{"b", "step", "ts",
"values"}``, an event ``{"b", "event": {...}}``, a status ``{"b", "status": {...}}``, or another
batch item (a command result, snapshot, table, point set, vitals key) ``{"b", "extra": [field,
item]}``. Because
a batch keeps its ``(producer, batch_seq)`` on replay, the server stores a replayed batch once.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import msgspec

SPOOL_VERSION = 1
_encode = msgspec.json.encode
_decode = msgspec.json.decode
_lines = msgspec.json.Encoder()
# Batch fields besides points, events and status, spooled as ``{"b", "extra": [field, item]}``.
EXTRAS = ("commands", "snapshots", "tables", "point_sets", "vitals", "logs", "manifests")


class SpoolWriter:
    """Appends batches to ``path``; each write is flushed to the OS (survives a process crash)."""

    def __init__(self, path: Path, run: dict[str, Any], producer: str) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        fresh = not path.exists() or path.stat().st_size == 0
        self._file: IO[bytes] = path.open("ab")
        if fresh:
            header = {"spool": SPOOL_VERSION, "run": run, "producer": producer}
            self._file.write(_encode(header) + b"\n")
            self._file.flush()

    def append(self, batch: dict[str, Any]) -> int:
        """Write one batch's records; return the byte offset where they start."""
        offset = self._file.tell()
        b = batch["batch_seq"]
        lines: list[dict[str, Any]] = [
            {"b": b, "step": s, "ts": t, "values": v} for s, t, v in batch["points"]
        ]
        lines += [{"b": b, "event": e} for e in batch["events"]]
        for field in EXTRAS:
            lines += [{"b": b, "extra": [field, item]} for item in batch.get(field, ())]
        if "status" in batch:
            lines.append({"b": b, "status": batch["status"]})
        self._file.write(_lines.encode_lines(lines))
        self._file.flush()
        return offset

    def close(self) -> None:
        self._file.close()


def read_header(path: Path) -> dict[str, Any]:
    """The spool's header: the run it belongs to and the producer that wrote it."""
    with path.open("rb") as f:
        header: dict[str, Any] = _decode(f.readline())
    if header.get("spool") != SPOOL_VERSION:
        raise ValueError(f"{path} is not a runwatch spool (version {header.get('spool')!r})")
    return header


def read_batches(
    path: Path, start: int = 0, last_batch: int | None = None
) -> Iterator[dict[str, Any]]:
    """Rebuild the batches written from byte ``start`` on (up to ``last_batch``), in order.

    A torn last line (the writer died mid-write) is skipped: its batch was never acknowledged
    as whole, and what is readable of it is sent again under the same batch_seq.
    """
    current: dict[str, Any] | None = None
    with path.open("rb") as f:
        f.seek(start)
        if start == 0:
            f.readline()  # header
        for line in f:
            try:
                rec = _decode(line)
            except msgspec.DecodeError:
                continue
            b = rec["b"]
            if last_batch is not None and b > last_batch:
                break
            if current is None or current["batch_seq"] != b:
                if current is not None:
                    yield current
                current = {"batch_seq": b, "points": [], "events": []}
            if "event" in rec:
                current["events"].append(rec["event"])
            elif "extra" in rec:
                field, item = rec["extra"]
                current.setdefault(field, []).append(item)
            elif "status" in rec:
                current["status"] = rec["status"]
            else:
                current["points"].append([rec["step"], rec["ts"], rec["values"]])
    if current is not None:
        yield current
