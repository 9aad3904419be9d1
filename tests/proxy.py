"""A recording HTTP proxy on loopback: forwards each request to a real server and notes when it
came, what it was answered and which image blobs it uploaded, so a test can see how a client
paced and grouped its requests; it can answer chosen requests 503 itself, so a test holds them
back from the server."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any

import httpx
import msgspec

from tests.loopback import LoopbackHTTPServer

# Hop-by-hop or recomputed: the proxy sends the body it read, whole and decoded.
_DROPPED = {"host", "connection", "content-length", "transfer-encoding", "content-encoding"}


@dataclass(frozen=True)
class Exchange:
    """One request through the proxy: when it arrived (``time.monotonic()``) and its answer."""

    at: float
    method: str
    path: str  # without the query string
    status: int
    retry_after: str | None
    blobs: tuple[str, ...] | None = None  # the image blobs it uploaded (see blobs_carried)


class RecordingProxy(LoopbackHTTPServer):
    """``with RecordingProxy(server.url) as proxy: ... proxy.url ... proxy.exchanges``.

    ``before(method, path)`` is called before each request is forwarded (something the test
    does to the server between a client's requests); when it returns False, the request is
    dropped instead: not forwarded, and the connection closed unanswered (a lost client's).
    ``refuse(method, path, body)``: while it is true for a request, the proxy answers it 503
    without forwarding it (recorded as such).
    """

    def __init__(
        self,
        target: str,
        before: Callable[[str, str], bool | None] | None = None,
        refuse: Callable[[str, str, bytes], bool] = lambda m, p, b: False,
    ) -> None:
        self.exchanges: list[Exchange] = []
        client = httpx.Client(base_url=target, timeout=60)
        recorded = self.exchanges

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the client would have with the server

            def forward(self) -> None:
                at = time.monotonic()
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _DROPPED}
                path = self.path.split("?", 1)[0]
                if before is not None and before(self.command, path) is False:
                    self.close_connection = True
                    return
                if refuse(self.command, path, body):
                    reply = httpx.Response(503, content=b"held back by the test proxy")
                else:
                    reply = client.request(self.command, self.path, content=body, headers=headers)
                retry_after = reply.headers.get("retry-after")
                blobs = blobs_carried(self.command, path, body)
                recorded.append(
                    Exchange(at, self.command, path, reply.status_code, retry_after, blobs)
                )
                self.send_response(reply.status_code)
                for key, value in reply.headers.items():
                    if key.lower() not in _DROPPED:
                        self.send_header(key, value)
                self.send_header("content-length", str(len(reply.content)))
                self.end_headers()
                self.wfile.write(reply.content)

            do_GET = do_POST = do_PUT = do_DELETE = forward

            def log_message(self, *args: Any) -> None:
                return None

        self._client = client
        super().__init__(Handler)
        self.url = f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc: object) -> None:
        super().__exit__(*exc)
        self._client.close()


def blobs_carried(method: str, path: str, body: bytes) -> tuple[str, ...] | None:
    """The hashes of the image blobs a request uploads (a ``PUT …/blobs/{sha256}``'s one, a
    grouped ``POST …/blobs``'s manifest, in order); None for any other request."""
    if method == "PUT" and "/blobs/" in path:
        return (path.rsplit("/", 1)[1],)
    if method == "POST" and path.endswith("/blobs"):
        manifest = msgspec.json.decode(body.split(b"\n", 1)[0])
        return tuple(blob["sha256"] for blob in manifest["blobs"])
    return None
