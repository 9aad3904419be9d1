"""A token's open sockets and SSE stream, and its revocation, as a viewer and an operator see
them (the revocation tests of one server and of replicas)."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from tests.servers import ServerProcess
from tests.test_cli import cli

REVOCATION_SECONDS = 5.0  # what the README promises


def revoke(store: Path | str, token_id: int) -> float:
    """Revoke with the CLI, as an operator does; returns when it was done (monotonic)."""
    done = cli("token", "revoke", str(token_id), "--store", str(store))
    assert done.returncode == 0, done.stderr
    return time.monotonic()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def ws_url(server: ServerProcess, path: str, token: str) -> str:
    sep = "&" if "?" in path else "?"
    return f"{server.url.replace('http://', 'ws://')}{path}{sep}token={token}"


class Viewers:
    """A read token's open sockets and SSE stream on one server (closed with ``stack``)."""

    def __init__(
        self, stack: contextlib.ExitStack, server: ServerProcess, token: str, run_id: str
    ) -> None:
        self.sockets: list[ClientConnection] = []
        paths = ("/api/v1/live", f"/api/v1/runs/{run_id}/live", "/api/v1/projects/p/alerts/live")
        for path in paths:
            ws = stack.enter_context(connect(ws_url(server, path, token)))
            ws.recv(timeout=10)  # open and served
            self.sockets.append(ws)
        client = stack.enter_context(
            httpx.Client(headers=bearer(token), timeout=httpx.Timeout(10, read=10))
        )
        sse = stack.enter_context(client.stream("GET", f"{server.url}/api/v1/runs/{run_id}/stream"))
        assert sse.status_code == 200
        self.lines = sse.iter_lines()
        assert next(self.lines).startswith("id: ")

    def closed_by(self, deadline: float) -> None:
        """Every socket closed with 4401 and the stream ended with a close event, in time."""
        for ws in self.sockets:
            with contextlib.suppress(ConnectionClosed):
                while True:
                    ws.recv(timeout=max(deadline - time.monotonic(), 0.01))
            assert ws.close_code == 4401 and time.monotonic() <= deadline, ws.close_code
        rest = list(self.lines)
        assert time.monotonic() <= deadline
        assert "event: close" in rest
        close = json.loads(rest[rest.index("event: close") + 1].removeprefix("data: "))
        assert close["code"] == 4401


@contextlib.contextmanager
def viewers(server: ServerProcess, token: str, run_id: str) -> Iterator[Viewers]:
    """A :class:`Viewers`, every socket and stream of it closed afterwards."""
    with contextlib.ExitStack() as stack:
        yield Viewers(stack, server, token, run_id)
