"""The managed TensorBoard, same-origin: a reverse proxy the run page embeds in a frame.

``/api/v1/runs/{run_id}/tensorboard/proxy/…`` forwards to that run's managed TensorBoard on its
loopback port and nowhere else (no open proxy: the target host and port come from the server's
own process table, only the path from the request). TensorBoard runs with that path as its
``--path_prefix``, so the request path is forwarded as it came. Reads are authorised like every
other read of the run: a bearer token, or the ticket cookie the page got for it
(:mod:`runwatch.server.tensorboard_tickets`). Bounded: a request body of at most
:data:`MAX_PROXY_BODY` bytes, answers of at most :data:`MAX_PROXY_RESPONSE` bytes, streamed,
with connect and read timeouts.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import httpx
from fastapi import APIRouter, Depends, Request
from starlette.background import BackgroundTask
from starlette.responses import Response, StreamingResponse

from runwatch.server import pages
from runwatch.server.api import READ, json_response, no_nul, read_body, run_or_404
from runwatch.server.auth import Principal, Scope, need, presented_token
from runwatch.server.errors import ApiError
from runwatch.server.openapi import refusal
from runwatch.server.settings import is_loopback
from runwatch.server.tensorboard import TensorBoardManager, proxy_path
from runwatch.server.tensorboard_tickets import COOKIE, TICKET_SECONDS, ProxyTickets

logger = logging.getLogger("runwatch.server")
router = APIRouter(prefix="/api/v1")

MAX_PROXY_BODY = 1024 * 1024  # TensorBoard's own POSTs are small forms (a tag and run names)
MAX_PROXY_RESPONSE = 64 * 1024 * 1024
# Paths the request guard lets TensorBoard's UI POST forms to (it refuses non-JSON bodies
# elsewhere); its Origin check still applies.
PROXY_PATH = re.compile(r"^/api/v1/runs/[^/]+/tensorboard/proxy/")
_FORWARDED = ("accept", "accept-encoding", "accept-language", "content-type", "if-none-match",
              "if-modified-since", "range", "if-range", "user-agent")  # fmt: skip
_RETURNED = ("content-type", "content-length", "content-encoding", "cache-control", "etag",
             "last-modified", "expires", "content-range", "accept-ranges")  # fmt: skip


def need_or_ticket(scope: Scope) -> Callable[[Request], Awaitable[Principal]]:
    """Like :func:`runwatch.server.auth.need`, and a valid proxy ticket for the run (the
    cookie the run page was given) also speaks for its token."""

    checked = need(scope)

    async def dependency(request: Request) -> Principal:
        ticket = request.cookies.get(COOKIE)
        if ticket and presented_token(request) is None:
            run_id = request.path_params["run_id"]
            principal = tickets_of(request).principal(ticket, run_id)
            if principal is not None and principal.permits(scope):
                request.state.principal = principal
                return principal
        return await checked(request)  # a bearer token, an open server, or 401/403

    return dependency


def tickets_of(request: Request) -> ProxyTickets:
    tickets: ProxyTickets = request.app.state.tensorboard_tickets
    return tickets


def _manager(request: Request) -> TensorBoardManager:
    manager: TensorBoardManager = request.app.state.tensorboards
    return manager


def _not_running(run_id: str) -> ApiError:
    return ApiError(
        404, "tensorboard_not_running", f"no TensorBoard is running for run {run_id!r}", "run"
    )


@router.get("/runs/{run_id}/tensorboard", dependencies=READ)
async def tensorboard_status(request: Request, run_id: str) -> Response:
    """Whether a managed TensorBoard runs for the run, and its proxy path and lease if so."""
    await run_or_404(request, run_id)
    info = _manager(request).get(run_id)
    if info is None:
        return json_response({"running": False, "proxy": None, "lease_until": None})
    return json_response({"running": True, "proxy": info.proxy, "lease_until": info.lease_until})


@router.post(
    "/runs/{run_id}/tensorboard/session",
    dependencies=READ,
    responses={404: refusal("`tensorboard_not_running`: start one first (admin).")},
)
async def tensorboard_session(request: Request, run_id: str) -> Response:
    """Renew the lease of the run's running TensorBoard (a viewer has it open) and give the
    caller a ticket cookie for its proxy, valid as long as the lease (call again to renew)."""
    await run_or_404(request, run_id)
    info = _manager(request).renew(run_id)
    if info is None:
        raise _not_running(run_id)
    ticket = tickets_of(request).issue(
        run_id, request.state.principal, request.app.state.auth, request.cookies.get(COOKIE)
    )
    response = json_response({"proxy": info.proxy, "lease_until": info.lease_until})
    response.set_cookie(
        COOKIE,
        ticket,
        max_age=int(TICKET_SECONDS),
        path=info.proxy,
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )
    return response


_PROXY_ROUTE = "/runs/{run_id}/tensorboard/proxy/{path:path}"
_PROXY_DEPENDENCIES = [Depends(need_or_ticket("read")), Depends(no_nul)]
_PROXY_REFUSALS: dict[int | str, dict[str, Any]] = {
    404: refusal("`tensorboard_not_running`: no TensorBoard runs for this run."),
    413: refusal(f"`body_too_large`: a request body over {MAX_PROXY_BODY:,} bytes."),
    502: refusal(
        "`tensorboard_unreachable`: TensorBoard did not answer; "
        f"`tensorboard_too_large`: its answer is over {MAX_PROXY_RESPONSE:,} bytes."
    ),
    504: refusal("`tensorboard_timeout`: TensorBoard did not answer in time."),
}


@router.get(_PROXY_ROUTE, dependencies=_PROXY_DEPENDENCIES, responses=_PROXY_REFUSALS,
            operation_id="tensorboard_proxy_get")  # fmt: skip
@router.post(_PROXY_ROUTE, dependencies=_PROXY_DEPENDENCIES, responses=_PROXY_REFUSALS,
             operation_id="tensorboard_proxy_post")  # fmt: skip
async def tensorboard_proxy(request: Request, run_id: str, path: str) -> Response:
    """The run's managed TensorBoard (its UI and data), through this server: only to that
    TensorBoard's loopback port, streamed, with a bounded body and answer."""
    await run_or_404(request, run_id)
    manager = _manager(request)
    info = manager.get(run_id)
    raw_path: bytes = request.scope.get("raw_path") or request.url.path.encode()
    prefix = f"{proxy_path(run_id)}/".encode()
    if info is None or not raw_path.startswith(prefix):
        raise _not_running(run_id)
    body = await read_body(request, MAX_PROXY_BODY) if request.method == "POST" else b""
    query: bytes = request.scope.get("query_string", b"")
    target = httpx.URL(
        scheme="http",
        host="127.0.0.1",
        port=info.port,
        raw_path=raw_path + (b"?" + query if query else b""),
    )
    headers = {k: v for k in _FORWARDED if (v := request.headers.get(k)) is not None}
    client = manager.http()
    try:
        upstream = await client.send(
            client.build_request(request.method, target, headers=headers, content=body),
            stream=True,
        )
    except httpx.TimeoutException:
        raise ApiError(504, "tensorboard_timeout", "TensorBoard did not answer in time") from None
    except httpx.HTTPError as exc:
        raise ApiError(
            502, "tensorboard_unreachable", f"TensorBoard did not answer: {exc}"
        ) from None
    declared = upstream.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_PROXY_RESPONSE:
        await upstream.aclose()
        raise ApiError(
            502,
            "tensorboard_too_large",
            f"TensorBoard's answer is over {MAX_PROXY_RESPONSE:,} bytes",
        )
    return StreamingResponse(
        _capped(upstream),
        status_code=upstream.status_code,
        headers=_returned_headers(request, upstream, info.port),
        background=BackgroundTask(upstream.aclose),
    )


