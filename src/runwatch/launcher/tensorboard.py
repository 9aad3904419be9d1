"""Reading TensorBoard event files without TensorFlow (or the tensorboard package), as they grow.

An event file is a sequence of TFRecords (``uint64 length, uint32 crc, data, uint32 crc``), each
holding a serialized ``Event`` protobuf. Read are scalars (``Summary.Value.simple_value`` from
tensorboardX and PyTorch, or a one-element float/double ``tensor``: TF2's ``tf.summary.scalar``),
images (``Summary.Image``'s encoded PNG/JPEG: ``add_image``, ``add_images``; or the ``images``
plugin's string tensor ``[width, height, image, ...]``) and histograms (the legacy
``HistogramProto`` of ``add_histogram``, or the ``histograms`` plugin's ``[k, 3]`` tensor of
``(left, right, count)``: TF2's ``tf.summary.histogram``). The protobuf wire format is decoded by
hand for those few fields, which is what makes this several times faster than TensorBoard's own
loader. A record cut short at the end of a growing file is left for the next read: the offset
only moves past whole records.
"""

from __future__ import annotations

import itertools
import math
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Scalar = tuple[int, float, str, float]  # (step, wall time, tag, value)
EventImage = tuple[int, float, str, bytes]  # (step, wall time, tag, encoded PNG or JPEG)
# (step, wall time, tag, edges, counts): one more edge than counts, ascending
EventHistogram = tuple[int, float, str, list[float], list[int]]
SENTINEL = 1e300  # a HistogramProto's outer limit beyond it stands for "unbounded"
MAX_BINS = 1_024  # the server's max_histogram_bins: finer histograms are merged down to it
_HEADER = struct.Struct("<QI")
_DOUBLE = struct.Struct("<d")
_FLOAT = struct.Struct("<f")
# TensorProto dtypes holding one scalar we read: DT_FLOAT = 1, DT_DOUBLE = 2, DT_HALF = 19.
_FLOAT_DTYPES = (1, 2)


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


def _fields(buf: bytes, start: int = 0, end: int | None = None):  # type: ignore[no-untyped-def]
    """(field number, wire type, value or (start, end) of a length-delimited field)."""
    pos, end = start, len(buf) if end is None else end
    while pos < end:
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
            yield number, wire, value
        elif wire == 1:
            yield number, wire, buf[pos : pos + 8]
            pos += 8
        elif wire == 2:
            length, pos = _varint(buf, pos)
            yield number, wire, (pos, pos + length)
            pos += length
        elif wire == 5:
            yield number, wire, buf[pos : pos + 4]
            pos += 4
        else:
            return  # groups: not used by Event


def _tensor_scalar(buf: bytes, start: int, end: int) -> float | None:
    dtype, value, content = 0, None, None
    for number, wire, v in _fields(buf, start, end):
        if number == 1 and wire == 0:
            dtype = v
        elif number == 4 and wire == 2:
            content = buf[v[0] : v[1]]
        elif number == 5:  # float_val: packed (wire 2) or not (wire 5)
            raw = buf[v[0] : v[1]] if wire == 2 else v
            value = _FLOAT.unpack_from(raw)[0] if len(raw) >= 4 else None
        elif number == 6:  # double_val
            raw = buf[v[0] : v[1]] if wire == 2 else v
            value = _DOUBLE.unpack_from(raw)[0] if len(raw) >= 8 else None
    if value is None and content is not None and dtype in _FLOAT_DTYPES:
        fmt = _FLOAT if dtype == 1 else _DOUBLE
        if len(content) == fmt.size:
            value = fmt.unpack(content)[0]
    return value


@dataclass
class Records:
    """What one read of an event file found, in file order per kind."""

    scalars: list[Scalar] = field(default_factory=list)
    images: list[EventImage] = field(default_factory=list)
    histograms: list[EventHistogram] = field(default_factory=list)


