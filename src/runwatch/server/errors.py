"""One error shape for every failure: ``{"error": {"code", "message", "field"}}``."""

from __future__ import annotations

import ast
import json
import math
import operator
import re
from collections.abc import Callable, Mapping, Sized
from typing import Any

import msgspec
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import Match

from runwatch.store.errors import (
    Conflict,
    InvalidValue,
    LimitExceeded,
    NotFound,
    StoreBusy,
    StoreError,
    StoreUnavailable,
)

_FIELD = re.compile(r"at `([^`]+)`")
_STEP = re.compile(r"\[\.\.\.\]|\[\d+\]|\.[^.\[]+")
_WORD = re.compile(r"\w+")
_GOT = re.compile(r"got `(\w+)`")
_ENUM = re.compile(r"Invalid enum value (.+?)(?: - at `|$)")
_EXPECTED = re.compile(r"Expected `([^`]+)`")
# msgspec's constraint errors: a number's bound, a length's, a string's pattern.
_BOUND = re.compile(r"Expected `(?:int|float)` (>=|>|<=|<) (\S+) - at `")
_LENGTH = re.compile(r"Expected `(str|array|object)` of length (>=|<=) (\d+) - at `")
_PATTERN = re.compile(r"Expected `str` matching regex (.*) - at `")
_HOLDS: dict[str, Callable[[Any, Any], bool]] = {
    ">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt,
}  # fmt: skip
_SIZED: dict[str, type[Sized]] = {"str": str, "array": list, "object": dict}
_JSON_TYPES: dict[type, str] = {
    bool: "bool", int: "int", float: "float", str: "str", list: "array", dict: "object",
}  # fmt: skip
_UNKNOWN = re.compile(r"(?:unknown|missing required) field `([^`]+)`")
# Point and text rows are [step, ts, values] arrays on the wire; their indexes get names.
_ROW_INDEX = re.compile(r"(\$\.(?:points|texts)\[\d+\])\[([012])\]")
_ROW_NAMES = {"0": "step", "1": "ts", "2": "values"}
# msgspec's refusal of a body that is not JSON, and the literals Python's json.dumps writes for
# non-finite floats (the offset is where the letters start: "-Infinity" is refused at its "I").
_MALFORMED = re.compile(r"invalid character \(byte (\d+)\)$")
_LITERALS = (b"NaN", b"Infinity")
# A string, or a bracket or comma: what places a value in the document (see _path_at).
_TOKEN = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{},]', re.DOTALL)
_METHODS = ("DELETE", "GET", "HEAD", "PATCH", "POST", "PUT")
# The one place a store's refusal becomes an HTTP status; a kind not listed here is the
# store failing (503: the client retries), never the client's fault.
STORE_STATUS: dict[type[StoreError], int] = {
    NotFound: 404,
    Conflict: 409,
    InvalidValue: 400,
    LimitExceeded: 422,
    StoreBusy: 503,
    StoreUnavailable: 503,
}


class ApiError(Exception):
    """An error answered to the client as JSON with the given HTTP status."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = headers


def error_response(
    status: int,
    code: str,
    message: str,
    field: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    body = {"error": {"code": code, "message": message, "field": field}}
    return Response(
        msgspec.json.encode(body),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


def field_of(exc: Exception, body: bytes = b"") -> str | None:
    """The JSON path a msgspec error names, made readable: ``$.points[3].values.loss``.

    msgspec says ``[...]`` for a dict's key without naming it; the key is found by walking the
    body along the path (see :func:`resolve_keys`). Point rows are arrays on the wire; their
    indexes get names.
    """
    text = str(exc)
    match = _FIELD.search(text)
    path = resolve_keys(match.group(1), text, body) if match else "$"
    unknown = _UNKNOWN.search(text)
    if unknown:
        path = f"{path}.{unknown.group(1)}"
    return _row_names(path)


def _row_names(path: str) -> str:
    return _ROW_INDEX.sub(lambda m: f"{m.group(1)}.{_ROW_NAMES[m.group(2)]}", path)


def error_text(exc: Exception, body: bytes = b"") -> str:
    """msgspec's message with the dict keys its path leaves as ``[...]`` named."""
    text = str(exc)
    return _FIELD.sub(lambda m: f"at `{_row_names(resolve_keys(m.group(1), text, body))}`", text, 1)


