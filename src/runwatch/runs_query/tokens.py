"""The query's tokens: words, numbers, strings, operators and brackets, each with its column."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal

from runwatch.runs_query.errors import QueryError

Kind = Literal["word", "number", "string", "op", "punct", "end"]

_SPACE = re.compile(r"[ \t\r\n]+")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_OPS = ("==", "!=", "<=", ">=", "<", ">", "~")
_PUNCT = "()[],."
# JSON's escapes (so any JSON string is a query string), and \' for single-quoted strings.
_ESCAPES = {
    '"': '"',
    "'": "'",
    "\\": "\\",
    "/": "/",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
}
_HEX4 = re.compile(r"\\u([0-9A-Fa-f]{4})")


@dataclass(frozen=True)
class Token:
    """One token; ``column`` is 1-based; ``value`` is the decoded string or number."""

    kind: Kind
    text: str
    column: int
    value: str | float = ""


def tokenize(query: str) -> list[Token]:
    """The tokens of ``query``, ending with an ``end`` token; QueryError at the first bad one."""
    tokens: list[Token] = []
    i = 0
    while True:
        space = _SPACE.match(query, i)
        if space:
            i = space.end()
        if i >= len(query):
            tokens.append(Token("end", "", len(query) + 1))
            return tokens
        c = query[i]
        if c in "\"'":
            token, i = _string(query, i)
        elif (number := _NUMBER.match(query, i)) and not (c == "." and tokens and _is_path(tokens)):
            text = number.group()
            value = float(text)
            if not math.isfinite(value):
                raise QueryError("number too large", i + 1, query)
            token, i = Token("number", text, i + 1, value), number.end()
        elif word := _WORD.match(query, i):
            token, i = Token("word", word.group(), i + 1, word.group()), word.end()
        elif op := next((o for o in _OPS if query.startswith(o, i)), None):
            token, i = Token("op", op, i + 1), i + len(op)
        elif c in _PUNCT:
            token, i = Token("punct", c, i + 1), i + 1
        elif c == "=":
            raise QueryError("use == to compare", i + 1, query)
        else:
            raise QueryError(f"unexpected character {c!r}", i + 1, query)
        tokens.append(token)


def _is_path(tokens: list[Token]) -> bool:
    """A ``.`` right after a word or ``]`` continues a field path (``config.a``), not a number."""
    return tokens[-1].kind == "word" or tokens[-1].text == "]"


def _string(query: str, start: int) -> tuple[Token, int]:
    """A quoted string from ``start``: its token and the index after its closing quote."""
    quote = query[start]
    out: list[str] = []
    i = start + 1
    while i < len(query):
        c = query[i]
        if c == quote:
            text = query[start : i + 1]
            return Token("string", text, start + 1, "".join(out)), i + 1
        if c == "\x00":
            raise QueryError("a NUL character cannot be searched for", i + 1, query)
        if c != "\\":
            out.append(c)
            i += 1
            continue
        e = query[i + 1 : i + 2]
        if e in _ESCAPES:
            out.append(_ESCAPES[e])
            i += 2
        elif e == "u" and (code := _unicode_escape(query, i)) is not None:
            out.append(chr(code[0]))
            i = code[1]
        else:
            raise QueryError(
                "unknown escape: use \\\\ \\\" \\' \\/ \\b \\f \\n \\r \\t or \\uXXXX"
                " (a pattern's backslash is written \\\\)",
                i + 1,
                query,
            )
    raise QueryError("string never closed", start + 1, query)


def _unicode_escape(query: str, i: int) -> tuple[int, int] | None:
    """The character of the ``\\uXXXX`` escape at ``i`` (a surrogate pair in two escapes, as
    JSON writes characters past U+FFFF) and the index after it; None when malformed; QueryError
    for NUL or a lone surrogate, which no store can hold."""
    first = _HEX4.match(query, i)
    if first is None:
        return None
    code, end = int(first.group(1), 16), first.end()
    if 0xD800 <= code < 0xDC00 and (low := _HEX4.match(query, end)):
        second = int(low.group(1), 16)
        if 0xDC00 <= second <= 0xDFFF:
            return 0x10000 + ((code - 0xD800) << 10) + (second - 0xDC00), low.end()
    if code == 0 or 0xD800 <= code <= 0xDFFF:
        raise QueryError("this \\u escape is not a character a run can hold", i + 1, query)
    return code, end
