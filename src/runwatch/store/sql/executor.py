"""How jobs reach a database: the other half of the seam (``tx`` is the first).

A store hands an executor *write jobs* (a function of a :class:`Tx` returning its result and
what it committed, for the live fan-out) and *reads* (a function of a Tx, run in one read-only
snapshot). The executor owns connections, threads and transactions; it calls ``on_commit`` with
each commit's records, in commit order, from whatever thread committed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from runwatch.store.base import Committed
from runwatch.store.sql.tx import Tx

T = TypeVar("T")
WriteJob = Callable[[Tx], tuple[T, list[Committed]]]
OnCommit = Callable[[list[Committed]], None]


class Executor(Protocol):
    """Runs a store's jobs on one database."""

    async def open(self, on_commit: OnCommit) -> None:
        """Connect and migrate the schema; from now on ``on_commit`` hears every commit."""
        ...

    async def close(self) -> None:
        """Finish the jobs already submitted, then let go of every connection."""
        ...

    async def write(self, job: WriteJob[T]) -> T:
        """Run ``job`` in a write transaction; its result once committed."""
        ...

    async def read(self, fn: Callable[[Tx], T]) -> T:
        """Run ``fn`` in a read-only transaction: every query of it sees one snapshot."""
        ...

    async def health(self) -> dict[str, Any]:
        """Where the database is, its schema version, commits so far."""
        ...
