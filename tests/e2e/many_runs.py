"""Many finished runs written straight into a store in one transaction, before a server opens
it: tens of thousands of runs in seconds, where creating each over HTTP would take minutes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runwatch.store.factory import open_store
from runwatch.store.sql import values
from runwatch.store.sql.records import RUN_COLUMNS
from runwatch.store.sql.store import SqlStore
from runwatch.store.sql.tx import Tx
from tests.servers import ServerProcess


@dataclass
class SeedRun:
    """One finished run as the runs table keeps it."""

    id: str
    name: str
    created: float
    project: str = "sweep"
    tags: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    status: str = "succeeded"
    # Per metric {"min", "max"}; None: each numeric summary value is its metric's only value.
    extremes: dict[str, dict[str, float]] | None = None

    def row(self) -> tuple[Any, ...]:
        ended = self.created + 60.0
        return (
            self.id, self.project, self.name, None, json.dumps(self.tags), json.dumps(self.config),
            self.status, self.created, self.created, ended, ended, 0, None, 1,
            json.dumps(self.summary), "{}", ended, 5.0, "[]", json.dumps(self.metric_extremes()), "[]", 0,
        )  # fmt: skip

    def metric_extremes(self) -> dict[str, dict[str, float]]:
        """The extremes given, or each numeric summary value as its metric's min and max."""
        if self.extremes is not None:
            return self.extremes
        return {
            k: {"min": v, "max": v}
            for k, v in self.summary.items()
            if isinstance(v, int | float) and not isinstance(v, bool)
        }


async def _write(location: str | Path, runs: Sequence[SeedRun]) -> None:
    store = open_store(location)
    assert isinstance(store, SqlStore)
    await store.open()
    marks = ",".join("?" * len(RUN_COLUMNS.split(",")))
    sql = f"INSERT INTO runs ({RUN_COLUMNS}) VALUES ({marks})"
    try:
        # One transaction; the store's own writer runs it (what a migration does), so no viewer
        # hears of it: these runs exist before anyone watches.
        def write(tx: Tx) -> None:
            tx.executemany(sql, [r.row() for r in runs])
            values.rebuild(tx)  # as the migration that made the index fills it

        await store._write_quiet(write)
    finally:
        await store.close()


def seed_runs(location: str | Path, runs: Sequence[SeedRun]) -> None:
    """Write ``runs`` into the store at ``location`` (a data dir or a PostgreSQL URL). In a
    thread of its own: the caller's thread may run an event loop (Playwright's)."""
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, _write(location, runs)).result()


@contextmanager
def seeded_server(data: Path, runs: Sequence[SeedRun]) -> Iterator[ServerProcess]:
    """A server over ``runs``, written into a new store at ``data`` before it starts; stopped
    after the block."""
    seed_runs(data, runs)
    proc = ServerProcess(data).start()
    try:
        yield proc
    finally:
        proc.stop()
