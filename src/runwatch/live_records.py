"""The parts of a live record's body that in-process commit listeners read (the rule engine,
early termination): its type, a points record's columns, a status record's state. Decoded
only when the record carries no columns of its own (a replica's, heard on the bus)."""

from __future__ import annotations

import msgspec

from runwatch.protocol import Value


class LiveColumn(msgspec.Struct):
    """One key's points in a live points message: steps and wire values, index by index."""

    step: list[int]
    value: list[Value]


class LiveRecord(msgspec.Struct):
    """A live message as a listener sees it: ``points`` by key, or a status's ``state``."""

    type: str
    points: dict[str, LiveColumn] = {}
    state: str | None = None


decode_live = msgspec.json.Decoder(LiveRecord).decode
