"""The SQLite store: the shared store on one file in WAL mode (see ``executor``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from runwatch.protocol import CLAIM_LEASE
from runwatch.store.location import SQLITE_FILE
from runwatch.store.snapshots import EPSILON
from runwatch.store.sql.purge import PURGE_ROWS
from runwatch.store.sql.store import SqlStore
from runwatch.store.sqlite.executor import SqliteExecutor


class SqliteStore(SqlStore):
    """Runs, series, events and the live journal in ``data_dir/runwatch.sqlite3``."""

    def __init__(
        self,
        data_dir: Path | str,
        readers: int = 4,
        busy_timeout: float = 30.0,
        snapshot_epsilon: float = EPSILON,
        claim_lease: float = CLAIM_LEASE,
        clock: Callable[[], float] = time.time,
        purge_rows: int = PURGE_ROWS,
    ) -> None:
        """``busy_timeout``: seconds a write waits for a lock another process holds before the
        batch is answered 503 (and retried by the producer)."""
        self.path = Path(data_dir) / SQLITE_FILE
        super().__init__(
            SqliteExecutor(self.path, readers, busy_timeout),
            snapshot_epsilon,
            claim_lease,
            clock,
            purge_rows,
        )
