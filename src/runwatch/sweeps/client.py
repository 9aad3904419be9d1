"""The sweep routes from a client's side (``runwatch sweep``, ``runwatch agent``, the W&B
shim): every failure is one :class:`SweepClientError` line saying what the server said."""

from __future__ import annotations

import time
from typing import Any

import msgspec

from runwatch.sdk.transport import Reply, Transport, parse_urls

RETRIES = 5  # an unreachable or busy server is asked again this many times, backing off
BACKOFF = 0.5


class SweepClientError(RuntimeError):
    """A sweep request the server refused or never answered; ``code``: the refusal's, if any
    (``nothing_to_run``)."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


def _say(reply: Reply, what: str) -> str:
    if reply.status == 0:
        return f"{what}: the server could not be reached"
    error = reply.body.get("error") if isinstance(reply.body, dict) else None
    if isinstance(error, dict):
        field = error.get("field")
        where = f" ({field.removeprefix('$.')})" if field and field != "$" else ""
        return f"{what}: {error.get('message')}{where}"
    return f"{what}: the server answered {reply.status}"


class SweepClient:
    """Create sweeps, claim their trials, pause, resume or stop them, on the first of ``url``'s
    servers that answers."""

    def __init__(self, url: str | None, token: str | None) -> None:
        self.transport = Transport(parse_urls(url), token)

    @property
    def url(self) -> str:
        """The server answering now (for links)."""
        return self.transport.url

    def _post(self, path: str, body: Any, what: str) -> dict[str, Any]:
        reply = Reply(0)
        for attempt in range(RETRIES):
            reply = self.transport.post(path, msgspec.json.encode(body))
            if reply.status not in (0, 502, 503, 504):
                break
            time.sleep(reply.retry_after or BACKOFF * 2**attempt)  # backoff between retries
        if reply.status not in (200, 201) or not isinstance(reply.body, dict):
            raise SweepClientError(_say(reply, what), reply.error_code)
        return reply.body

    def create(self, doc: dict[str, Any]) -> dict[str, Any]:
        """Create a sweep of W&B's configuration ``doc``; the sweep as the server shows it."""
        return self._post("/api/v1/sweeps", doc, "the sweep was refused")

    def claim(self, sweep_id: str, agent: str, command: list[str] | None = None) -> dict[str, Any]:
        """The next trial (``trial``), or ``trial: None`` and ``reason``. ``command``: what the
        agent runs per trial (``[]``: the sweep's), refused with nothing handed out when the
        sweep cannot give it its program."""
        body: dict[str, Any] = {"agent": agent}
        if command is not None:
            body["command"] = command
        return self._post(f"/api/v1/sweeps/{sweep_id}/next", body, f"sweep {sweep_id}")

    def change(self, sweep_id: str, action: str) -> dict[str, Any]:
        """``pause``, ``resume`` or ``stop`` the sweep."""
        return self._post(f"/api/v1/sweeps/{sweep_id}/{action}", {}, f"sweep {sweep_id}")

    def close(self) -> None:
        """Close the connections."""
        self.transport.close()
