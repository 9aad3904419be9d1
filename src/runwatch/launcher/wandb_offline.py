"""Reading an offline W&B run (``run-<id>.wandb``) as it grows, without W&B's server or processes.

The file is a LevelDB-style log: a 7-byte header (``:W&B``, magic 0xBEE1, version 0), then 32 KiB
blocks of records, each with a 7-byte header (CRC-32C, little-endian length, type: 1 full,
2 first, 3 middle, 4 last); fewer than 7 bytes left in a block are padding. Each logical record
is a serialized ``wandb.proto.wandb_internal_pb2.Record`` (W&B ships the classes, not a reader).
We keep history rows, config and summary; the offset only moves past whole records, so a record
still being written is read next time.
"""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path
from typing import Any

from runwatch.protocol import encode_value

BLOCK = 32 * 1024
FILE_HEADER = 7
_RECORD = struct.Struct("<IHB")
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4
Row = tuple[int | None, float | None, dict[str, float]]  # (step, wall time, values)


class WandbUnavailable(RuntimeError):
    """The ``wandb`` package (for its protobuf classes) is not installed."""


def _record_class() -> Any:
    try:
        from wandb.proto import wandb_internal_pb2
    except ImportError:
        raise WandbUnavailable(
            "install wandb to import offline W&B runs (pip install wandb)"
        ) from None
    return wandb_internal_pb2.Record  # type: ignore[attr-defined]


def _item_value(item: Any) -> Any:
    """A history/config/summary item's value: its typed field if set, else its JSON."""
    for field in ("number", "integer", "boolean"):
        if _has(item, field):
            return getattr(item, field)
    return json.loads(item.value_json) if item.value_json else None


def _has(item: Any, field: str) -> bool:
    try:
        return bool(item.HasField(field))
    except ValueError:  # not a field of this message in this wandb version
        return False


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _key(item: Any) -> str:
    return "/".join(item.nested_key) if item.nested_key else str(item.key)


class WandbRunTail:
    """History rows, config and summary of one offline run file, read incrementally."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.config: dict[str, Any] = {}
        self.summary: dict[str, Any] = {}
        self.project: str | None = None
        self.run_id: str | None = None

    def read_new(self) -> list[Row]:
        record_class = _record_class()
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
        rows: list[Row] = []
        for payload in self._records(data):
            record = record_class()
            record.ParseFromString(payload)
            rows += self._apply(record)
        return rows

    def _records(self, data: bytes):  # type: ignore[no-untyped-def]
        pos, pieces = self.offset, []
        while True:
            left = BLOCK - pos % BLOCK
            if left < _RECORD.size:
                pos += left  # block padding
                continue
            if pos + _RECORD.size > len(data):
                return
            _, length, kind = _RECORD.unpack_from(data, pos)
            start = pos + _RECORD.size
            if start + length > len(data):
                return  # still being written
            pos = start + length
            if kind == FULL:
                self.offset = pos
                yield data[start:pos]
            elif kind == FIRST:
                pieces = [data[start:pos]]
            elif kind == MIDDLE:
                pieces.append(data[start:pos])
            elif kind == LAST:
                pieces.append(data[start:pos])
                self.offset = pos
                yield b"".join(pieces)
            else:
                return  # zeroed tail of a preallocated block

    def _apply(self, record: Any) -> list[Row]:
        which = record.WhichOneof("record_type")
        if which == "history":
            values: dict[str, float] = {}
            step: int | None = record.history.step.num if record.history.HasField("step") else None
            wall: float | None = None
            for item in record.history.item:
                key, value = _key(item), _item_value(item)
                if key == "_step" and isinstance(value, int | float):
                    step = int(value)
                elif key == "_timestamp" and isinstance(value, int | float):
                    wall = float(value)
                elif (
                    not key.startswith("_")
                    and isinstance(value, int | float)
                    and not isinstance(value, bool)
                ):
                    values[key] = float(value)
            return [(step, wall, values)] if values else []
        if which == "config":
            for item in record.config.update:
                self.config[_key(item)] = _item_value(item)
        elif which == "summary":
            for item in record.summary.update:
                value = _item_value(item)
                if isinstance(value, float) and not math.isfinite(value):
                    value = encode_value(value)
                self.summary[_key(item)] = value
        elif which == "run":
            self.project = record.run.project or self.project
            self.run_id = record.run.run_id or self.run_id
            for item in record.run.config.update:
                self.config[_key(item)] = _item_value(item)
        return []
