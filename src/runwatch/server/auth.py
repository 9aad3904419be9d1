"""Who may do what: bearer tokens with a scope (read, write, admin) and an optional project.

- ``read`` views: every GET, the live sockets and streams.
- ``write`` produces: creates runs, ingests batches, heartbeats, fetches its commands.
- ``admin`` does everything, including commands, cancel, promotion, retention and tokens.
- Any valid token, whatever its scope, may ask ``GET /api/v1/whoami`` what it may do.

The server requires a token once one exists (``runwatch token create``) or ``--token`` is set
(a bootstrap admin token from the command line or ``RUNWATCH_SERVER_TOKEN``). With neither, a
loopback-bound server is open; a server bound beyond loopback is *closed*: it refuses every
request until a valid token exists again (it never falls open). Tokens are stored as SHA-256
hashes; lookups are cached for :data:`CACHE_SECONDS`, so a revocation takes effect within that
time, and open sockets and streams re-check their token every :data:`WATCH_SECONDS`.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Literal

import msgspec
from starlette.requests import HTTPConnection

from runwatch.server.errors import ApiError
from runwatch.store.base import TokenInfo, TokenStore

WS_UNAUTHORIZED = 4401
WS_FORBIDDEN = 4403
Scope = Literal["read", "write", "admin"]
# open: no token needed; tokens: a valid token needed; closed: needed, and none is valid.
AuthMode = Literal["open", "tokens", "closed"]
FORWARDED_HEADERS = ("forwarded", "x-forwarded-for", "x-real-ip")
SCOPES: tuple[Scope, ...] = ("read", "write", "admin")
# What a route needs: a scope, or ``any`` valid token whatever its scope (whoami: a token may
# always ask what it may do). Scopes are not ranked: ``admin`` does all, the others their own.
Need = Literal["read", "write", "admin", "any"]
TOKEN_PREFIX = "rw_"
CACHE_SECONDS = 5.0
CACHE_CAP = 10_000
WATCH_SECONDS = 2.0  # between re-checks of the tokens of open sockets and streams


class Principal(msgspec.Struct, frozen=True):
    """The caller: its scope and the one project it is limited to (None: every project)."""

    scope: Scope
    project: str | None = None
    token_id: int | None = None
    token_hash: str | None = None  # what a long-lived socket re-checks

    def permits(self, need: Need) -> bool:
        return self.scope == "admin" or need in ("any", self.scope)

    def sees(self, project: str) -> bool:
        return self.project is None or self.project == project


class Whoami(msgspec.Struct, frozen=True):
    """What the caller's token may do (``GET /api/v1/whoami``), so a page offers only that:
    its scope, the one project it is limited to (None: every project), and ``auth``: ``open``
    (no token needed, everything allowed: scope ``admin``) or ``tokens``."""

    scope: Scope
    project: str | None
    auth: Literal["open", "tokens"]


OPEN = Principal("admin")  # no auth configured: loopback only, everything allowed


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    # Tokens are 256 random bits: a plain hash is enough (no password-style stretching needed).
    return hashlib.sha256(token.encode()).hexdigest()


def presented_token(conn: HTTPConnection) -> str | None:
    """The token a request carries: ``Authorization: Bearer …``; a socket may instead pass
    ``?token=`` (a browser's WebSocket cannot send headers). A plain HTTP request may not: a
    token in a URL ends up in logs, histories and ``Referer`` headers."""
    header = conn.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    if conn.scope["type"] == "websocket":
        return conn.query_params.get("token")
    return None


def _valid(info: TokenInfo | None, now: float) -> bool:
    return (
        info is not None
        and info.revoked_at is None
        and (info.expires_at is None or info.expires_at > now)
    )


class Authenticator:
    """Turns a request's token into a :class:`Principal`, with a small bounded cache; tells
    open sockets when their token is revoked or expires (:meth:`watch`, :meth:`sweep`)."""

    def __init__(self, store: TokenStore, bootstrap: str | None, public: bool = False) -> None:
        self._store = store
        self._bootstrap = bootstrap
        self._public = public  # bound beyond loopback: never open
        self._tokens: dict[str, tuple[float, TokenInfo | None]] = {}
        self._mode: tuple[float, AuthMode] = (-CACHE_SECONDS - 1.0, "open")
        self._watched: dict[str, set[asyncio.Event]] = {}

    async def mode(self) -> AuthMode:
        """``tokens`` with a bootstrap token or any live token in the store; with none,
        ``closed`` (every request refused) beyond loopback or once a token was ever created
        (revoking or outliving the last one must not open the server), else ``open``."""
        if self._bootstrap is not None:
            return "tokens"
        checked, mode = self._mode
        if time.monotonic() - checked > CACHE_SECONDS:
            if await self._store.count_tokens() > 0:
                mode = "tokens"
            elif self._public or await self._store.tokens_created():
                mode = "closed"
            else:
                mode = "open"
            self._mode = (time.monotonic(), mode)
        return mode

    async def principal(self, conn: HTTPConnection) -> Principal | None:
        """The caller, or None when a token is needed and missing, unknown, revoked or expired."""
        token = presented_token(conn)
        bootstrap = self._bootstrap
        if token and bootstrap and hmac.compare_digest(token.encode(), bootstrap.encode()):
            return OPEN
        mode = await self.mode()
        if mode == "open":
            return None if forwarded(conn) else OPEN
        if token is None or mode == "closed":  # closed: no token is valid, whatever is cached
            return None
        digest = token_hash(token)
        info = await self._lookup(digest)
        if info is None or not _valid(info, time.time()):
            return None
        scope: Scope = info.scope  # type: ignore[assignment]
        return Principal(scope, info.project, info.id, digest)

    @contextmanager
    def watch(self, principal: Principal) -> Iterator[asyncio.Event]:
        """An event set once the principal's token is revoked or expires (never for an open
        server or the bootstrap token: nothing can revoke those); for the socket's lifetime."""
        revoked = asyncio.Event()
        digest = principal.token_hash
        if digest is None:
            yield revoked
            return
        self._watched.setdefault(digest, set()).add(revoked)
        try:
            yield revoked
        finally:
            watchers = self._watched.get(digest)
            if watchers is not None:
                watchers.discard(revoked)
                if not watchers:
                    del self._watched[digest]

    async def sweep(self, now: float) -> None:
        """Re-read each watched token from the store (once per token, whatever the number of
        its sockets) and signal the sockets of those no longer valid. Each replica sweeps its
        own sockets against the shared store, so a revocation reaches all of them."""
        for digest in list(self._watched):
            info = await self._store.find_token(digest)
            self._remember(digest, info)
            if not _valid(info, now):
                for revoked in self._watched.get(digest, ()):
                    revoked.set()

    async def _lookup(self, digest: str) -> TokenInfo | None:
        cached = self._tokens.get(digest)
        if cached is not None and time.monotonic() - cached[0] <= CACHE_SECONDS:
            return cached[1]
        info = await self._store.find_token(digest)
        self._remember(digest, info)
        return info

    def _remember(self, digest: str, info: TokenInfo | None) -> None:
        if len(self._tokens) >= CACHE_CAP:
            self._tokens.clear()
        self._tokens[digest] = (time.monotonic(), info)


