"""uvicorn's websockets-sansio protocol offering a :class:`~runwatch.server.wire.FrameWriter` to
the app, and the check that the installed uvicorn still has what it relies on.

It reaches into that protocol's non-public parts (its module, its attributes), which a uvicorn
release may change: ``runwatch serve`` checks with :func:`missing_support` at start and, when
something is missing, serves with uvicorn's own protocol instead (see ``serve``). Importing
this module fails when the protocol's module itself is gone.
"""

from __future__ import annotations

import asyncio
import dis
from typing import Any, get_type_hints

import uvicorn
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from uvicorn.server import ServerState
from websockets.http11 import Request
from websockets.server import ServerProtocol

from runwatch.server.wire import EXTENSION, Connection, FrameWriter, deflate_window

# What FrameProtocol uses beyond ``Connection`` (which FrameWriter uses), set up by the
# protocol's __init__ ...
ON_INIT: dict[str, type] = {"conn": ServerProtocol}
# ... and by its handle_connect (the handshake).
ON_HANDSHAKE = ("response", "scope")


class FrameProtocol(WebSocketsSansIOProtocol):
    """uvicorn's websockets-sansio protocol, offering a :class:`FrameWriter` to the app."""

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        if self.response.status_code == 101:  # the app's task is created, not yet started
            scope: dict[str, Any] = self.scope  # type: ignore[assignment]
            window = deflate_window(self.conn.extensions)
            scope["extensions"][EXTENSION] = FrameWriter(self, window)


def missing_support(protocol: type[asyncio.Protocol]) -> str | None:
    """What ``protocol`` (uvicorn's websockets-sansio protocol or a subclass) lacks of what
    FrameProtocol relies on, in words; None when nothing is missing.

    The attributes its __init__ sets are looked for on a fresh, unconnected instance; those
    its handle_connect sets, among the attributes that method (and those it overrides) assign."""
    try:
        instance = _unconnected(protocol)
        handshake = _assigned(protocol, "handle_connect")
    except Exception as error:  # any change to what we call: unsupported, never a crash
        return f"{protocol.__qualname__} cannot be inspected: {error!r}"
    wanted = {**get_type_hints(Connection), **ON_INIT}
    missing = [name for name in wanted if not hasattr(instance, name)]
    missing += [name for name in ON_HANDSHAKE if name not in handshake]
    wrong = [
        f"{name} is {type(value).__name__}, not {kind.__name__}"
        for name, kind in wanted.items()
        if (value := getattr(instance, name, None)) is not None and not isinstance(value, kind)
    ]
    if not missing and not wrong:
        return None
    found = [f"no {name}" for name in missing] + wrong
    return f"{protocol.__qualname__} has changed: {', '.join(found)}"


def _unconnected(protocol: type[asyncio.Protocol]) -> object:
    """An instance as uvicorn makes one per connection, before the connection is made."""
    config = uvicorn.Config(_no_app, log_config=None, ws=protocol)
    config.load()
    loop = asyncio.new_event_loop()
    try:
        return protocol(config=config, server_state=ServerState(), app_state={}, _loop=loop)  # type: ignore[call-arg]
    finally:
        loop.close()


def _assigned(cls: type, method: str) -> set[str]:
    """The attribute names (``x.name = ...``) that ``method`` assigns in any class of ``cls``'s
    MRO that defines it."""
    return {
        i.argval
        for klass in cls.__mro__
        if method in vars(klass)
        for i in dis.get_instructions(vars(klass)[method])
        if i.opname == "STORE_ATTR"
    }


async def _no_app(scope: Any, receive: Any, send: Any) -> None:
    """An ASGI app for the check's config; it never runs."""