def malformed(exc: msgspec.DecodeError, body: bytes) -> ApiError:
    """The 400 for a body that is not JSON. A ``NaN``, ``Infinity`` or ``-Infinity`` (which
    Python's ``json.dumps`` writes for non-finite floats) is named with where it is and the
    strings the wire takes for it instead."""
    text = f"body is not valid JSON: {exc}"
    at = _MALFORMED.search(str(exc))
    if at is None:
        return ApiError(400, "malformed_json", text)
    start = int(at.group(1))
    literal = next((word for word in _LITERALS if body.startswith(word, start)), None)
    if literal is None:
        return ApiError(400, "malformed_json", text)
    if body[start - 1 : start] == b"-":
        literal, start = b"-" + literal, start - 1
    path = _row_names(_path_at(body, start))
    return ApiError(
        400,
        "malformed_json",
        f"body is not valid JSON: {literal.decode()} at `{path}` is not a JSON number; send a "
        'value that is not finite as a string, "nan", "inf" or "-inf" (or "NaN", "Infinity", '
        '"-Infinity"), as the SDK does: a metric value reads it as the number',
        path,
    )


def _path_at(body: bytes, offset: int) -> str:
    """The path of the value that starts at ``offset`` in ``body``, all of whose bytes before
    it msgspec read as JSON: one pass over its strings, brackets and commas."""
    # Per open container: its index for an array; for an object, the key of the value being
    # read (None before its first key and after each comma).
    inside: list[int | str | None] = []
    for token in _TOKEN.finditer(body, 0, offset):
        mark = token.group()
        if mark == b"{":
            inside.append(None)
        elif mark == b"[":
            inside.append(0)
        elif mark in (b"}", b"]"):
            inside.pop()
        elif mark == b",":
            last = inside[-1]
            inside[-1] = last + 1 if isinstance(last, int) else None
        elif inside and inside[-1] is None:  # a string where a key is due is the key
            inside[-1] = json.loads(mark)
    return "$" + "".join(_key_step(s) if isinstance(s, str) else f"[{s}]" for s in inside)


def _key_step(key: str) -> str:
    """A dict key as a path step: ``.lr``, or ``["a b"]`` for a key that is not a word."""
    return f".{key}" if _WORD.fullmatch(key) else f"[{json.dumps(key)}]"


def resolve_keys(path: str, text: str, body: bytes) -> str:
    """``path`` with each ``[...]`` replaced by the key it stands for (``.lr``, or
    ``["a b"]`` for a key that is not a word), or unchanged when the body does not tell.

    msgspec stops at the first bad value in the document's order, so the key is that of the
    first value, in order, that is at the rest of the path and is what ``text`` says is wrong
    (its JSON type, a number out of range, a missing or unknown field, a broken bound, length
    or pattern).
    """
    if "[...]" not in path:
        return path
    try:
        # Python's reader, not msgspec's: it takes the 1e999 that msgspec refused.
        doc = json.loads(body)
    except (ValueError, RecursionError):
        return path
    steps = [m.group(0) for m in _STEP.finditer(path[1:])]
    found = _walk(doc, steps, "$", _fits(text))
    return path if found is None else found


def _walk(node: Any, steps: list[str], shown: str, fits: Callable[[Any], bool]) -> str | None:
    """The first path from ``node`` along ``steps`` whose value ``fits``, keys named."""
    if not steps:
        return shown if fits(node) else None
    step, rest = steps[0], steps[1:]
    if step == "[...]":
        if not isinstance(node, dict):
            return None
        for key, value in node.items():
            found = _walk(value, rest, shown + _key_step(key), fits)
            if found is not None:
                return found
        return None
    if step.startswith("["):
        index = int(step[1:-1])
        if not isinstance(node, list) or index >= len(node):
            return None
        return _walk(node[index], rest, shown + step, fits)
    if not isinstance(node, dict) or step[1:] not in node:
        return None
    return _walk(node[step[1:]], rest, shown + step, fits)


