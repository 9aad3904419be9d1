"""The embedded SQLite backend (the zero-configuration default)."""

from runwatch.store.sqlite.store import SqliteStore

__all__ = ["SqliteStore"]