def scalars_of_event(data: bytes) -> list[Scalar]:
    """The scalars one serialized ``Event`` carries."""
    records = Records()
    read_event(data, records)
    return records.scalars


def read_event(data: bytes, out: Records) -> None:
    """Add the scalars, images and histograms one serialized ``Event`` carries to ``out``."""
    wall, step, summary = 0.0, 0, None
    for number, wire, v in _fields(data):
        if number == 1 and wire == 1:
            wall = _DOUBLE.unpack(v)[0]
        elif number == 2 and wire == 0:
            step = v if v < 1 << 63 else v - (1 << 64)
        elif number == 5 and wire == 2:
            summary = v
    if summary is None:
        return
    for number, wire, (vs, ve) in _fields(data, *summary):
        if number != 1 or wire != 2:
            continue
        tag, value, tensor, plugin = "", None, None, b""
        for n, w, x in _fields(data, vs, ve):
            if n == 1 and w == 2:
                tag = data[x[0] : x[1]].decode("utf-8", "replace")
            elif n == 2 and w == 5:
                value = _FLOAT.unpack(x)[0]
            elif n == 8 and w == 2:
                tensor = x
            elif n == 4 and w == 2 and tag:
                image = _image(data, *x)
                if image is not None:
                    out.images.append((step, wall, tag, image))
            elif n == 5 and w == 2 and tag:
                histogram = _histogram_proto(data, *x)
                if histogram is not None:
                    out.histograms.append((step, wall, tag, *histogram))
            elif n == 9 and w == 2:
                plugin = _plugin_name(data, *x)
        if not tag:
            continue
        if tensor is not None and plugin == b"histograms":
            histogram = _histogram_tensor(data, *tensor)
            if histogram is not None:
                out.histograms.append((step, wall, tag, *histogram))
        elif tensor is not None and plugin == b"images":
            images = _image_tensor(data, *tensor)
            named = [tag] if len(images) == 1 else [f"{tag}/{i}" for i in range(len(images))]
            out.images += [(step, wall, t, i) for t, i in zip(named, images, strict=True)]
        else:
            if tensor is not None:
                value = _tensor_scalar(data, *tensor)
            if value is not None:
                out.scalars.append((step, wall, tag, value))


def _plugin_name(buf: bytes, start: int, end: int) -> bytes:
    """``SummaryMetadata.plugin_data.plugin_name``."""
    for n, w, x in _fields(buf, start, end):
        if n == 1 and w == 2:
            for m, v, y in _fields(buf, *x):
                if m == 1 and v == 2:
                    return buf[y[0] : y[1]]
    return b""


def _image(buf: bytes, start: int, end: int) -> bytes | None:
    """``Summary.Image.encoded_image_string``."""
    for n, w, x in _fields(buf, start, end):
        if n == 4 and w == 2:
            return buf[x[0] : x[1]]
    return None


def _image_tensor(buf: bytes, start: int, end: int) -> list[bytes]:
    """The images of the ``images`` plugin's string tensor (after its width and height)."""
    strings = [buf[x[0] : x[1]] for n, w, x in _fields(buf, start, end) if n == 8 and w == 2]
    return strings[2:]