def _json_type(value: Any) -> str:
    """msgspec's name for the JSON type of a value Python's reader gave."""
    if value is None:
        return "null"
    return _JSON_TYPES.get(type(value), "")


def _fits(text: str) -> Callable[[Any], bool]:
    """Whether a value is one the msgspec error ``text`` can be about."""
    got = _GOT.search(text)
    if got:
        return lambda value: _json_type(value) == got.group(1)
    if text.startswith("Number out of range"):
        return lambda value: (
            (isinstance(value, float) and not math.isfinite(value))
            or (isinstance(value, int) and abs(value) >= 2**64)
        )
    enum = _ENUM.match(text)
    if enum:
        return lambda value: enum.group(1) in (repr(value), str(value))
    named = _UNKNOWN.search(text)
    if named:
        key, missing = named.group(1), named.group(0).startswith("missing")
        return lambda value: isinstance(value, dict) and (key in value) != missing
    broken = _broken(text)
    if broken is not None:
        return broken
    expected = _EXPECTED.match(text)
    if expected:
        # A constraint not checked above (a multiple of): the value is of the type named.
        types = {part.strip() for part in expected.group(1).split("|")}
        if "float" in types:
            types.add("int")
        if types <= set(_JSON_TYPES.values()) | {"null"}:
            return lambda value: _json_type(value) in types
    return lambda value: True


def _broken(text: str) -> Callable[[Any], bool] | None:
    """Whether a value breaks the constraint the msgspec error ``text`` names (``Expected `int`
    >= 0``), checked as msgspec does; None for an error that names no such constraint. A valid
    sibling before the culprit is of the same type, so the type alone would name it instead."""
    bound = _BOUND.match(text)
    if bound:
        holds, limit = _HOLDS[bound.group(1)], _number(bound.group(2))
        return lambda value: _json_type(value) in ("int", "float") and not holds(value, limit)
    length = _LENGTH.match(text)
    if length:
        sized, holds, size = _SIZED[length.group(1)], _HOLDS[length.group(2)], int(length.group(3))
        return lambda value: isinstance(value, sized) and not holds(len(value), size)
    pattern = _PATTERN.match(text)
    if pattern:
        regex = re.compile(ast.literal_eval(pattern.group(1)))  # msgspec writes its repr
        return lambda value: isinstance(value, str) and regex.search(value) is None
    return None


def _number(text: str) -> float:
    """A bound as msgspec writes it: an int exactly (64-bit bounds lose digits as floats)."""
    try:
        return int(text)
    except ValueError:
        return float(text)


def store_status(exc: StoreError) -> int:
    """The HTTP status of a store's refusal."""
    return next((STORE_STATUS[k] for k in type(exc).__mro__ if k in STORE_STATUS), 503)


def install(app: FastAPI) -> None:
    """Answer every error in the one shape above."""

    @app.exception_handler(ApiError)
    async def _api(_: Request, exc: ApiError) -> Response:
        return error_response(exc.status, exc.code, exc.message, exc.field, exc.headers)

    @app.exception_handler(StoreError)
    async def _store(_: Request, exc: StoreError) -> Response:
        return error_response(store_status(exc), exc.code, exc.message, exc.field)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {}
        field = ".".join(str(p) for p in first.get("loc", ()))
        return error_response(
            400, "invalid_request", str(first.get("msg", "invalid request")), field
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        headers = exc.headers
        if exc.status_code == 405:
            headers = {"Allow": ", ".join(allowed_methods(request))}
        return error_response(exc.status_code, code, str(exc.detail), headers=headers)


def allowed_methods(request: Request) -> list[str]:
    """Every method some route takes at this path (RFC 9110's ``Allow``): Starlette names only
    the first route that matched the path, and a path may have one route per method."""
    routes = request.app.router.routes
    return [
        method
        for method in _METHODS
        if any(r.matches({**request.scope, "method": method})[0] is Match.FULL for r in routes)
    ]
