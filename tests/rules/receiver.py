"""A real webhook receiver on loopback: records each POST's JSON; answers a chosen status."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.loopback import LoopbackHTTPServer

# The receiver is on loopback, which webhooks may reach only when the operator allows it.
ALLOW_LOOPBACK = ["--webhook-allow", "127.0.0.0/8"]


class WebhookReceiver(LoopbackHTTPServer):
    """``with WebhookReceiver(status=200) as hook: ... hook.url ... hook.bodies``."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.bodies: list[dict[str, Any]] = []
        self.paths: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                body = json.loads(self.rfile.read(length))
                receiver.bodies.append(body)
                receiver.paths.append(self.path)
                self.send_response(receiver.status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        super().__init__(Handler)
        self.url = f"http://127.0.0.1:{self.port}/services/T000/B000/secret-part"
