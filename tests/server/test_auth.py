"""A server started with a token refuses every call and socket that lacks it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect

import runwatch
from tests.servers import ServerProcess


@pytest.fixture
def guarded(tmp_path: Path) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path / "data", token="s3cret").start()
    yield proc
    proc.stop()


def test_api_needs_the_token(guarded: ServerProcess) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        r = httpx.get(f"{guarded.url}/api/v1/runs", headers=headers)
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    with guarded.client() as c:
        assert c.get("/api/v1/runs").status_code == 200
    assert httpx.get(f"{guarded.url}/healthz").status_code == 200


def test_socket_without_token_is_closed_with_4401(guarded: ServerProcess) -> None:
    ws_base = guarded.url.replace("http://", "ws://")
    for path in ("/api/v1/live", "/api/v1/runs/any/live"):
        with connect(ws_base + path) as ws:
            with contextlib.suppress(Exception):
                ws.recv(timeout=10)
            assert ws.close_code == 4401


def test_sdk_sends_the_token(guarded: ServerProcess, tmp_path: Path) -> None:
    with runwatch.init(project="auth", url=guarded.url, token="s3cret", run_dir=tmp_path) as run:
        run.log({"x": 1.0})
    with guarded.client() as c:
        assert c.get(f"/api/v1/runs/{run.id}").json()["status"] == "succeeded"
