"""Reading TensorBoard event files without TensorFlow (or the tensorboard package), as they grow.

An event file is a sequence of TFRecords (``uint64 length, uint32 crc, data, uint32 crc``), each
holding a serialized ``Event`` protobuf. Only scalars are read: ``Summary.Value.simple_value``
(tensorboardX, PyTorch) or a one-element float/double ``tensor`` (TF2's ``tf.summary.scalar``).
The protobuf wire format is decoded by hand for those few fields, which is what makes this
several times faster than TensorBoard's own loader. A record cut short at the end of a growing
file is left for the next read: the offset only moves past whole records.
"""

from __future__ import annotations

import struct
from pathlib import Path

Scalar = tuple[int, float, str, float]  # (step, wall time, tag, value)
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


def scalars_of_event(data: bytes) -> list[Scalar]:
    """The scalars one serialized ``Event`` carries."""
    wall, step, summary = 0.0, 0, None
    for number, wire, v in _fields(data):
        if number == 1 and wire == 1:
            wall = _DOUBLE.unpack(v)[0]
        elif number == 2 and wire == 0:
            step = v if v < 1 << 63 else v - (1 << 64)
        elif number == 5 and wire == 2:
            summary = v
    if summary is None:
        return []
    out = []
    for number, wire, (vs, ve) in _fields(data, *summary):
        if number != 1 or wire != 2:
            continue
        tag, value = "", None
        for n, w, x in _fields(data, vs, ve):
            if n == 1 and w == 2:
                tag = data[x[0] : x[1]].decode("utf-8", "replace")
            elif n == 2 and w == 5:
                value = _FLOAT.unpack(x)[0]
            elif n == 8 and w == 2:
                value = _tensor_scalar(data, *x)
        if tag and value is not None:
            out.append((step, wall, tag, value))
    return out


class EventFileTail:
    """Reads the scalars appended to one event file since the last call."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0

    def read_new(self) -> list[Scalar]:
        try:
            with self.path.open("rb") as f:
                f.seek(self.offset)
                buf = f.read()
        except OSError:
            return []
        out: list[Scalar] = []
        pos = 0
        while pos + _HEADER.size <= len(buf):
            (length, _) = _HEADER.unpack_from(buf, pos)
            end = pos + _HEADER.size + length + 4
            if end > len(buf):
                break  # a record still being written: read it next time
            out += scalars_of_event(buf[pos + _HEADER.size : pos + _HEADER.size + length])
            pos = end
        self.offset += pos
        return out
