"""What run archives need from PostgreSQL: a series' raw points in stored order (the same pages
as ``store.sqlite.archive``), and restoring an imported run's times and commands."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, TypeVar

import msgspec

from runwatch.protocol import ArchivedCommand, Command
from runwatch.store.base import Committed, IngestError, RunInfo
from runwatch.store.chunks import RawPoint, raw_page
from runwatch.store.postgres.tx import Conn, PostgresTx
from runwatch.store.sql import records
from runwatch.store.sqlite.archive import restored_commands

T = TypeVar("T")
_CHUNKS_PAGE = 8  # chunks per query: a page of points reads only the chunks it returns


def _chunks_after(
    conn: Conn, series_id: int, after: int
) -> Iterator[tuple[int, bytes, bytes, bytes]]:
    """The series' chunks with id > ``after`` in id order (ingest order: a chunk is only
    appended to, and a batch that goes back in steps starts a new one), fetched as needed."""
    while True:
        rows = conn.execute(
            "SELECT id, steps, ts, vals FROM chunks WHERE series_id = %s AND id > %s"
            " ORDER BY id LIMIT %s",
            (series_id, after, _CHUNKS_PAGE),
            binary=True,  # packed arrays as they are, not hex text
        ).fetchall()
        yield from rows
        if len(rows) < _CHUNKS_PAGE:
            return
        after = rows[-1][0]


def raw_points(
    conn: Conn, run_id: str, key: str, after: int, limit: int
) -> tuple[list[RawPoint], int]:
    """Whole chunks after cursor ``after`` (0 starts) until ``limit`` points are read."""
    row = conn.execute(
        "SELECT id FROM series WHERE run_id = %s AND key = %s", (run_id, key)
    ).fetchone()
    if row is None:
        return [], 0
    return raw_page(_chunks_after(conn, row[0], after), limit)


def restore_times(conn: Conn, run_id: str, created_at: float, started_at: float | None) -> RunInfo:
    """Set an imported run's creation and start times to the archived ones."""
    updated = conn.execute(
        "UPDATE runs SET created_at = %s, started_at = %s WHERE id = %s",
        (created_at, started_at, run_id),
    ).rowcount
    run = records.fetch_run(PostgresTx(conn), run_id)
    if not updated or run is None:
        raise IngestError(404, "run_not_found", f"no run with id {run_id!r}", "run")
    return run


def restore_commands(conn: Conn, run_id: str, commands: list[ArchivedCommand]) -> list[Command]:
    """Insert an imported run's archived commands as they were (ids from 1, in order)."""
    records.lock_run(PostgresTx(conn), run_id)
    if conn.execute("SELECT 1 FROM commands WHERE run_id = %s LIMIT 1", (run_id,)).fetchone():
        raise IngestError(409, "commands_exist", f"run {run_id!r} has commands already", "run")
    restored = restored_commands(commands)
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO commands VALUES (%s,%s,%s,%s,%s,%s,%s,%s)",
            [
                (run_id, c.id, c.kind, msgspec.json.encode(c.payload).decode(), c.state,
                 c.created_at, c.updated_at, c.error)
                for c in restored
            ],
        )  # fmt: skip
    return restored


class PostgresArchive:
    """The archive methods of the Store protocol, for the PostgreSQL store."""

    if TYPE_CHECKING:

        async def _write(self, job: Callable[[Conn], tuple[T, list[Committed]]]) -> T: ...

        async def _read(self, fn: Callable[[Conn], T]) -> T: ...

    async def raw_points(
        self, run_id: str, key: str, after: int, limit: int
    ) -> tuple[list[RawPoint], int]:
        return await self._read(lambda conn: raw_points(conn, run_id, key, after, limit))

    async def restore_times(
        self, run_id: str, created_at: float, started_at: float | None
    ) -> RunInfo:
        def job(conn: Conn) -> tuple[RunInfo, list[Committed]]:
            return restore_times(conn, run_id, created_at, started_at), []

        return await self._write(job)

    async def restore_commands(self, run_id: str, commands: list[ArchivedCommand]) -> list[Command]:
        def job(conn: Conn) -> tuple[list[Command], list[Committed]]:
            return restore_commands(conn, run_id, commands), []

        return await self._write(job)
