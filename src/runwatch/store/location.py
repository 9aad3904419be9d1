"""Where a store lives: ``postgresql://…``, ``sqlite:///DIR`` or a plain data dir, and how to
name it in messages (without credentials)."""

from __future__ import annotations

from pathlib import Path

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


def describe(location: str | Path) -> str:
    """Where the store is, for messages: a PostgreSQL URL without its password."""
    if not is_postgres(location):
        return str(sqlite_dir(location))
    import psycopg

    info = psycopg.conninfo.conninfo_to_dict(str(location))
    user = f"{info['user']}@" if info.get("user") else ""
    host, port = info.get("host", "localhost"), info.get("port", 5432)
    return f"postgresql://{user}{host}:{port}/{info.get('dbname', '')}"
