"""Refuse requests another website could make on a user's behalf (pure ASGI, before routing).

- A state-changing API call (or any socket) whose ``Origin`` is another site: 403, so a page
  elsewhere cannot drive a local runwatch, whatever auth is configured.
- A state-changing call with a body that is not JSON: 415 (plain HTML forms cannot send JSON),
  except to the TensorBoard proxy (TensorBoard's UI posts forms), an upload (a file's bytes),
  an image blob's upload in one of the blob types and a grouped upload of blobs in its own
  type; the Origin check still holds for all.
- Bound to loopback, a ``Host`` that is not a loopback name: 403 (DNS rebinding).
"""

from __future__ import annotations

from urllib.parse import urlsplit

import msgspec
from starlette.types import ASGIApp, Receive, Scope, Send

from runwatch.protocol import BLOBS_MIME, MEDIA_MIMES
from runwatch.server.settings import is_loopback
from runwatch.server.tensorboard_proxy import PROXY_PATH
from runwatch.server.uploads import UPLOAD_PATH

_MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_JSON_ONLY = "send the body as Content-Type: application/json"
_IMAGES_ONLY = (
    f"send the image as Content-Type: {', '.join(sorted(MEDIA_MIMES)[:-1])}"
    f" or {sorted(MEDIA_MIMES)[-1]}"
)
_BLOBS = f"send the blobs as Content-Type: {BLOBS_MIME}"


class RequestGuard:
    def __init__(self, app: ASGIApp, loopback_only: bool) -> None:
        self.app = app
        self.loopback_only = loopback_only

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            refusal = self._refusal(scope)
            if refusal is not None:
                await self._refuse(scope, receive, send, *refusal)
                return
        await self.app(scope, receive, send)

    def _refusal(self, scope: Scope) -> tuple[int, str, str] | None:
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get("host", "")
        if self.loopback_only and not is_loopback(urlsplit(f"//{host}").hostname or ""):
            return 403, "bad_host", f"this server answers only to loopback names, not {host!r}"
        websocket = scope["type"] == "websocket"
        mutating = scope.get("method") in _MUTATING and scope["path"].startswith("/api/")
        if not (websocket or mutating):
            return None
        origin = headers.get("origin")
        if origin and urlsplit(origin).netloc != host:
            return 403, "cross_site", f"requests from {origin!r} are refused (cross-site)"
        has_body = headers.get("content-length", "0") != "0" or "transfer-encoding" in headers
        kind = headers.get("content-type", "").split(";")[0].strip().lower()
        # TensorBoard's UI posts forms to its own routes, behind the proxy; an upload is a file.
        form_ok = PROXY_PATH.match(scope["path"]) is not None or scope["path"] == UPLOAD_PATH
        to_blob = scope.get("method") == "PUT" and "/blobs/" in scope["path"]
        to_blobs = scope["path"].endswith("/blobs")  # routing answers 405 to all but POST
        if mutating and has_body and kind != "application/json" and not form_ok:
            if to_blobs:  # several blobs, in the one type no form can send
                return None if kind == BLOBS_MIME else (415, "unsupported_media_type", _BLOBS)
            if not to_blob:
                return 415, "unsupported_media_type", _JSON_ONLY
            if kind not in MEDIA_MIMES:  # an image blob: naming JSON would mislead
                return 415, "unsupported_media_type", _IMAGES_ONLY
        return None

    @staticmethod
    async def _refuse(
        scope: Scope, receive: Receive, send: Send, status: int, code: str, message: str
    ) -> None:
        if scope["type"] == "websocket":
            await receive()  # the connect message
            await send({"type": "websocket.accept"})
            await send({"type": "websocket.close", "code": 4403, "reason": message[:120]})
            return
        body = msgspec.json.encode({"error": {"code": code, "message": message, "field": None}})
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
