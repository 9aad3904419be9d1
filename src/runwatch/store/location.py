"""Where a store lives: ``postgresql://…``, ``sqlite:///DIR`` or a plain data dir, and how to
name it in messages (without credentials)."""

from __future__ import annotations

from pathlib import Path

POSTGRES_SCHEMES = ("postgresql://", "postgres://")
SQLITE_SCHEME = "sqlite://"
SQLITE_FILE = "runwatch.sqlite3"  # a SQLite store's one file, in its data dir


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


def require_existing(location: str | Path) -> None:
    """Refuse a data dir that holds no runwatch store, naming it: a command that only reads or
    changes a store must not leave a new empty one behind for a mistyped ``--data``."""
    if is_postgres(location):
        return
    data_dir = sqlite_dir(location)
    if not (data_dir / SQLITE_FILE).is_file():
        raise ValueError(
            f"no runwatch data in {data_dir} (no {SQLITE_FILE}): pass the server's --data or --store"
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
