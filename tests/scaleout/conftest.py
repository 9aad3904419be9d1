"""Two replicas sharing one fresh PostgreSQL database and the Redis bus."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.bus.conftest import redis_answers, redis_url
from tests.conftest import missing
from tests.pg import fresh_database
from tests.servers import ServerProcess


@contextlib.contextmanager
def two_replicas(
    tmp_path: Path, token: str | None = None, bus: str | None = None
) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    """Replicas A and B: one PostgreSQL database, one Redis channel prefix, two ports; with
    ``token``, both take it as their bootstrap token; with ``bus``, that Redis URL (say, a
    private redis-server's) instead of the shared Redis."""
    if bus is None and not redis_answers():
        missing("Redis on 127.0.0.1:6379")
    with fresh_database() as pg_url:
        shared = ["--store", pg_url, "--bus", bus or redis_url()]
        a = ServerProcess(tmp_path / "a", token=token, extra_args=shared).start()
        b = ServerProcess(tmp_path / "b", token=token, extra_args=shared).start()
        try:
            yield a, b
        finally:
            a.stop()
            b.stop()


@pytest.fixture
def replicas(tmp_path: Path) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    """Two open replicas (see :func:`two_replicas`)."""
    with two_replicas(tmp_path) as both:
        yield both
