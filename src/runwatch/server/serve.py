"""Run the app under uvicorn on a socket we bind ourselves (so port 0 works and is reported)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import socket
import sys

import uvicorn

from runwatch.server.app import create_app
from runwatch.server.settings import Settings, is_loopback
from runwatch.store.location import describe
from runwatch.tokens import auth_configured, tokens_created

logger = logging.getLogger("runwatch.server")


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port``; a refusal (the port in use, an address this machine
    does not have) is an OSError naming both, which the CLI prints as its one line."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        shown = f"[{host}]" if ":" in host else host
        raise OSError(f"cannot bind {shown}:{port}: {exc.strerror or exc}") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def serve(settings: Settings) -> None:
    """Serve until interrupted; prints ``runwatch listening on URL`` once the socket is bound."""
    settings.check_bind(auth_configured(settings.store_location, settings.token))
    serve_socket(settings, bind(settings.host, settings.port))


def serve_socket(settings: Settings, sock: socket.socket) -> None:
    """Serve on an already bound socket until interrupted."""
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    location = settings.store_location
    if not is_loopback(host) or tokens_created(location):
        # Beyond loopback, or once it has had tokens, the server never opens up: with no valid
        # token it refuses everything.
        auth = "tokens required; every request is refused whenever no valid token exists"
    else:
        auth = "tokens required" if settings.token else "no auth: loopback only"
    # Launchers started by the scheduler need the port actually bound (``--port 0``).
    settings = dataclasses.replace(settings, port=port)
    app = create_app(settings)  # before the line: what it refuses (templates) is said instead
    print(f"runwatch listening on http://{shown}:{port} ({auth}; data in {describe(location)})")
    sys.stdout.flush()
    config = uvicorn.Config(
        app,
        log_level="warning",
        ws=websocket_protocol(),
        ws_max_size=16 * 1024 * 1024,
        timeout_graceful_shutdown=3,
    )
    _Server(config, app.state.stopping).run(sockets=[sock])


class _Server(uvicorn.Server):
    """uvicorn, telling the app when shutdown begins: uvicorn waits for open requests before
    the app's lifespan ends, so a producer's long-poll must learn of it here to end at once."""

    def __init__(self, config: uvicorn.Config, stopping: asyncio.Event) -> None:
        super().__init__(config)
        self._stopping = stopping

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self._stopping.set()
        await super().shutdown(sockets)


def websocket_protocol(
    protocol: type[asyncio.Protocol] | None = None,
) -> type[asyncio.Protocol] | str:
    """uvicorn's ``ws``: ``protocol`` (default: FrameProtocol, which encodes live frames once for
    all viewers: see ``server.wire``) when the installed uvicorn has all it relies on; else
    uvicorn's own choice ("auto"), after one warning: live frames then go out with send_text."""
    problem: str | None
    try:
        from runwatch.server.frame_protocol import FrameProtocol, missing_support
    except Exception as error:  # the uvicorn module it builds on has gone, or moved
        problem = f"cannot load it: {error!r}"
    else:
        chosen = protocol or FrameProtocol
        problem = missing_support(chosen)
        if problem is None:
            return chosen
    logger.warning(
        "uvicorn %s lacks what runwatch's shared live frames need (%s): serving with uvicorn's"
        " own WebSocket protocol, each viewer's frames encoded for it alone",
        uvicorn.__version__,
        problem,
    )
    return "auto"