def _doubles(buf: bytes, x: Any, wire: int) -> list[float]:
    """A repeated double field's values, packed (wire 2) or one (wire 1)."""
    if wire == 1:
        return [_DOUBLE.unpack(x)[0]]
    raw = buf[x[0] : x[1]]
    return list(struct.unpack(f"<{len(raw) // 8}d", raw[: len(raw) // 8 * 8]))


def _histogram_proto(buf: bytes, start: int, end: int) -> tuple[list[float], list[int]] | None:
    """``HistogramProto``: bucket ``i`` holds the values in ``(limit[i-1], limit[i]]``, the first
    from ``min``. An empty first bucket (PyTorch and tensorboardX write one, only to carry the
    left edge) is dropped; an outer edge past ±1e300 (TensorFlow's ±DBL_MAX) becomes ``min`` or
    ``max``."""
    lo, hi = math.nan, math.nan
    limits: list[float] = []
    counts: list[float] = []
    for n, w, x in _fields(buf, start, end):
        if n == 1 and w == 1:
            lo = _DOUBLE.unpack(x)[0]
        elif n == 2 and w == 1:
            hi = _DOUBLE.unpack(x)[0]
        elif n == 6 and w in (1, 2):
            limits += _doubles(buf, x, w)
        elif n == 7 and w in (1, 2):
            counts += _doubles(buf, x, w)
    if not limits or len(limits) != len(counts):
        return None
    if counts[0] == 0 and len(counts) > 1:
        edges, counts = limits, counts[1:]
    else:
        edges = [min(lo, limits[0]) if math.isfinite(lo) else limits[0], *limits]
    if len(edges) > 2 and abs(edges[0]) > SENTINEL and math.isfinite(lo):
        edges[0] = min(lo, edges[1])
    if len(edges) > 2 and abs(edges[-1]) > SENTINEL and math.isfinite(hi):
        edges[-1] = max(hi, edges[-2])
    return _checked(edges, counts)


def _histogram_tensor(buf: bytes, start: int, end: int) -> tuple[list[float], list[int]] | None:
    """The ``histograms`` plugin's ``[k, 3]`` tensor of ``(left, right, count)`` rows."""
    dtype, content = 0, b""
    values: list[float] = []
    for n, w, x in _fields(buf, start, end):
        if n == 1 and w == 0:
            dtype = x
        elif n == 4 and w == 2:
            content = buf[x[0] : x[1]]
        elif n == 5 and w == 2:
            raw = buf[x[0] : x[1]]
            values += struct.unpack(f"<{len(raw) // 4}f", raw[: len(raw) // 4 * 4])
        elif n == 6 and w in (1, 2):
            values += _doubles(buf, x, w)
    if content and dtype in _FLOAT_DTYPES:
        size = 4 if dtype == 1 else 8
        values = list(struct.unpack(f"<{len(content) // size}{'f' if size == 4 else 'd'}", content))
    if not values or len(values) % 3:
        return None
    rows = [values[i : i + 3] for i in range(0, len(values), 3)]
    return _checked([rows[0][0]] + [r[1] for r in rows], [r[2] for r in rows])


def _checked(edges: list[float], counts: list[float]) -> tuple[list[float], list[int]] | None:
    """Edges and whole counts as runwatch takes them (finite, ascending, at most MAX_BINS bins:
    finer ones summed in runs of neighbours), or None when they cannot be."""
    if not all(map(math.isfinite, edges)) or any(b < a for a, b in itertools.pairwise(edges)):
        return None
    whole = [max(0, round(c)) if math.isfinite(c) else 0 for c in counts]
    if len(whole) > MAX_BINS:
        group = -(-len(whole) // MAX_BINS)
        whole = [sum(whole[i : i + group]) for i in range(0, len(whole), group)]
        edges = edges[::group] if (len(edges) - 1) % group == 0 else [*edges[::group], edges[-1]]
    return edges, whole


class EventFileTail:
    """Reads the scalars appended to one event file since the last call."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0

    def read_new(self) -> list[Scalar]:
        """The scalars appended since the last read (images and histograms are passed over)."""
        return self.read_records().scalars

    def read_records(self) -> Records:
        """The scalars, images and histograms appended since the last read."""
        out = Records()
        try:
            with self.path.open("rb") as f:
                f.seek(self.offset)
                buf = f.read()
        except OSError:
            return out
        pos = 0
        while pos + _HEADER.size <= len(buf):
            (length, _) = _HEADER.unpack_from(buf, pos)
            end = pos + _HEADER.size + length + 4
            if end > len(buf):
                break  # a record still being written: read it next time
            read_event(buf[pos + _HEADER.size : pos + _HEADER.size + length], out)
            pos = end
        self.offset += pos
        return out
