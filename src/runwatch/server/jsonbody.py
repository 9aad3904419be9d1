"""Checks on a JSON body before and after it is decoded: its nesting depth, and the integers a
client wrote as integral floats (``5.0``), which JSON Schema counts as integers."""

from __future__ import annotations

import re
from typing import Any

from runwatch.protocol import INT64_MAX

# Deeper than this, a body is refused: every store, encoder and page then handles what is kept
# (msgspec and Python give up near 1,000 levels, depending on the stack already in use).
MAX_DEPTH = 64
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_INNERMOST = re.compile(rb"\[\]|\{\}")


def too_deep(body: bytes, limit: int = MAX_DEPTH) -> bool:
    """Whether the JSON ``body`` nests arrays and objects more than ``limit`` levels deep.

    Done on bytes in C-speed passes (strings dropped, then each pass removes the innermost
    brackets), so the ingest path pays a few scans of the body, not a walk in Python. A body
    that is not JSON answers False: the decoder says what is wrong with it.
    """
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    brackets = _STRING.sub(b"", body).translate(None, _NOT_BRACKETS)
    for _ in range(limit):
        inner = _INNERMOST.sub(b"", brackets)
        if not inner or inner == brackets:
            return False
        brackets = inner
    return True


def integral_floats_as_ints(node: Any) -> Any:
    """``node`` with each float that is a whole number within 64 bits turned into an int."""
    if isinstance(node, float):
        return int(node) if node.is_integer() and abs(node) <= INT64_MAX else node
    if isinstance(node, list):
        return [integral_floats_as_ints(item) for item in node]
    if isinstance(node, dict):
        return {key: integral_floats_as_ints(value) for key, value in node.items()}
    return node
