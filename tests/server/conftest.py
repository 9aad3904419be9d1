"""The in-process app fixture (``tests.asgi``) for the tests here whose server is incidental,
and a client of it on each store for the tests of store-backed behaviour."""

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.asgi import app_server, serve_in_process, settings_for
from tests.pg import fresh_database

__all__ = ["app_server", "store_api"]


@pytest.fixture(params=["sqlite", "postgresql"])
def store_api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[httpx.Client]:
    """A client of a fresh app on SQLite, then on PostgreSQL."""
    if request.param == "sqlite":
        with serve_in_process(settings_for(tmp_path / "data")) as server, server.client() as c:
            yield c
        return
    with (
        fresh_database() as url,
        serve_in_process(settings_for(tmp_path / "data", store_url=url)) as server,
        server.client() as c,
    ):
        yield c
