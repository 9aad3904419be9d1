"""Reading an offline W&B run (``run-<id>.wandb``) as it grows, without W&B's server or processes.

The file is a LevelDB-style log: a 7-byte header (``:W&B``, magic 0xBEE1, version 0), then 32 KiB
blocks of records, each with a 7-byte header (CRC-32C, little-endian length, type: 1 full,
2 first, 3 middle, 4 last); fewer than 7 bytes left in a block are padding. Each logical record
is a serialized ``wandb.proto.wandb_internal_pb2.Record`` (W&B ships the classes, not a reader).
We keep history rows (with their images and histograms), config and summary; the offset only
moves past whole records, so a record still being written is read next time.

Speed: a run file is mostly history and summary records (W&B writes a summary update with every
``log``), and building a protobuf object per item is what made reading slow. Those two record
types are recognised from their first bytes, parsed into a view that keeps each item as raw
bytes, and an item of the plain form W&B writes (key fields, then ``value_json``) is split with
bytes operations; its JSON is decoded with msgspec. Anything else (typed values, other record
types, unusual layouts) goes through W&B's own classes, with the same result.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import json
import math
import operator
import struct
from collections.abc import Iterable, Iterator
from itertools import islice, repeat
from pathlib import Path
from typing import Any, cast

import msgspec

from runwatch.launcher.tensorboard import _varint
from runwatch.protocol import encode_value

BLOCK = 32 * 1024
FILE_HEADER = 7
_RECORD = struct.Struct("<IHB")
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4
Row = tuple[int | None, float | None, dict[str, float]]  # (step, wall time, values)
# (step, wall time, key, W&B's JSON of an image, a list of images or a histogram)
Media = tuple[int | None, float | None, str, dict[str, Any]]
MEDIA_TYPES = frozenset(("image-file", "images/separated", "histogram"))
# Tag bytes of Record.history (field 2) and Record.summary (field 3), both length-delimited.
_BULK_TAGS = (0x12, 0x1A)
_KEY_TAG, _NESTED_KEY_TAG = 0x0A, 0x12  # an item's ``key`` (1) and ``nested_key`` (2)
_VALUE_JSON_TAG = b"\x82\x01"  # an item's ``value_json`` (field 16), length-delimited
_decode_json = msgspec.json.Decoder().decode
_FIRST, _THIRD = operator.itemgetter(0), operator.itemgetter(2)
_SUMMARY_WINDOW = 1024  # trailing summary updates looked at first (see ``_summary_updates``)
_NUMBERS = frozenset((int, float, bool))  # what JSON and typed items give that counts as a number


class WandbUnavailable(RuntimeError):
    """The ``wandb`` package (for its protobuf classes) is not installed."""


class _NotPlain(Exception):
    """A record holding something the fast path does not read; W&B's classes read it instead."""


def _record_class() -> Any:
    try:
        from wandb.proto import wandb_internal_pb2
    except ImportError:
        raise WandbUnavailable(
            "install wandb to import offline W&B runs (pip install wandb)"
        ) from None
    return wandb_internal_pb2.Record  # type: ignore[attr-defined]


@functools.cache
def _batch_class(merged: bool = False) -> Any:
    """A message that reads history and summary Records, concatenated, in one C call.

    It has a Record's field numbers for both, so each record's ``history`` becomes one element of
    a repeated field and the ``summary`` updates merge into one list (concatenated messages
    merge), and it keeps items as raw bytes: no Python object per item until one is asked for.
    ``merged``: the ``history`` records merge too, into one list of all their items.
    """
    from google.protobuf import (  # type: ignore[import-untyped]
        descriptor_pb2,
        descriptor_pool,
        message_factory,
    )

    field = descriptor_pb2.FieldDescriptorProto
    one, many = field.LABEL_OPTIONAL, field.LABEL_REPEATED
    file = descriptor_pb2.FileDescriptorProto(
        name=f"runwatch_wandb_batch{int(merged)}.proto",
        package="runwatch_wandb_batch",
        syntax="proto3",
    )
    shapes = {
        "Step": [("num", 1, field.TYPE_INT64, one, "")],
        "History": [
            ("item", 1, field.TYPE_BYTES, many, ""),
            ("step", 2, field.TYPE_MESSAGE, one, "Step"),
        ],
        "Summary": [("update", 1, field.TYPE_BYTES, many, "")],
        "Batch": [
            ("num", 1, field.TYPE_INT64, one, ""),
            ("history", 2, field.TYPE_MESSAGE, one if merged else many, "History"),
            ("summary", 3, field.TYPE_MESSAGE, one, "Summary"),
        ],
    }
    for name, fields in shapes.items():
        message = file.message_type.add(name=name)
        for field_name, number, kind, label, type_name in fields:
            message.field.add(name=field_name, number=number, type=kind, label=label)
            if type_name:
                message.field[-1].type_name = f".runwatch_wandb_batch.{type_name}"
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("runwatch_wandb_batch.Batch"))


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


