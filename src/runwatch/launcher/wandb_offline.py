"""Reading an offline W&B run (``run-<id>.wandb``) as it grows, without W&B's server or processes.

The file is a LevelDB-style log: a 7-byte header (``:W&B``, magic 0xBEE1, version 0), then 32 KiB
blocks of records, each with a 7-byte header (CRC-32C, little-endian length, type: 1 full,
2 first, 3 middle, 4 last); fewer than 7 bytes left in a block are padding. Each logical record
is a serialized ``wandb.proto.wandb_internal_pb2.Record`` (W&B ships the classes, not a reader).
We keep history rows (numbers and texts, with their images and histograms), config and summary;
the offset only moves past whole records, so a record still being written is read next time.

All records of a read are decoded together from their raw bytes (``wandb_history``); what that
does not read (typed values, unusual layouts) goes through W&B's own classes, with the same
result. CRCs are not checked: a record W&B's parser rejects fails the read as it would there,
but corrupt bytes that still parse as records are read as they parse.
"""

from __future__ import annotations

import contextlib
import gc
import math
import struct
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from runwatch.launcher.wandb_history import (
    MEDIA_TYPES,
    KeyCache,
    Media,
    NotPlain,
    Row,
    history_rows,
    json_value,
    row,
    summary_updates,
)
from runwatch.launcher.wandb_messages import SEPARATOR, batch_class, decode_error
from runwatch.protocol import encode_value

__all__ = [
    "BLOCK",
    "FILE_HEADER",
    "MEDIA_TYPES",
    "Media",
    "Row",
    "WandbRunTail",
    "WandbUnavailable",
]

BLOCK = 32 * 1024
FILE_HEADER = 7
_LENGTH_KIND = struct.Struct("<4xHB")  # a record's header: CRC-32C (not checked), length, type
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4
_BULK_TAGS = (
    0x12,
    0x1A,
)  # tag bytes of Record.history (field 2) and Record.summary (field 3)


def _frames(data: bytes, pos: int) -> tuple[list[bytes], int]:
    """The whole records from ``pos`` on, and the offset after the last of them. A block's
    records are read by an inner loop (the per-record work of a read: kept to a few steps)."""
    records: list[bytes] = []
    append, unpack, end = records.append, _LENGTH_KIND.unpack_from, len(data)
    offset, pieces = pos, []
    while True:
        block_end = pos - pos % BLOCK + BLOCK
        if block_end - pos < _LENGTH_KIND.size:
            pos = block_end  # block padding
            continue
        last_header = min(block_end, end) - _LENGTH_KIND.size
        if pos > last_header:
            return records, offset
        while pos <= last_header:
            length, kind = unpack(data, pos)
            start = pos + _LENGTH_KIND.size
            pos = start + length
            if pos > end:
                return records, offset  # still being written
            if kind == FULL:
                append(data[start:pos])
                offset = pos
            elif kind == FIRST:
                pieces = [data[start:pos]]
            elif kind == MIDDLE:
                pieces.append(data[start:pos])
            elif kind == LAST:
                pieces.append(data[start:pos])
                append(b"".join(pieces))
                offset = pos
            else:
                return records, offset  # zeroed tail of a preallocated block


class WandbUnavailable(RuntimeError):
    """The ``wandb`` package (for its protobuf classes) is not installed."""


def _wandb_classes() -> Any:
    """W&B's protobuf module (``Record``, ``RunRecord``, ``ConfigRecord``, …)."""
    try:
        from wandb.proto import wandb_internal_pb2
    except ImportError:
        raise WandbUnavailable(
            "install wandb to import offline W&B runs (pip install wandb)"
        ) from None
    return wandb_internal_pb2


def _record_tag(payload: bytes) -> int:
    """The tag byte after ``num`` (which W&B writes first): which record type this is, or 0."""
    try:
        pos = 0
        if payload[0] == 0x08:
            pos = 1
            while payload[pos] & 0x80:
                pos += 1
            pos += 1
        return payload[pos]
    except IndexError:
        return 0


def _item_value(item: Any) -> Any:
    """A history/config/summary item's value: its typed field if set, else its JSON."""
    for field in ("number", "integer", "boolean"):
        if _has(item, field):
            return getattr(item, field)
    return json_value(item.value_json)


def _has(item: Any, field: str) -> bool:
    try:
        return bool(item.HasField(field))
    except ValueError:  # not a field of this message in this wandb version
        return False