def forwarded(conn: HTTPConnection) -> bool:
    """Whether a reverse proxy forwarded the request: an open server, though bound to loopback,
    is then reachable from wherever the proxy listens, so such a request needs a token."""
    return any(header in conn.headers for header in FORWARDED_HEADERS)


def need(scope: Need) -> Callable[[HTTPConnection], Awaitable[Principal]]:
    """A FastAPI dependency: 401 without a valid token, 403 when its scope is not enough (never
    for ``any``)."""

    async def dependency(conn: HTTPConnection) -> Principal:
        auth: Authenticator = conn.app.state.auth
        principal = await auth.principal(conn)
        if principal is None:
            raise ApiError(401, "unauthorized", await _unauthorized(auth))
        if not principal.permits(scope):
            raise ApiError(
                403, "forbidden", f"a {principal.scope!r} token cannot do this: it needs {scope!r}"
            )
        conn.state.principal = principal
        return principal

    return dependency


async def _unauthorized(auth: Authenticator) -> str:
    mode = await auth.mode()
    if mode == "closed":
        return (
            "this server is closed: no valid token exists (it is bound beyond loopback, or "
            "every token it had was revoked or expired); an operator must create one "
            "(`runwatch token create`)"
        )
    if mode == "open":  # open, yet refused: the request came through a proxy
        return (
            "this server has no tokens, so it answers on loopback only, and this request came "
            "through a proxy (Forwarded, X-Forwarded-For or X-Real-IP): create a token "
            "(`runwatch token create`) to serve it through one"
        )
    return (
        "missing or invalid token: send 'Authorization: Bearer <token>' "
        "(a ?token= query is accepted on sockets only)"
    )


def check_project(conn: HTTPConnection, project: str) -> None:
    """403 when the caller's token is limited to another project."""
    principal: Principal | None = getattr(conn.state, "principal", None)
    if principal is not None and not principal.sees(project):
        raise ApiError(403, "forbidden", f"this token is limited to project {principal.project!r}")