def _plain_key(head: bytes) -> str | None:
    """The key named by an item's leading bytes if they are only key/nested_key fields."""
    key, nested, pos = "", [], 0
    try:
        while pos < len(head):
            tag = head[pos]
            if tag != _KEY_TAG and tag != _NESTED_KEY_TAG:
                return None
            length, start = _varint(head, pos + 1)
            pos = start + length
            if pos > len(head):
                return None
            text = head[start:pos].decode()
            if tag == _KEY_TAG:
                key = text
            else:
                nested.append(text)
    except (IndexError, UnicodeDecodeError):
        return None
    return "/".join(nested) if nested else key


def _split(items: list[bytes]) -> tuple[list[bytes], list[bytes]]:
    """Each item's bytes before and after the first ``value_json`` tag (``_plain`` checks them)."""
    parts = list(map(bytes.partition, items, repeat(_VALUE_JSON_TAG)))
    return list(map(_FIRST, parts)), list(map(_THIRD, parts))


def _plain_json(tail: bytes) -> bytes:
    """``value_json``'s bytes, given what follows its tag, if nothing else follows them."""
    if 0 < len(tail) <= 0x80 and tail[0] == len(tail) - 1:
        return tail[1:]
    try:
        length, start = _varint(tail, 0)
    except IndexError:
        raise _NotPlain from None
    if start + length != len(tail):
        raise _NotPlain
    return tail[start:]


def _json_value(text: bytes | str) -> Any:
    """``json.loads`` of a ``value_json`` (None if empty); msgspec first, as it is several times
    faster, and ``json`` for what msgspec rejects but W&B may write (NaN, Infinity, 1e400)."""
    if not text:
        return None
    try:
        return _decode_json(text)
    except msgspec.DecodeError:
        return json.loads(text)


def _item_value(item: Any) -> Any:
    """A history/config/summary item's value: its typed field if set, else its JSON."""
    for field in ("number", "integer", "boolean"):
        if _has(item, field):
            return getattr(item, field)
    return _json_value(item.value_json)


def _has(item: Any, field: str) -> bool:
    try:
        return bool(item.HasField(field))
    except ValueError:  # not a field of this message in this wandb version
        return False


def _key(item: Any) -> str:
    return "/".join(item.nested_key) if item.nested_key else str(item.key)


def _row(
    step: int | None, items: Iterable[tuple[str, Any]], media: list[Media] | None = None
) -> Row | None:
    """A history record's row: ``_step`` and ``_timestamp`` set its step and time, other
    non-underscore numbers (not booleans) are its values; no row if it has no values. Its
    images and histograms (W&B's ``_type`` objects) are added to ``media``."""
    values: dict[str, float] = {}
    wall: float | None = None
    others: list[tuple[str, Any]] = []  # not numbers: where W&B's media objects are
    for key, value in items:
        kind = type(value)
        if kind not in _NUMBERS:
            others.append((key, value))
            continue
        if not key.startswith("_"):
            if kind is not bool:
                values[key] = float(value)
        elif key == "_step":
            step = int(value)
        elif key == "_timestamp":
            wall = float(value)
    if others:
        found = _media_objects(others, values)
        if found and media is not None:
            media += [(step, wall, key, value) for key, value in found.items()]
    return (step, wall, values) if values else None


def _is_media_type(value: Any) -> bool:
    return type(value) is str and value in MEDIA_TYPES


