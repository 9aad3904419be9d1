"""Bearer-token check for HTTP routes and sockets (one shared token; no token = open, loopback only)."""

from __future__ import annotations

import hmac

from starlette.requests import HTTPConnection

from runwatch.server.errors import ApiError

WS_UNAUTHORIZED = 4401
WS_FORBIDDEN = 4403


def presented_token(conn: HTTPConnection) -> str | None:
    """The token a request carries: ``Authorization: Bearer …``, or ``?token=`` for sockets."""
    header = conn.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return conn.query_params.get("token")


def is_authorized(conn: HTTPConnection, expected: str | None) -> bool:
    if expected is None:
        return True
    token = presented_token(conn)
    return token is not None and hmac.compare_digest(token.encode(), expected.encode())


def require_token(conn: HTTPConnection) -> None:
    """FastAPI dependency: 401 unless the request carries the server's token."""
    expected = conn.app.state.settings.token
    if not is_authorized(conn, expected):
        raise ApiError(
            401, "unauthorized", "missing or invalid token: send 'Authorization: Bearer <token>'"
        )
