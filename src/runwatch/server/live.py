"""Live routes: a run's records over WebSocket or SSE, and runs-list deltas over WebSocket."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Coroutine
from typing import Annotated, Any

import msgspec
from fastapi import APIRouter, Header, Query, Request, WebSocket
from starlette.responses import StreamingResponse
from starlette.websockets import WebSocketDisconnect

from runwatch.protocol import INT64_MAX
from runwatch.server.api import READ, Cursor, nul_field, run_or_404
from runwatch.server.auth import WS_FORBIDDEN, WS_UNAUTHORIZED, Authenticator, Principal
from runwatch.server.bus_notice import BusNotice
from runwatch.server.fanout import LiveItem, Subscriber, frame_text, run_stream
from runwatch.server.runs_feed import Watch
from runwatch.server.wire import Frame, frame_writer
from runwatch.store.base import RunInfo

router = APIRouter(prefix="/api/v1")
WS_BAD_REQUEST = 4400
WS_RUN_NOT_FOUND = 4404
MAX_REASON = 123  # bytes of a close frame's reason
REVOKED = "token revoked or expired"


async def _until_disconnect(
    websocket: WebSocket, principal: Principal, work: Callable[[], Coroutine[Any, Any, None]]
) -> None:
    """Run ``work`` until it ends, the client goes away or the caller's token is revoked or
    expires (then the socket is closed with 4401), whichever is first."""
    auth: Authenticator = websocket.app.state.auth
    with auth.watch(principal) as revoked:
        sender: asyncio.Task[Any] = asyncio.create_task(work())

        async def listen() -> None:
            with contextlib.suppress(WebSocketDisconnect):
                while True:
                    message = await websocket.receive()
                    if message["type"] == "websocket.disconnect":
                        return

        listener = asyncio.create_task(listen())
        expiry = asyncio.create_task(revoked.wait())
        done, pending = await asyncio.wait(
            {sender, listener, expiry}, return_when=asyncio.FIRST_COMPLETED
        )
        for task in pending:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError):
                await task
        for task in done:
            with contextlib.suppress(WebSocketDisconnect, RuntimeError):
                task.result()
        if expiry in done and listener not in done:
            with contextlib.suppress(WebSocketDisconnect, RuntimeError):
                await websocket.close(code=WS_UNAUTHORIZED, reason=REVOKED)


async def _until_revoked(
    auth: Authenticator, principal: Principal, source: AsyncGenerator[str, None]
) -> AsyncIterator[str]:
    """``source``'s items until it ends or the caller's token is revoked or expires; then one
    last ``close`` event with 4401 (a stream has no close code of its own)."""
    with auth.watch(principal) as revoked:
        expiry = asyncio.create_task(revoked.wait())
        item: asyncio.Future[str] | None = None
        try:
            while True:
                item = asyncio.ensure_future(anext(source))
                await asyncio.wait({item, expiry}, return_when=asyncio.FIRST_COMPLETED)
                if not item.done():
                    close = {"code": WS_UNAUTHORIZED, "reason": REVOKED}
                    yield f"event: close\ndata: {msgspec.json.encode(close).decode()}\n\n"
                    return
                try:
                    text = item.result()
                except StopAsyncIteration:
                    return
                item = None
                yield text
        finally:
            expiry.cancel()
            if item is not None and not item.done():
                item.cancel()
                with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                    await item
            await source.aclose()


async def _close(websocket: WebSocket, code: int, reason: str) -> None:
    """Close with ``reason`` cut to what a close frame holds (123 bytes of UTF-8): it may quote
    a long run id or project name, and a longer reason would fail the close itself."""
    data = reason.encode()
    if len(data) > MAX_REASON:
        reason = data[: MAX_REASON - 3].decode(errors="ignore") + "…"
    await websocket.close(code=code, reason=reason)


async def _accept(websocket: WebSocket, project: str | None = None) -> Principal | None:
    """Accept, then close with 4400 (a NUL in a parameter), 4401 (no valid token) or 4403 (not
    allowed): a close code needs an open socket (a refused handshake is only an HTTP 403,
    which scripts never see)."""
    await websocket.accept()
    field = nul_field(websocket)
    if field is not None:  # as on HTTP (400): no name or id holds one, and no store may see it
        await _close(websocket, WS_BAD_REQUEST, f"{field} may not contain NUL")
        return None
    principal: Principal | None = await websocket.app.state.auth.principal(websocket)
    if principal is None:
        await _close(websocket, WS_UNAUTHORIZED, "missing or invalid token")
        return None
    if not principal.permits("read"):
        reason = f"a {principal.scope!r} token cannot read this: it needs 'read'"
        await _close(websocket, WS_FORBIDDEN, reason)
        return None
    return principal if await _sees(websocket, principal, project) else None


async def _sees(websocket: WebSocket, principal: Principal, project: str | None) -> bool:
    """Whether the caller may read ``project`` (None: no project yet); else closed with 4403."""
    if project is None or principal.sees(project):
        return True
    reason = f"this token is limited to project {principal.project!r}"
    await _close(websocket, WS_FORBIDDEN, reason)
    return False


async def _run_seen(websocket: WebSocket, principal: Principal, run_id: str) -> RunInfo | None:
    """The run ``run_id`` if the caller may read it; else None, the socket closed with 4404 (no
    such run) or 4403 (another project's)."""
    run: RunInfo | None = await websocket.app.state.store.get_run(run_id)
    if run is not None and not await _sees(websocket, principal, run.project):
        return None
    if run is None:
        await _close(websocket, WS_RUN_NOT_FOUND, f"no run with id {run_id!r}")
    return run


@router.websocket("/runs/{run_id}/live")
async def run_live(websocket: WebSocket, run_id: str, since: Cursor = 0) -> None:
    """Every record with seq > ``since``, replayed then live, in order; ends after run.closed."""
    store, hub = websocket.app.state.store, websocket.app.state.hub
    principal = await _accept(websocket)
    if principal is None:
        return
    run = await _run_seen(websocket, principal, run_id)
    if run is None:
        return

    # Under ``runwatch serve`` every data frame goes through the writer, shared with the hub.
    writer = frame_writer(websocket.scope)

    async def send(items: list[LiveItem]) -> None:
        if writer is not None:
            await writer.send(Frame(frame_text(items)))
        else:
            await websocket.send_text(frame_text(items))

    async def send_all() -> None:
        lag = websocket.app.state.reset_lag
        stream = run_stream(store, hub, run_id, max(since, 0), lag, writer)
        async with contextlib.aclosing(stream):
            async for items in stream:
                await send(items)
                del items  # the stream may now wait for hours (direct writes): hold no texts
        await websocket.close(code=1000, reason="run closed")

    await _until_disconnect(websocket, principal, send_all)


def _last_event_id(header: str | None) -> int | None:
    """The seq a reconnecting EventSource resumes after: one this server sent (64 bits), else
    None (any other value is not ours to resume from)."""
    text = (header or "").strip()
    if text.isascii() and text.isdigit() and int(text) <= INT64_MAX:
        return int(text)
    return None


# One Server-Sent Event as a reader parses it: ``id`` is the record's seq, ``data`` its JSON.
SSE_EVENT = {
    "type": "object",
    "properties": {"id": {"type": "string"}, "data": {"type": "string"}},
    "required": ["id", "data"],
}


class EventStream(StreamingResponse):
    """Server-Sent Events: as the route's response class, the OpenAPI document declares them."""

    media_type = "text/event-stream"


@router.get(
    "/runs/{run_id}/stream",
    dependencies=READ,
    response_class=EventStream,
    responses={200: {"content": {"text/event-stream": {"schema": SSE_EVENT}}}},
)
async def run_sse(
    request: Request,
    run_id: str,
    since: Annotated[int | None, Query(ge=0, le=INT64_MAX)] = None,
    last_event_id: str | None = Header(None),
) -> EventStream:
    """The same records as Server-Sent Events; ``Last-Event-ID`` resumes after that seq."""
    store, hub = request.app.state.store, request.app.state.hub
    await run_or_404(request, run_id)
    resumed = _last_event_id(last_event_id)
    start = resumed if resumed is not None else since or 0

    async def events() -> AsyncGenerator[str, None]:
        stream = run_stream(store, hub, run_id, start, request.app.state.reset_lag)
        async with contextlib.aclosing(stream):
            async for items in stream:
                yield "".join(f"id: {seq}\ndata: {text}\n\n" for seq, text in items)

    principal: Principal = request.state.principal
    watched = _until_revoked(request.app.state.auth, principal, events())
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return EventStream(watched, headers=headers)


@router.websocket("/live")
async def runs_live(
    websocket: WebSocket, project: str | None = None, run: str | None = None
) -> None:
    """The runs list as a snapshot, then one ``run`` message per changed run (and ``bus``
    messages: see ``bus_notice``); with ``run``, of that one run only (its page follows its
    renames here once its own stream has ended)."""
    principal = await _accept(websocket, project)
    if principal is None:
        return
    project = project or principal.project
    feed = websocket.app.state.runs_feed
    if run is not None and await _run_seen(websocket, principal, run) is None:
        return
    watch = Watch(project, run)
    viewer = Subscriber()
    feed.add_viewer(viewer, watch)

    async def send_all() -> None:
        runs = await feed.runs(watch)
        seq = feed.next_seq()
        await websocket.send_text(
            msgspec.json.encode({"seq": seq, "type": "runs", "runs": runs}).decode()
        )
        notice = BusNotice(websocket.app.state.hub.bus)  # later changes come from the feed
        if notice.update():
            await websocket.send_text(notice.message(feed.next_seq())[1])
        while True:
            await viewer.wait()
            items = viewer.drain()
            if viewer.overflowed:
                viewer.overflowed = False
                seq = feed.next_seq()
                items = [(seq, f'{{"seq":{seq},"type":"reset"}}')]
            if items:
                await websocket.send_text(frame_text(items))

    try:
        await _until_disconnect(websocket, principal, send_all)
    finally:
        feed.remove_viewer(viewer)
