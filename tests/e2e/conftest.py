"""Browser-test fixtures on top of tests/conftest.py's ``server`` and ``page``."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.servers import ServerProcess


@pytest.fixture
def api(server: ServerProcess) -> Iterator[httpx.Client]:
    """An HTTP client for the test's server, closed afterwards (unclosed sockets are errors)."""
    with server.client() as client:
        yield client
