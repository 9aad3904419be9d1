"""The PostgreSQL store: the shared store on a pool of connections, shared by several replicas.

Every replica may write any run: a run's row lock orders its writers (see ``executor`` and
``store.sql.ingest``), batch dedup is a primary key, and nothing is cached across transactions
that another replica could change.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from runwatch.protocol import CLAIM_LEASE
from runwatch.store.postgres.executor import MAX_PENDING, PostgresExecutor
from runwatch.store.snapshots import EPSILON
from runwatch.store.sql.purge import PURGE_ROWS
from runwatch.store.sql.store import SqlStore


class PostgresStore(SqlStore):
    """Runs, series, events and the live journal in one PostgreSQL database (``url``)."""

    def __init__(
        self,
        url: str,
        pool_size: int = 8,
        busy_timeout: float = 30.0,
        snapshot_epsilon: float = EPSILON,
        max_pending: int = MAX_PENDING,
        claim_lease: float = CLAIM_LEASE,
        clock: Callable[[], float] = time.time,
        purge_rows: int = PURGE_ROWS,
    ) -> None:
        """``url``: a libpq URL (``postgresql://user@host:5432/db``). ``pool_size``: connections
        (and worker threads) per replica. ``busy_timeout``: seconds a job waits for a lock or a
        connection before it is answered 503 (and retried by the producer). ``max_pending``:
        jobs queued or running at once; past it, 503."""
        self.url = url
        super().__init__(
            PostgresExecutor(url, pool_size, busy_timeout, max_pending), snapshot_epsilon,
            claim_lease, clock, purge_rows,
        )  # fmt: skip
