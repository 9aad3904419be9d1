"""Message classes that read many offline W&B records at once, keeping their items as raw bytes.

W&B's ``Record`` builds a Python object per record and per item on access; these classes have a
Record's field numbers for what the reader needs, and declare items as ``bytes`` (or merge all
items into one message), so one C call reads a whole read's records (``wandb_history``).
"""

from __future__ import annotations

import functools
from typing import Any, cast

# Put between records: a ``history`` field (2) holding one empty item, so that the merged list
# of items has an empty one wherever a record ends (a real item is never empty: W&B's items
# always name a key; one that is empty makes the count wrong, and so not plain).
SEPARATOR = b"\x12\x02\x0a\x00"


def decode_error() -> type[Exception]:
    """protobuf's ``DecodeError`` (imported when needed: protobuf comes with ``wandb``)."""
    from google.protobuf.message import DecodeError  # type: ignore[import-untyped]

    return cast(type[Exception], DecodeError)


@functools.cache
def batch_class() -> Any:
    """A message that reads concatenated Records (``SEPARATOR`` between them) in one C call.

    It has a Record's field numbers: every record's ``history`` items merge into one list of raw
    bytes (concatenated messages merge), every ``summary`` update into another; each ``config``
    and ``run`` record is kept as raw bytes, in order. Other record types are left unread.
    """
    return _message_class(
        "batch",
        {
            # ``step`` and ``num`` are declared so that they are overwritten, not kept as unknowns
            "History": [("item", 1, "bytes", "many"), ("step", 2, "bytes", "one")],
            "Summary": [("update", 1, "bytes", "many")],
            "Batch": [
                ("num", 1, "int64", "one"),
                ("history", 2, "History", "one"),
                ("summary", 3, "Summary", "one"),
                ("config", 5, "bytes", "many"),
                ("run", 17, "bytes", "many"),
            ],
        },
    )


@functools.cache
def flat_class() -> Any:
    """A message that reads a ``batch_class`` history (serialized): each item is read on its
    own (a length-delimited field), and all merge into one, so that its ``nested_key`` and
    ``value_json`` are lists of every item's, in order."""
    return _message_class(
        "flat",
        {
            "Item": [
                ("nested_key", 2, "bytes", "many"),
                ("value_json", 16, "bytes", "many"),
            ],
            "History": [("item", 1, "Item", "one"), ("step", 2, "bytes", "one")],
        },
    )


def _message_class(name: str, shapes: dict[str, list[tuple[str, int, str, str]]]) -> Any:
    """The class of the last message in ``shapes`` (message -> its fields: name, number, type:
    ``bytes``, ``int64`` or a message of ``shapes``, and ``one`` or ``many``)."""
    from google.protobuf import (  # type: ignore[import-untyped]
        descriptor_pb2,
        descriptor_pool,
        message_factory,
    )

    proto = descriptor_pb2.FieldDescriptorProto
    kinds = {"bytes": proto.TYPE_BYTES, "int64": proto.TYPE_INT64}
    labels = {"one": proto.LABEL_OPTIONAL, "many": proto.LABEL_REPEATED}
    package = f"runwatch_wandb_{name}"
    file = descriptor_pb2.FileDescriptorProto(
        name=f"{package}.proto", package=package, syntax="proto3"
    )
    for message_name, fields in shapes.items():
        message = file.message_type.add(name=message_name)
        for field_name, number, kind, label in fields:
            added = message.field.add(name=field_name, number=number, label=labels[label])
            if kind in kinds:
                added.type = kinds[kind]
            else:
                added.type, added.type_name = proto.TYPE_MESSAGE, f".{package}.{kind}"
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{package}.{message_name}"))