def _media_objects(others: list[tuple[str, Any]], values: dict[str, float]) -> dict[str, Any]:
    """W&B's images and histograms among a row's items, by key; their numbers (``pic/width``)
    are taken out of ``values``. W&B writes such an object flattened (``pic/_type``,
    ``pic/path``, …, as nested keys) or, in older versions, whole as one JSON object."""
    found = {
        key: value
        for key, value in others
        if type(value) is dict and _is_media_type(value.get("_type"))
    }
    prefixes = {
        key[: -len("/_type")]
        for key, value in others
        if key.endswith("/_type") and _is_media_type(value)
    }
    if not prefixes:
        return found
    for prefix in prefixes:
        found[prefix] = {}
    for key, value in [*others, *values.items()]:
        head, _, field = key.rpartition("/")
        while head and head not in prefixes:  # a deeper field: packedBins/min
            head, _, parent = head.rpartition("/")
            field = f"{parent}/{field}"
        if head:
            found[head][field] = value
            values.pop(key, None)
    for obj in found.values():  # packedBins/min -> {"packedBins": {"min": ...}}
        for field in [f for f in obj if "/" in f]:
            parent, _, child = field.partition("/")
            nested = obj.setdefault(parent, {})
            if isinstance(nested, dict):
                nested[child] = obj.pop(field)
    return found


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
        self._keys: dict[bytes, str | None] = {}  # an item's key bytes -> its key, if plain
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
        with _gc_paused():
            return self._read(data, record_class)

    def _read(self, data: bytes, record_class: Any) -> list[Row]:
        rows: list[Row] = []
        # Summary updates as (key, raw JSON), the last per key winning: each value decoded once.
        summary: dict[str, bytes | str] = {}
        bulk: list[bytes] = []  # history and summary records, read together
        for payload in self._records(data):
            if _record_tag(payload) in _BULK_TAGS:
                bulk.append(payload)
                continue
            rows += self._bulk(bulk, summary)
            record = record_class()
            record.ParseFromString(payload)
            rows += self._apply(record, summary)
        rows += self._bulk(bulk, summary)
        for key, text in summary.items():
            value = _json_value(text)
            if isinstance(value, float) and not math.isfinite(value):
                value = encode_value(value)
            self.summary[key] = value
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

    def _bulk(self, payloads: list[bytes], summary: dict[str, bytes | str]) -> list[Row]:
        """Rows and summary updates of history and summary records, in order; then empties
        ``payloads``. Items not in the plain form send all of them through W&B's classes."""
        if not payloads:
            return []
        blob = b"".join(payloads)
        batch = _batch_class()()
        batch.ParseFromString(blob)
        try:
            rows = self._history_rows(batch.history, blob)
            updates = self._summary_updates(batch.summary.update)
        except _NotPlain:
            rows = []
            for payload in payloads:
                record = _record_class()()
                record.ParseFromString(payload)
                rows += self._apply(record, summary)
        else:
            summary.update(updates)
        payloads.clear()
        return rows

    def _history_rows(self, histories: Any, blob: bytes) -> list[Row]:
        """Rows of the ``history`` records parsed into ``histories`` from ``blob``."""
        bounds = [
            (len(history.item), history.step.num if history.HasField("step") else None)
            for history in histories
        ]
        merged = _batch_class(merged=True)()
        merged.ParseFromString(blob)  # every record's items in one list, in order
        heads, tails = _split(list(merged.history.item))
        keys, texts = self._plain(heads, tails)
        try:
            values = list(map(_decode_json, texts))
        except msgspec.DecodeError:
            values = list(map(_json_value, texts))
        rows: list[Row] = []
        start = 0
        for count, step in bounds:
            end = start + count
            row = _row(step, zip(keys[start:end], values[start:end], strict=True), self.media)
            if row:
                rows.append(row)
            start = end
        return rows

    def _summary_updates(self, updates: Any) -> list[tuple[str, bytes]]:
        """(key, raw JSON) of the last update per key, in order; earlier ones are not read.

        W&B repeats the same keys with every ``log``, so the last few updates usually name every
        key: if each earlier update starts with one of their key fields (a cheap bytes check),
        only those are split.
        """
        earlier = max(0, len(updates) - _SUMMARY_WINDOW)
        heads, tails = _split(list(updates[earlier:]))
        prefixes = tuple(head + _VALUE_JSON_TAG for head in set(heads))
        if earlier and not all(
            map(operator.methodcaller("startswith", prefixes), islice(updates, earlier))
        ):
            heads, tails = _split(list(updates))
        last = sorted(dict(zip(heads, range(len(heads)), strict=True)).values())
        keys, texts = self._plain([heads[i] for i in last], [tails[i] for i in last])
        return list(zip(keys, texts, strict=True))

    def _plain(self, heads: list[bytes], tails: list[bytes]) -> tuple[list[str], list[bytes]]:
        """Keys and raw JSON of items split by ``_split``; raises ``_NotPlain`` unless every one
        is key fields, then exactly one ``value_json``."""
        known = self._keys
        keys = list(map(known.get, heads))
        if None in keys:  # a head not seen before, or not plain
            for head in set(heads).difference(known):
                known[head] = _plain_key(head)
            keys = list(map(known.get, heads))
            if None in keys:
                raise _NotPlain
        plain_keys = cast(list[str], keys)
        texts = [tail[1:] for tail in tails]
        try:
            # A short value_json is one length byte (< 128), then the text: checked for all at once.
            lengths = bytes(map(_FIRST, tails))
            if lengths.isascii() and lengths == bytes(map(len, texts)):
                return plain_keys, texts
        except (IndexError, ValueError):  # no value_json; a text of 256 bytes or more
            pass
        return plain_keys, list(map(_plain_json, tails))

    def _apply(self, record: Any, summary: dict[str, bytes | str]) -> list[Row]:
        which = record.WhichOneof("record_type")
        if which == "history":
            history = record.history
            step = history.step.num if history.HasField("step") else None
            items = [(_key(item), _item_value(item)) for item in history.item]
            row = _row(step, items, self.media)
            return [row] if row else []
        if which == "config":
            for item in record.config.update:
                self.config[_key(item)] = _item_value(item)
        elif which == "summary":
            for item in record.summary.update:
                summary[_key(item)] = item.value_json
        elif which == "run":
            self.project = record.run.project or self.project
            self.run_id = record.run.run_id or self.run_id
            for item in record.run.config.update:
                self.config[_key(item)] = _item_value(item)
        return []
