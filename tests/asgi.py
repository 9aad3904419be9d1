"""The app in this process, for tests where the server process is incidental: httpx over ASGI.

The app's lifespan runs (store and bus open, the sweepers, rules and scheduler start, all stop
at the end) on one event loop in a background thread, and every request runs on that same loop,
as under uvicorn. Requests name a loopback Host (``127.0.0.1``), so the DNS-rebinding guard
judges them as it judges a local client. Tests about the wire, sockets, killing or restarting
keep a real ``tests.servers.ServerProcess``.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import requests
import requests.adapters
import urllib3
from anyio.from_thread import BlockingPortal, start_blocking_portal
from fastapi import FastAPI

from runwatch.server.app import create_app
from runwatch.server.settings import Settings

# A loopback Host, as a local client sends; no socket is ever opened on it.
BASE_URL = "http://127.0.0.1"


class _PortalTransport(httpx.BaseTransport):
    """Sync httpx requests handed to the app on the event loop its lifespan runs on."""

    def __init__(self, portal: BlockingPortal, app: FastAPI) -> None:
        self._portal = portal
        self._asgi = httpx.ASGITransport(app=app)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()  # the body as bytes: a stream the async transport can read too
        return self._portal.call(self._send, request)

    async def _send(self, request: httpx.Request) -> httpx.Response:
        response = await self._asgi.handle_async_request(request)
        body = await response.aread()
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=httpx.ByteStream(body),
            extensions=response.extensions,
        )


class _RequestsAdapter(requests.adapters.BaseAdapter):
    """``requests`` calls (schemathesis sends with a requests session) through an httpx client."""

    def __init__(self, client: httpx.Client) -> None:
        super().__init__()
        self._client = client
        self._build = requests.adapters.HTTPAdapter().build_response

    def send(
        self, request: requests.PreparedRequest, *args: object, **kwargs: object
    ) -> requests.Response:
        body = request.body.encode() if isinstance(request.body, str) else request.body
        got = self._client.request(
            request.method or "GET", request.url or "", headers=dict(request.headers), content=body
        )
        raw = urllib3.HTTPResponse(
            body=io.BytesIO(got.content),
            headers=list(got.headers.multi_items()),
            status=got.status_code,
            reason=got.reason_phrase,
            version=11,
            preload_content=False,
        )
        return self._build(request, raw)

    def close(self) -> None:
        self._client.close()


@dataclass(frozen=True)
class InProcessServer:
    """A running app and its settings; ``client()`` as on ``ServerProcess``."""

    settings: Settings
    app: FastAPI
    portal: BlockingPortal

    @property
    def data_dir(self) -> Path:
        return self.settings.data_dir

    @property
    def token(self) -> str | None:
        return self.settings.token

    def client(self) -> httpx.Client:
        """A client bound to the app, with the server's bootstrap token if it has one."""
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        transport = _PortalTransport(self.portal, self.app)
        return httpx.Client(base_url=BASE_URL, headers=headers, transport=transport, timeout=10)

    def requests_session(self) -> requests.Session:
        """A ``requests`` session bound to the app (for schemathesis' ``session=``)."""
        session = requests.Session()
        session.mount(BASE_URL, _RequestsAdapter(self.client()))
        return session


def settings_for(data_dir: Path, **more: object) -> Settings:
    """Settings as ``runwatch serve --data DATA_DIR`` makes them, with ``more`` overrides.

    Port 0: nothing listens, so anything that tried to reach this app over the network (a
    launcher the scheduler started) fails at once instead of finding another local server.
    """
    return Settings(data_dir=data_dir, port=0, **more)  # type: ignore[arg-type]


@contextlib.contextmanager
def serve_in_process(settings: Settings) -> Iterator[InProcessServer]:
    """Build the app from ``settings`` and run its lifespan around the block."""
    app = create_app(settings)
    with (
        start_blocking_portal() as portal,
        portal.wrap_async_context_manager(app.router.lifespan_context(app)),
    ):
        yield InProcessServer(settings, app, portal)


@pytest.fixture
def app_server(tmp_path: Path) -> Iterator[InProcessServer]:
    """A fresh app in this process with its own SQLite data dir, stopped after the test."""
    with serve_in_process(settings_for(tmp_path / "data")) as server:
        yield server
