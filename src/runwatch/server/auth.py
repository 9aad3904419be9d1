"""Who may do what: bearer tokens with a scope (read, write, admin) and an optional project.

- ``read`` views: every GET, the live sockets and streams.
- ``write`` produces: creates runs, ingests batches, heartbeats, fetches its commands.
- ``admin`` does everything, including commands, cancel, promotion, retention and tokens.

The server requires a token once one exists (``runwatch token create``) or ``--token`` is set
(a bootstrap admin token from the command line or ``RUNWATCH_SERVER_TOKEN``). With neither, it
is open, and then only ever bound to loopback. Tokens are stored as SHA-256 hashes; lookups are
cached for :data:`CACHE_SECONDS`, so a revocation takes effect within that time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Literal

import msgspec
from starlette.requests import HTTPConnection

from runwatch.server.errors import ApiError
from runwatch.store.base import Store, TokenInfo

WS_UNAUTHORIZED = 4401
WS_FORBIDDEN = 4403
Scope = Literal["read", "write", "admin"]
SCOPES: tuple[Scope, ...] = ("read", "write", "admin")
TOKEN_PREFIX = "rw_"
CACHE_SECONDS = 5.0
CACHE_CAP = 10_000


class Principal(msgspec.Struct, frozen=True):
    """The caller: its scope and the one project it is limited to (None: every project)."""

    scope: Scope
    project: str | None = None
    token_id: int | None = None

    def permits(self, need: Scope) -> bool:
        return self.scope == "admin" or self.scope == need

    def sees(self, project: str) -> bool:
        return self.project is None or self.project == project


OPEN = Principal("admin")  # no auth configured: loopback only, everything allowed


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    # Tokens are 256 random bits: a plain hash is enough (no password-style stretching needed).
    return hashlib.sha256(token.encode()).hexdigest()


def presented_token(conn: HTTPConnection) -> str | None:
    """The token a request carries: ``Authorization: Bearer …``, or ``?token=`` for sockets."""
    header = conn.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return conn.query_params.get("token")


class Authenticator:
    """Turns a request's token into a :class:`Principal`, with a small bounded cache."""

    def __init__(self, store: Store, bootstrap: str | None) -> None:
        self._store = store
        self._bootstrap = bootstrap
        self._tokens: dict[str, tuple[float, TokenInfo | None]] = {}
        self._required: tuple[float, bool] = (0.0, bootstrap is not None)

    async def required(self) -> bool:
        """Whether calls need a token: a bootstrap token, or any live token in the store."""
        if self._bootstrap is not None:
            return True
        checked, required = self._required
        if time.monotonic() - checked > CACHE_SECONDS:
            required = await self._store.count_tokens() > 0
            self._required = (time.monotonic(), required)
        return required

    async def principal(self, conn: HTTPConnection) -> Principal | None:
        """The caller, or None when a token is needed and missing, unknown, revoked or expired."""
        token = presented_token(conn)
        bootstrap = self._bootstrap
        if token and bootstrap and hmac.compare_digest(token.encode(), bootstrap.encode()):
            return OPEN
        if not await self.required():
            return OPEN
        if token is None:
            return None
        info = await self._lookup(token_hash(token))
        if info is None or info.revoked_at is not None:
            return None
        if info.expires_at is not None and info.expires_at <= time.time():
            return None
        scope: Scope = info.scope  # type: ignore[assignment]
        return Principal(scope, info.project, info.id)

    async def _lookup(self, digest: str) -> TokenInfo | None:
        cached = self._tokens.get(digest)
        if cached is not None and time.monotonic() - cached[0] <= CACHE_SECONDS:
            return cached[1]
        info = await self._store.find_token(digest)
        if len(self._tokens) >= CACHE_CAP:
            self._tokens.clear()
        self._tokens[digest] = (time.monotonic(), info)
        return info


def need(scope: Scope) -> Callable[[HTTPConnection], Awaitable[Principal]]:
    """A FastAPI dependency: 401 without a valid token, 403 when its scope is not enough."""

    async def dependency(conn: HTTPConnection) -> Principal:
        principal: Principal | None = await conn.app.state.auth.principal(conn)
        if principal is None:
            raise ApiError(
                401,
                "unauthorized",
                "missing or invalid token: send 'Authorization: Bearer <token>'",
            )
        if not principal.permits(scope):
            raise ApiError(
                403, "forbidden", f"a {principal.scope!r} token cannot do this: it needs {scope!r}"
            )
        conn.state.principal = principal
        return principal

    return dependency


def check_project(conn: HTTPConnection, project: str) -> None:
    """403 when the caller's token is limited to another project."""
    principal: Principal | None = getattr(conn.state, "principal", None)
    if principal is not None and not principal.sees(project):
        raise ApiError(403, "forbidden", f"this token is limited to project {principal.project!r}")
