"""The store backends every contract test runs against: SQLite in a temp dir, PostgreSQL in a
fresh database. Adding a backend is adding a parameter here."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from runwatch.store.base import Store
from runwatch.store.postgres import PostgresStore
from runwatch.store.sqlite import SqliteStore
from tests.pg import fresh_database

StoreMaker = Callable[..., Store]


@pytest.fixture(params=["sqlite", "postgresql"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreMaker]:
    """A factory of stores on one location: each call opens another store on the same data
    (a restart, or a second replica)."""
    if request.param == "sqlite":

        def sqlite(**options: Any) -> Store:
            return SqliteStore(tmp_path / "data", **options)

        yield sqlite
    else:
        with fresh_database() as url:

            def postgres(**options: Any) -> Store:
                return PostgresStore(url, **options)

            yield postgres
