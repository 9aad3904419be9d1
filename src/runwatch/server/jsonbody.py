"""Checks on a JSON body before and after it is decoded: its nesting depth, and the integers a
client wrote as integral floats (``5.0``), which JSON Schema counts as integers."""

from __future__ import annotations

import re
from typing import Any

from runwatch.protocol import INT64_MAX

# Deeper than this, a body is refused: every store, encoder and page then handles what is kept
# (msgspec and Python give up near 1,000 levels, depending on the stack already in use).
MAX_DEPTH = 64
_STRING = re.compile(rb'"[^"]*"')
# Objects nest as arrays do: "{" is read as "[" (a mismatch is the decoder's to refuse).
_AS_SQUARE = bytes.maketrans(b"{}", b"[]")
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'"[]{}')


def too_deep(body: bytes, limit: int = MAX_DEPTH) -> bool:
    """Whether the JSON ``body`` nests arrays and objects more than ``limit`` levels deep.

    Done on bytes in C-speed passes, so the ingest path pays a few scans of the body, not a
    walk in Python: escaped quotes go, then all but quotes and brackets, then strings (most are
    empty by then; dropping two adjacent quotes moves no bracket into or out of a string), and
    each pass removes the innermost brackets. A body that is not JSON answers False: the
    decoder says what is wrong with it.
    """
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    if b"\\" in body:
        body = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    brackets = body.translate(_AS_SQUARE, _NOT_STRUCTURE).replace(b'""', b"")
    if b'"' in brackets:
        brackets = _STRING.sub(b"", brackets)
    for _ in range(limit):
        inner = brackets.replace(b"[]", b"")  # one level: replace() does not rescan
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
