"""HTTP to the server for the SDK's sender thread: one keep-alive client, several URLs to fail over."""

from __future__ import annotations

from typing import Any

import httpx
import msgspec

DEFAULT_URL = "http://127.0.0.1:8765"


class Reply:
    """What one request came back with: a status (0 when the server could not be reached)."""

    __slots__ = ("body", "retry_after", "status")

    def __init__(self, status: int, body: Any = None, retry_after: float | None = None) -> None:
        self.status = status
        self.body = body
        self.retry_after = retry_after

    @property
    def _error(self) -> dict[str, Any]:
        error = self.body.get("error") if isinstance(self.body, dict) else None
        return error if isinstance(error, dict) else {}

    @property
    def error_code(self) -> str | None:
        code = self._error.get("code")
        return code if isinstance(code, str) else None

    @property
    def error_field(self) -> str | None:
        field = self._error.get("field")
        return field if isinstance(field, str) else None

    @property
    def error_message(self) -> str:
        return str(self._error.get("message", ""))

    @property
    def start_refused(self) -> bool:
        """The server refused a run's ``started_at`` (this clock is ahead of its own, or an
        older server knows no such field): the run is to be created without it, at the
        server's time."""
        return self.status in (400, 422) and self._error.get("field") == "$.started_at"


def parse_urls(urls: str | None) -> list[str]:
    """``RUNWATCH_URL`` may list several servers, comma-separated; the first is tried first."""
    found = [u.strip().rstrip("/") for u in (urls or "").split(",") if u.strip()]
    return found or [DEFAULT_URL]


class Transport:
    """Posts JSON to the first reachable server; moves to the next URL on a connection error."""

    def __init__(self, urls: list[str], token: str | None, timeout: float = 10.0) -> None:
        self.urls = urls
        self._index = 0
        headers = {"Content-Type": "application/json", "User-Agent": "runwatch-sdk"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._client = httpx.Client(headers=headers, timeout=httpx.Timeout(timeout, connect=2.0))

    @property
    def url(self) -> str:
        return self.urls[self._index]

    def post(self, path: str, body: bytes, headers: dict[str, str] | None = None) -> Reply:
        return self._send("POST", path, content=body, headers=headers)

    def send(self, method: str, path: str, body: bytes, content_type: str) -> Reply:
        """Send raw bytes (image blobs) with their own Content-Type."""
        return self._send(method, path, content=body, headers={"Content-Type": content_type})

    def get(self, path: str, params: dict[str, Any], timeout: float) -> Reply:
        return self._send("GET", path, params=params, timeout=timeout)

    def _send(self, method: str, path: str, **options: Any) -> Reply:
        try:
            response = self._client.request(method, self.url + path, **options)
        except (httpx.HTTPError, RuntimeError):  # RuntimeError: the client was closed
            self._index = (self._index + 1) % len(self.urls)
            return Reply(0)
        try:
            parsed = msgspec.json.decode(response.content) if response.content else None
        except msgspec.DecodeError:
            parsed = None
        retry_after = response.headers.get("retry-after")
        wait = float(retry_after) if retry_after and retry_after.isdigit() else None
        return Reply(response.status_code, parsed, wait)

    def close(self) -> None:
        self._client.close()
