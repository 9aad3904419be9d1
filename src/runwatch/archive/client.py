"""A small synchronous client of the runwatch HTTP API for the CLI (export, import, runs, tail)."""

from __future__ import annotations

from typing import Any

import httpx

from runwatch.sdk.transport import Reply, parse_urls


class ApiError(RuntimeError):
    """The server refused a call; the message is the server's own, with the status."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{message} (HTTP {status} {code})")
        self.status = status
        self.code = code


class ApiClient:
    """GET, POST and PUT JSON (and blob bytes) against one server; errors become
    :class:`ApiError`."""

    def __init__(
        self, url: str | None = None, token: str | None = None, timeout: float = 60
    ) -> None:
        self.base = parse_urls(url)[0]
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=self.base, headers=headers, timeout=timeout)

    def get(self, path: str, **params: Any) -> Any:
        return self._answer(self._send("GET", path, params=_clean(params)))

    def post(self, path: str, body: bytes) -> Any:
        headers = {"Content-Type": "application/json"}
        return self._answer(self._send("POST", path, content=body, headers=headers))

    def put(self, path: str, body: bytes) -> Any:
        headers = {"Content-Type": "application/json"}
        return self._answer(self._send("PUT", path, content=body, headers=headers))

    def delete(self, path: str) -> Any:
        return self._answer(self._send("DELETE", path))

    def get_bytes(self, path: str) -> bytes:
        """The raw body of a GET (a blob's bytes); errors raise as :meth:`get` does."""
        response = self._send("GET", path)
        if response.status_code >= 400:
            self._answer(response)
        return response.content

    def send(self, method: str, path: str, body: bytes, content_type: str) -> Reply:
        """Send raw bytes with their Content-Type and return the answer as it is, refusals
        included (a grouped blob upload's names the blob at fault); an unreachable server
        raises as for :meth:`get`."""
        response = self._send(method, path, content=body, headers={"Content-Type": content_type})
        try:
            parsed = response.json() if response.content else None
        except ValueError:
            parsed = None
        return Reply(response.status_code, parsed)

    def exists(self, path: str) -> bool:
        """Whether a GET of ``path`` finds something (404: no; other errors raise)."""
        response = self._send("GET", path)
        if response.status_code == 404:
            return False
        self._answer(response)
        return True

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ConnectionError(
                f"cannot reach the runwatch server at {self.base}: {exc}"
            ) from None

    def _answer(self, response: httpx.Response) -> Any:
        if response.status_code >= 400:
            try:
                error = response.json()["error"]
                code, message = error["code"], error["message"]
            except (ValueError, KeyError, TypeError):
                code, message = "http_error", response.text[:200]
            raise ApiError(response.status_code, code, message)
        return response.json()

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _clean(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if v is not None}
