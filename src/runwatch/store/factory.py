"""A store from where it lives: ``postgresql://…`` or ``sqlite:///DIR`` or a plain data dir."""

from __future__ import annotations

from pathlib import Path

from runwatch.protocol import CLAIM_LEASE
from runwatch.store.base import Store
from runwatch.store.location import is_postgres, sqlite_dir
from runwatch.store.snapshots import EPSILON


def open_store(
    location: str | Path,
    busy_timeout: float = 30.0,
    snapshot_epsilon: float = EPSILON,
    pool_size: int = 8,
    claim_lease: float = CLAIM_LEASE,
) -> Store:
    """The store at ``location`` (not opened yet): PostgreSQL for a ``postgresql://`` URL,
    SQLite for ``sqlite:///DIR`` or a plain directory. ``pool_size``: PostgreSQL connections.
    ``claim_lease``: seconds a sweep trial's claim holds before its run is created."""
    if is_postgres(location):
        from runwatch.store.postgres import PostgresStore

        return PostgresStore(
            str(location),
            pool_size=pool_size,
            busy_timeout=busy_timeout,
            snapshot_epsilon=snapshot_epsilon,
            claim_lease=claim_lease,
        )
    from runwatch.store.sqlite import SqliteStore

    return SqliteStore(
        sqlite_dir(location), busy_timeout=busy_timeout, snapshot_epsilon=snapshot_epsilon,
        claim_lease=claim_lease,
    )  # fmt: skip