async def _capped(upstream: httpx.Response) -> AsyncIterator[bytes]:
    """The answer's bytes as they come (still encoded: the browser decodes), ending at the cap
    (only an answer of undeclared length can reach it: a declared one over it was refused)."""
    sent = 0
    try:
        async for chunk in upstream.aiter_raw():
            sent += len(chunk)
            if sent > MAX_PROXY_RESPONSE:
                logger.warning("a TensorBoard answer was cut at %d bytes", MAX_PROXY_RESPONSE)
                return
            yield chunk
    except httpx.HTTPError:
        return  # TensorBoard went away mid-answer: the answer ends short
    finally:
        await upstream.aclose()


def _returned_headers(request: Request, upstream: httpx.Response, port: int) -> dict[str, str]:
    headers = {k: v for k in _RETURNED if (v := upstream.headers.get(k)) is not None}
    location = upstream.headers.get("location")
    if location is not None:
        parts = urlsplit(location)
        if parts.netloc in ("", f"127.0.0.1:{port}"):  # its own address becomes ours
            headers["location"] = parts.path + (f"?{parts.query}" if parts.query else "")
    csp = upstream.headers.get("content-security-policy")
    if csp is not None:
        # TensorBoard's own policy for its pages (its inline styles and hashed scripts), framed
        # only by the pages our own policy allows (it sets no frame-ancestors itself).
        ancestors = "'self'"
        if is_loopback(request.app.state.settings.host):
            ancestors += f" {pages.LOOPBACK_ANCESTORS}"
        headers["content-security-policy"] = f"{csp.rstrip('; ')}; frame-ancestors {ancestors}"
    return headers
