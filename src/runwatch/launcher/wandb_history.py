"""History rows and summary updates of many offline W&B records at once, from their raw bytes.

A run file is mostly history and summary records (W&B writes summary updates with every
``log``), and building a Python object per record or per item is what makes reading slow. So all
records of a read are parsed by one C call (``wandb_messages.batch_class``) that keeps every
item as raw bytes, with an empty item between records marking where each record's items end.
Items of the form W&B writes (one ``nested_key``, then ``value_json``) are read by a second C
call into a list of names and a list of texts once counts and sizes prove that form
(``_flat_items``); other plain items (``key``, several ``nested_key`` parts) are split with bytes
operations. The values of a read are decoded by one msgspec call when they are all plain
numbers, and rows whose values are all numbers are built by C-level maps, not a Python loop per
item. Anything else raises ``NotPlain`` (the caller then reads those records with W&B's own
classes, with the same result) or goes through ``row``, the per-row reading both paths share.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import accumulate, compress, count, repeat
from typing import Any, cast

import msgspec

from runwatch.launcher.tensorboard import _varint
from runwatch.launcher.wandb_messages import decode_error, flat_class

Row = tuple[int | None, float | None, dict[str, float | str]]  # (step, wall time, values)
# (step, wall time, key, W&B's JSON of an image, a list of images or a histogram)
Media = tuple[int | None, float | None, str, dict[str, Any]]
MEDIA_TYPES = frozenset(("image-file", "images/separated", "histogram"))
_KEY_TAG, _NESTED_KEY_TAG = 0x0A, 0x12  # an item's ``key`` (1) and ``nested_key`` (2)
_VALUE_JSON_TAG = b"\x82\x01"  # an item's ``value_json`` (field 16), length-delimited
_decode_json = msgspec.json.Decoder().decode
_decode_floats = msgspec.json.Decoder(list[float]).decode
_FIRST, _THIRD = operator.itemgetter(0), operator.itemgetter(2)
_SUMMARY_WINDOW = 1024  # trailing summary updates looked at first (see ``summary_updates``)
_NUMBERS = frozenset((int, float, bool))  # what JSON and typed items give that counts as a number
_FLOATS = frozenset((int, float))  # values a row keeps as they are (as floats)
_NOT_NUMBERS = (
    b'"',
    b"[",
    b"]",
    b"{",
    b"}",
)  # in JSON texts that may hold commas of their own
_NEXT = bytes(range(1, 256)) + b"\0"  # a translate table: each byte value plus one
_EXACT = 2.0**53  # floats up to here convert to int as the JSON integer they came from would
KEY_CACHE = 65_536  # item forms whose keys are kept (see ``KeyCache``)


class NotPlain(Exception):
    """Records holding something the fast path does not read; W&B's classes read them instead."""


@dataclass
class KeyCache:
    """Keys of the item forms seen, so each is decoded once: by an item's bytes before its
    ``value_json`` (``heads``) and by a raw ``nested_key`` (``names``). Emptied when one holds
    ``KEY_CACHE`` entries (a run with ever new keys)."""

    heads: dict[bytes, str | None] = field(default_factory=dict)
    names: dict[bytes, str | None] = field(default_factory=dict)

    def bound(self) -> None:
        """Empty a cache that holds ``KEY_CACHE`` entries or more."""
        for cache in (self.heads, self.names):
            if len(cache) >= KEY_CACHE:
                cache.clear()


def json_value(text: bytes | str) -> Any:
    """``json.loads`` of a ``value_json`` (None if empty); msgspec first, as it is several times
    faster, and ``json`` for what msgspec rejects but W&B may write (NaN, Infinity, 1e400)."""
    if not text:
        return None
    try:
        return _decode_json(text)
    except msgspec.DecodeError:
        return json.loads(text)


def history_rows(
    history: Any,
    records: int,
    known: KeyCache,
    media: list[Media],
    record_step: Callable[[int], int | None],
) -> list[Row]:
    """Rows of ``records`` records read together: ``history`` is their merged history (a
    ``batch_class`` field: all items, raw, with an empty one between records). Images and
    histograms are added to ``media``; ``record_step(i)`` is record ``i``'s own step (for a row
    without ``_step``). Raises ``NotPlain`` before anything is added to ``media``."""
    items = history.item
    # Where each record's items end in the list without the separators
    ends = list(map(operator.sub, compress(count(), map(operator.not_, items)), count()))
    if len(ends) != records - 1:
        raise NotPlain
    real = list(filter(None, items))
    ends.append(len(real))
    starts = [0, *ends[:-1]]
    which = list(compress(range(records), map(operator.ne, starts, ends)))  # history records
    if not which:
        return []
    slices = list(map(slice, map(starts.__getitem__, which), map(ends.__getitem__, which)))
    found = _flat_items(history, real, known.names)
    if found:
        names, texts = found
    else:
        heads, tails = _split(real)
        names, texts = item_keys(heads, known.heads), value_texts(tails)
    floats = _float_values(texts)
    if floats is not None:
        fast = _numeric_rows(names, floats, slices)
        if fast is not None:
            return list(filter(None, fast))
    values = decode_texts(texts)
    kinds = list(map(_FLOATS.__contains__, map(type, values)))
    numeric = list(compress(count(), map(all, map(kinds.__getitem__, slices))))
    fast = _numeric_rows(names, values, [slices[i] for i in numeric], convert=True)
    out: list[Row | None] = [None] * len(slices)
    if fast is None:
        numeric = []
    else:
        for i, fast_row in zip(numeric, fast, strict=True):
            out[i] = fast_row
    done = set(numeric)
    for i, part in enumerate(slices):
        if i in done:
            continue
        pairs = list(zip(names[part], values[part], strict=True))
        has_step = any(key == "_step" and type(value) in _NUMBERS for key, value in pairs)
        out[i] = row(None if has_step else record_step(which[i]), pairs, media)
    return list(filter(None, out))


