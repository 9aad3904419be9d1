"""One error shape for every failure: ``{"error": {"code", "message", "field"}}``."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import msgspec
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import Match

from runwatch.protocol import NON_FINITE
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
_UNKNOWN = re.compile(r"(?:unknown|missing required) field `([^`]+)`")
_ROW_INDEX = re.compile(r"(\$\.points\[\d+\])\[([012])\]")
_ROW_NAMES = {"0": "step", "1": "ts", "2": "values"}
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

    msgspec says ``[...]`` for a bad dict value without naming its key; the key is found by
    looking at the decoded body. Point rows are arrays on the wire; their indexes get names.
    """
    text = str(exc)
    match = _FIELD.search(text)
    path = match.group(1) if match else "$"
    unknown = _UNKNOWN.search(text)
    if unknown:
        path = f"{path}.{unknown.group(1)}"
    if path.endswith("[...]"):
        path = path[:-5] + _bad_key(body, path[:-5])
    return _ROW_INDEX.sub(lambda m: f"{m.group(1)}.{_ROW_NAMES[m.group(2)]}", path)


def _storable(value: Any) -> bool:
    """A number, null or a non-finite name (a list or dict is none of them, and unhashable)."""
    if isinstance(value, str):
        return value in NON_FINITE
    return value is None or isinstance(value, int | float)


def _bad_key(body: bytes, path: str) -> str:
    """``.key`` of the first value at ``path`` that is not a number, null or a non-finite
    name (``"nan"``, ``"inf"``, …): the only dict values that are ever checked."""
    try:
        node: Any = msgspec.json.decode(body)
        for part in re.findall(r"\.(\w+)|\[(\d+)\]", path):
            node = node[part[0]] if part[0] else node[int(part[1])]
        for key, value in node.items():
            if not _storable(value):
                return f".{key}"
    except (msgspec.DecodeError, KeyError, IndexError, TypeError, AttributeError):
        pass
    return "[...]"


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
