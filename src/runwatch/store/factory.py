"""A store from where it lives: ``postgresql://…`` or ``sqlite:///DIR`` or a plain data dir."""

from __future__ import annotations

from pathlib import Path

from runwatch.store.base import Store
from runwatch.store.snapshots import EPSILON

POSTGRES_SCHEMES = ("postgresql://", "postgres://")
SQLITE_SCHEME = "sqlite://"


def is_postgres(location: str | Path) -> bool:
    return str(location).startswith(POSTGRES_SCHEMES)


def sqlite_dir(location: str | Path) -> Path:
    """The data dir of ``sqlite:///abs/dir``, ``sqlite://rel/dir`` or a plain path."""
    text = str(location)
    if text.startswith(SQLITE_SCHEME):
        text = text[len(SQLITE_SCHEME) :]
        if not text:
            raise ValueError("sqlite:// needs a data dir, e.g. sqlite:///var/lib/runwatch")
    elif "://" in text:
        raise ValueError(
            f"unknown store {text.split('://')[0]}://: use postgresql://… or sqlite:///DIR"
        )
    return Path(text)


def open_store(
    location: str | Path,
    busy_timeout: float = 30.0,
    snapshot_epsilon: float = EPSILON,
    pool_size: int = 8,
) -> Store:
    """The store at ``location`` (not opened yet): PostgreSQL for a ``postgresql://`` URL,
    SQLite for ``sqlite:///DIR`` or a plain directory. ``pool_size``: PostgreSQL connections."""
    if is_postgres(location):
        from runwatch.store.postgres import PostgresStore

        return PostgresStore(
            str(location),
            pool_size=pool_size,
            busy_timeout=busy_timeout,
            snapshot_epsilon=snapshot_epsilon,
        )
    from runwatch.store.sqlite import SqliteStore

    return SqliteStore(
        sqlite_dir(location), busy_timeout=busy_timeout, snapshot_epsilon=snapshot_epsilon
    )


def describe(location: str | Path) -> str:
    """Where the store is, for messages: a PostgreSQL URL without its password."""
    if not is_postgres(location):
        return str(sqlite_dir(location))
    import psycopg

    info = psycopg.conninfo.conninfo_to_dict(str(location))
    user = f"{info['user']}@" if info.get("user") else ""
    host, port = info.get("host", "localhost"), info.get("port", 5432)
    return f"postgresql://{user}{host}:{port}/{info.get('dbname', '')}"