def _flat_items(
    history: Any, real: list[bytes], known: dict[bytes, str | None]
) -> tuple[list[str], list[bytes]] | None:
    """Keys and raw JSON of ``real`` (the items of ``history``) as ``flat_class`` reads them: in
    one C call, without splitting each item. None unless every item is exactly one
    ``nested_key`` then one ``value_json``, the form W&B writes. That holds when the counts are
    one per item, every item starts with a ``nested_key`` and each item's size is that of its
    two fields: then every item has one name, sizes leave no room for other fields, and a value
    of an item's own cannot be missing (the sizes would have to match a field of size 0)."""
    flat = flat_class()()
    try:
        flat.ParseFromString(history.SerializeToString())
    except decode_error():  # an item W&B's parser rejects: it says which and why
        return None
    count_ = len(real)
    if len(flat.item.nested_key) != count_ or len(flat.item.value_json) != count_:
        return None
    nested, texts = list(flat.item.nested_key), list(flat.item.value_json)
    sizes = list(map(operator.add, map(len, nested), map(len, texts)))
    if max(sizes) >= 0x80:  # a length may take two varint bytes
        for lengths in (list(map(len, nested)), list(map(len, texts))):
            if max(lengths) >= 0x4000:
                return None
            sizes = list(map(operator.add, sizes, map(operator.ge, lengths, repeat(0x80))))
    lengths = list(map(len, real))
    # Each item: tag and length of its nested_key (2 bytes), of its value_json (3), the two texts
    if list(map(operator.sub, lengths, sizes)).count(5) != count_:
        return None
    firsts = list(accumulate(lengths, initial=0))
    firsts.pop()
    joined = b"".join(real)
    tags = operator.itemgetter(*firsts)(joined) if count_ > 1 else (joined[0],)
    if tags.count(_NESTED_KEY_TAG) != count_:
        return None
    names = list(map(known.get, nested))
    if None in names:
        for name in set(nested).difference(known):
            try:
                known[name] = name.decode()
            except UnicodeDecodeError:
                known[name] = None
        names = list(map(known.get, nested))
        if None in names:
            return None
    return cast(list[str], names), texts


def _numeric_rows(
    keys: list[str], values: list[Any], slices: list[slice], convert: bool = False
) -> Sequence[Row | None] | None:
    """Rows of the items in ``slices``, whose values are all floats (or, with ``convert``, ints
    and floats), built without a Python loop per item (None in place of a row without values);
    None if a row has no usable ``_step`` (``row`` reads those)."""
    if not slices:
        return []
    parts: Iterable[Iterable[Any]] = map(values.__getitem__, slices)
    if convert:
        parts = map(map, repeat(float), parts)
    dicts = list(map(dict, map(zip, map(keys.__getitem__, slices), parts)))
    steps: list[Any] = list(map(dict.pop, dicts, repeat("_step"), repeat(None)))
    walls = list(map(dict.pop, dicts, repeat("_timestamp"), repeat(None)))
    for key in {key for key in set(keys) if key.startswith("_")}:  # not values: _runtime, …
        list(map(dict.pop, dicts, repeat(key), repeat(None)))
    try:
        if not (min(steps) > -_EXACT and max(steps) < _EXACT):
            return None
        whole = list(map(int, steps))
    except (TypeError, ValueError, OverflowError):  # a row without _step; NaN or inf
        return None
    rows: list[Row] = list(zip(whole, walls, dicts, strict=True))
    return rows if all(dicts) else [found if found[2] else None for found in rows]


def _split(items: Sequence[bytes]) -> tuple[Sequence[bytes], Sequence[bytes]]:
    """Each item's bytes before and after the first ``value_json`` tag (``item_keys``
    and ``tail_values`` check them)."""
    if not items:
        return (), ()
    heads, _, tails = zip(*map(bytes.partition, items, repeat(_VALUE_JSON_TAG)), strict=True)
    return heads, tails


