"""Fresh PostgreSQL databases for tests, on the server at 127.0.0.1:5432 (trust auth).

Each test gets a database of its own (CREATE DATABASE with a random name), dropped afterwards
even when a store still holds connections to it.
"""

from __future__ import annotations

import functools
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from tests.conftest import missing

# Users that may create databases on a developer's machine and in CI (trust auth).
ADMIN_URLS = (
    os.environ.get("RUNWATCH_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"),
    "postgresql://root@127.0.0.1:5432/postgres",
)


# Asked once a session: a busy two-core machine (browsers beside the tests) has been seen to take
# longer than a short connect timeout, which failed a test's setup though PostgreSQL was up.
@functools.cache
def admin_url() -> str:
    """A URL of a user that may create databases; fails in CI (skips elsewhere) when none."""
    for url in ADMIN_URLS:
        try:
            with psycopg.connect(url, connect_timeout=15) as conn:
                row = conn.execute(
                    "SELECT rolcreatedb OR rolsuper FROM pg_roles WHERE rolname = current_user"
                ).fetchone()
                if row and row[0]:
                    return url
        except psycopg.OperationalError:
            continue
    missing("PostgreSQL on 127.0.0.1:5432 (a user that may create databases)")
    raise AssertionError("unreachable")


@contextmanager
def fresh_database() -> Iterator[str]:
    """Create an empty database; yield its URL; drop it."""
    admin = admin_url()
    name = f"runwatch_test_{secrets.token_hex(6)}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        yield admin.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