def _key(item: Any) -> str:
    return "/".join(item.nested_key) if item.nested_key else str(item.key)


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while reading: a read allocates several objects per row that
    all live on (rows, keys, values), and collections in between only scan them again (~20%)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class WandbRunTail:
    """History rows, config and summary of one offline run file, read incrementally."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.config: dict[str, Any] = {}
        self.summary: dict[str, Any] = {}
        self.project: str | None = None
        self.run_id: str | None = None
        self._keys = KeyCache()
        # Images and histograms of the rows of the last read (each read starts it afresh: like
        # the rows, bounded by what one read finds in the file)
        self.media: list[Media] = []

    def take_media(self) -> list[Media]:
        """The images and histograms of the rows the last ``read_new`` returned (their files
        are under the run's ``files/``)."""
        media, self.media = self.media, []
        return media

    def read_new(self) -> list[Row]:
        """History rows appended since the last call; config and summary are updated too."""
        self.media = []
        classes = _wandb_classes()
        try:
            data = self.path.read_bytes()
        except OSError:
            return []
        if self.offset == 0:
            if len(data) < FILE_HEADER:
                return []
            if data[:4] != b":W&B":
                raise ValueError(f"{self.path} is not a W&B run file")
            self.offset = FILE_HEADER
        with _gc_paused():
            return self._read(data, classes)

    def _read(self, data: bytes, classes: Any) -> list[Row]:
        records = self._records(data)
        if not records:
            return []
        self._keys.bound()
        batch = batch_class()()
        try:
            batch.ParseFromString(SEPARATOR.join(records))
        except decode_error():  # W&B's classes say which record and why
            return self._read_each(records, classes)
        try:
            rows = history_rows(
                batch.history,
                len(records),
                self._keys,
                self.media,
                self._step_of(records),
            )
        except NotPlain:
            rows = self._read_each(records, classes, only="history")
        try:
            summary: dict[str, bytes | str] = dict(
                summary_updates(batch.summary.update, self._keys.heads)
            )
        except NotPlain:
            merged = classes.SummaryRecord()
            merged.ParseFromString(batch.summary.SerializeToString())
            summary = {_key(item): item.value_json for item in merged.update}
        self._set_summary(summary)
        if batch.config and batch.run:  # both: applied in the order they were written
            self._read_each(records, classes, only="config/run")
        else:
            for raw in batch.run:
                self._apply_run(classes.RunRecord.FromString(raw))
            for raw in batch.config:
                self._apply_config(classes.ConfigRecord.FromString(raw))
        return rows

    def _records(self, data: bytes) -> list[bytes]:
        """The whole records after ``offset``, which moves past them."""
        records, self.offset = _frames(data, self.offset)
        return records

    def _step_of(self, records: list[bytes]) -> Callable[[int], int | None]:
        def step(index: int) -> int | None:
            """Record ``index``'s own history step (W&B's ``step.num``), if it has one."""
            history = _wandb_classes().Record.FromString(records[index]).history
            return int(history.step.num) if history.HasField("step") else None

        return step

    def _read_each(self, records: list[bytes], classes: Any, only: str = "") -> list[Row]:
        """Records read one by one with W&B's classes (what the fast path does not read):
        everything, or ``only`` their history rows or their config and run records."""
        rows: list[Row] = []
        summary: dict[str, bytes | str] = {}
        for payload in records:
            if only == "config/run" and _record_tag(payload) in _BULK_TAGS:
                continue
            record = classes.Record.FromString(payload)
            which = record.WhichOneof("record_type")
            if only and which not in only.split("/"):
                continue
            rows += self._apply(record, summary)
        self._set_summary(summary)
        return rows

    def _set_summary(self, summary: dict[str, bytes | str]) -> None:
        """Summary updates as (key, raw JSON), the last per key: each value decoded once."""
        for key, text in summary.items():
            value = json_value(text)
            if isinstance(value, float) and not math.isfinite(value):
                value = encode_value(value)
            self.summary[key] = value

    def _apply_run(self, run: Any) -> None:
        self.project = run.project or self.project
        self.run_id = run.run_id or self.run_id
        self._apply_config(run.config)

    def _apply_config(self, config: Any) -> None:
        for item in config.update:
            self.config[_key(item)] = _item_value(item)

    def _apply(self, record: Any, summary: dict[str, bytes | str]) -> list[Row]:
        which = record.WhichOneof("record_type")
        if which == "history":
            history = record.history
            step = history.step.num if history.HasField("step") else None
            items = [(_key(item), _item_value(item)) for item in history.item]
            found = row(step, items, self.media)
            return [found] if found else []
        if which == "config":
            self._apply_config(record.config)
        elif which == "summary":
            for item in record.summary.update:
                summary[_key(item)] = item.value_json
        elif which == "run":
            self._apply_run(record.run)
        return []