def item_keys(heads: Sequence[bytes], known: dict[bytes, str | None]) -> list[str]:
    """The key of each item, given its bytes before ``value_json``; raises ``NotPlain`` unless
    they are only key fields. ``known`` caches the key of each head seen."""
    found = list(map(known.get, heads))
    if None in found:  # a head not seen before, or not plain
        for head in set(heads).difference(known):
            known[head] = _plain_key(head)
        found = list(map(known.get, heads))
        if None in found:
            raise NotPlain
    return cast(list[str], found)


def value_texts(tails: Sequence[bytes]) -> list[bytes]:
    """``value_json``'s bytes of each item, given what follows its tag; raises ``NotPlain``
    unless that is exactly one ``value_json``."""
    try:
        # A short value_json is one length byte (< 128), then the text: checked for all at once.
        lengths = bytes(map(_FIRST, tails))
        if lengths.isascii() and lengths.translate(_NEXT) == bytes(map(len, tails)):
            return [tail[1:] for tail in tails]
    except (IndexError, ValueError):  # no value_json; a text of 255 bytes or more
        pass
    return list(map(_plain_json, tails))


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


def _plain_json(tail: bytes) -> bytes:
    """``value_json``'s bytes, given what follows its tag, if nothing else follows them."""
    if 0 < len(tail) <= 0x80 and tail[0] == len(tail) - 1:
        return tail[1:]
    try:
        length, start = _varint(tail, 0)
    except IndexError:
        raise NotPlain from None
    if start + length != len(tail):
        raise NotPlain
    return tail[start:]


def _float_values(texts: list[bytes]) -> list[float] | None:
    """The texts' values as floats, all decoded by one msgspec call as one JSON array, if they
    are all plain numbers (a text without quotes or brackets can only add elements to the
    array, and then the count differs); None otherwise."""
    joined = b",".join(texts)
    if any(map(joined.__contains__, _NOT_NUMBERS)):
        return None
    try:
        values = _decode_floats(b"[" + joined + b"]")
    except msgspec.DecodeError:  # booleans, null, NaN, Infinity, an empty text, …
        return None
    return values if len(values) == len(texts) else None


def decode_texts(texts: Sequence[bytes]) -> list[Any]:
    """``json_value`` of each text."""
    try:
        return list(map(_decode_json, texts))
    except msgspec.DecodeError:
        return list(map(json_value, texts))


def summary_updates(
    updates: Sequence[bytes], known: dict[bytes, str | None]
) -> list[tuple[str, bytes]]:
    """(key, raw JSON) of the last update per key, in order; earlier ones are not read.

    W&B repeats the same keys with every ``log``, so the last few updates usually name every
    key: if each earlier update starts with one of their key fields (a cheap bytes check), only
    those are split. Raises ``NotPlain`` as ``plain`` does.
    """
    earlier = max(0, len(updates) - _SUMMARY_WINDOW)
    heads, tails = _split(list(updates[earlier:]))
    prefixes = tuple(head + _VALUE_JSON_TAG for head in set(heads))
    if earlier and not all(map(bytes.startswith, updates[:earlier], repeat(prefixes))):
        heads, tails = _split(list(updates))
    last = sorted(dict(zip(heads, range(len(heads)), strict=True)).values())
    found = item_keys([heads[i] for i in last], known)
    return list(zip(found, value_texts([tails[i] for i in last]), strict=True))


def row(
    step: int | None, items: Iterable[tuple[str, Any]], media: list[Media] | None = None
) -> Row | None:
    """A history record's row: ``_step`` and ``_timestamp`` set its step and time, other
    non-underscore numbers (not booleans) and strings are its values; no row if it has no
    values. Its images and histograms (W&B's ``_type`` objects) are added to ``media``; the
    fields of those and of other ``_type`` objects (tables, …) are not texts."""
    values: dict[str, float | str] = {}
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
        values.update(_texts(others))
    return (step, wall, values) if values else None


def object_prefixes(keys: Iterable[str]) -> tuple[str, ...]:
    """The key prefixes of a row's or summary's W&B objects: ``pic/_type`` marks ``pic/…`` as
    the fields of one (an image, a table, …), never values of their own."""
    return tuple(key[: -len("_type")] for key in keys if key.endswith("/_type"))


def _texts(others: list[tuple[str, Any]]) -> dict[str, str]:
    """A row's strings that are values of their own: not under ``_`` keys, nor fields of a W&B
    object (see :func:`object_prefixes`)."""
    objects = object_prefixes(key for key, _ in others)
    return {
        key: value
        for key, value in others
        if type(value) is str and not key.startswith("_") and not key.startswith(objects)
    }


def _is_media_type(value: Any) -> bool:
    return type(value) is str and value in MEDIA_TYPES


def _media_objects(others: list[tuple[str, Any]], values: dict[str, float | str]) -> dict[str, Any]:
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
