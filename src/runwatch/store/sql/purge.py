"""Deleting a run: gone from every read in one job, its rows removed in bounded jobs after.

:func:`delete` (the first job) checks that the run is finished, deletes its ``runs`` row and
the few rows other pages show (its promotions, alerts, the rules scoped to it, its value
index, queue entry and artifact manifest), marks its sweep trial, and records the deletion in
``deleted_runs``. Each :func:`purge_step` then deletes at most ``limit`` of the rows left
(:data:`OWNED`, children before their parents), so a big run never holds the one SQLite
writer for long: other runs' batches are written between two steps. The step that finds
nothing left marks the deletion ``purged``. The marks outlive a restart: :func:`pending` lists
the purges a store resumes when it opens.

A deleted run's id is kept (the newest :data:`DELETED_KEPT`): a producer that speaks for it
again is told ``run_deleted`` rather than ``run_not_found`` (on which the SDK would create the
run again). It may be created again on purpose (``runwatch import``) once purged; while a purge
goes on, a creation is refused (``run_deleting``).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable

from runwatch.protocol import FINAL_STATUSES
from runwatch.store.base import Record, RunInfo
from runwatch.store.errors import RunDeleting, RunNotFinished, StoreError
from runwatch.store.prepare import with_seq
from runwatch.store.sql import records
from runwatch.store.sql.media import BLOB_GRACE
from runwatch.store.sql.tx import Tx

# What one purge job deletes at most, in rows of small tables: a row of a table of big rows
# counts as its weight (:data:`OWNED`). Measured with benchmarks/delete_run.py: a job then
# holds SQLite's writer for a few milliseconds, about what a batch of 10,000 points does.
PURGE_ROWS = 500
RETRY_DELAY = 1.0  # seconds a purge waits after a step the store could not take
# Deleted runs whose ids are remembered once purged; older ones are forgotten.
DELETED_KEPT = 10_000
# Deleted with the run's row, at once: a few rows per run, shown on other pages.
AT_ONCE = ("run_values", "run_queue", "artifacts", "promotions", "alerts", "rules")
logger = logging.getLogger("runwatch.store")
_SERIES = "series_id IN (SELECT id FROM series WHERE run_id = ?)"
_RUN = "run_id = ?"
# What a purge deletes, in order: (table, the columns naming one row, the run's rows, its weight:
# what one row counts for in a job's PURGE_ROWS). A chunk holds up to 4,096 points (~100 KB), a
# journal record a whole batch's points; a chunk is named by its insertion order
# (``{insert_order}``: SQLite's rowid, PostgreSQL's id).
BIG = 25
OWNED: tuple[tuple[str, str, str, int], ...] = (
    ("chunks", "{insert_order}", _SERIES, BIG),
    ("pyramid", "series_id, axis, level, block", _SERIES, 1),
    ("series", "id", _RUN, 1),
    ("journal", "run_id, seq", _RUN, BIG),
    ("batches", "run_id, producer, batch_seq", _RUN, 1),
    ("event_entities", "run_id, entity, seq", _RUN, 1),
    ("events", "run_id, seq", _RUN, 1),
    ("snapshots", "run_id, key, version", _RUN, BIG),
    ("snapshot_keys", "run_id, key", _RUN, 1),
    ("media", "run_id, key, step", _RUN, 1),
    ("media_keys", "run_id, key", _RUN, 1),
    ("histograms", "run_id, key, step", _RUN, 1),
    ("histogram_keys", "run_id, key", _RUN, 1),
    ("tables", "run_id, name", _RUN, BIG),
    ("point_sets", "run_id, name", _RUN, BIG),
    ("logs", "run_id, line", _RUN, 1),
    ("commands", "run_id, id", _RUN, 1),
)


def delete(tx: Tx, run_id: str, now: float) -> tuple[RunInfo, list[Record]]:
    """Delete a finished run from every read (the first job): the run as it was, and the live
    record that ends its streams (``run.deleted``, never journaled: the journal goes too).
    :class:`~runwatch.store.errors.RunNotFound` (or ``RunDeleted``); :class:`RunNotFinished`
    for a queued or running run."""
    status = records.lock_run(tx, run_id)
    if status not in FINAL_STATUSES:
        raise RunNotFinished(f"run {run_id!r} is {status}: cancel it first", "status")
    run = records.fetch_run(tx, run_id)
    assert run is not None
    for table in AT_ONCE:
        tx.execute(f"DELETE FROM {table} WHERE run_id = ?", (run_id,))
    tx.execute("UPDATE sweep_trials SET run_deleted = ? WHERE run_id = ?", (True, run_id))
    tx.execute("DELETE FROM runs WHERE id = ?", (run_id,))
    tx.execute(
        "INSERT INTO deleted_runs (run_id, project, deleted_at, purged) VALUES (?,?,?,?)"
        " ON CONFLICT (run_id) DO UPDATE SET project = excluded.project,"
        " deleted_at = excluded.deleted_at, purged = excluded.purged",
        (run_id, run.project, now, False),
    )
    seq = run.seq + 1
    return run, [Record(seq, with_seq(seq, b'{"type":"run.deleted"}'), final=True)]


def purge_step(tx: Tx, run_id: str, limit: int, now: float) -> bool:
    """Delete at most ``limit`` rows (by weight) the deleted run still owns, in :data:`OWNED`
    order; True once nothing is left (the deletion is then marked purged). A step holds the
    deletion's row lock: replicas resuming one purge take turns, each seeing what the other
    deleted."""
    row = tx.execute(
        f"SELECT purged FROM deleted_runs WHERE run_id = ?{tx.dialect.for_update}", (run_id,)
    ).fetchone()
    if row is None or row[0]:
        return True
    left = limit
    for table, key, where, weight in OWNED:
        # At least one row a job, however heavy: a purge always moves on.
        cap = max(left // weight, 1 if left == limit else 0)
        if cap == 0:
            return False
        key = key.format(insert_order=tx.dialect.insert_order)
        sql = (
            f"DELETE FROM {table} WHERE ({key}) IN"
            f" (SELECT {key} FROM {table} WHERE {where} LIMIT ?)"
        )
        if table == "media":
            shas = [sha for (sha,) in tx.execute(f"{sql} RETURNING sha256", (run_id, cap))]
            _drop_blobs(tx, set(shas), now)
            deleted = len(shas)
        else:
            deleted = max(tx.execute(sql, (run_id, cap)).rowcount, 0)
        if deleted == cap:  # there may be more: the next job goes on from here
            return False
        left -= deleted * weight
    tx.execute("UPDATE deleted_runs SET purged = ? WHERE run_id = ?", (True, run_id))
    # Forget the oldest purged deletions past DELETED_KEPT (one at most, in a steady state).
    tx.execute(
        "DELETE FROM deleted_runs WHERE purged AND deleted_at < (SELECT deleted_at FROM"
        " deleted_runs WHERE purged ORDER BY deleted_at DESC LIMIT 1 OFFSET ?)",
        (DELETED_KEPT - 1,),
    )
    return True


def _drop_blobs(tx: Tx, shas: set[str], now: float) -> None:
    """Delete the image blobs among ``shas`` that no image names any more, once past the grace
    a blob has before its first image names it (as the retention sweep does: a younger one may
    be named by a batch on its way; the sweep takes it later)."""
    if shas:
        marks = ",".join("?" * len(shas))
        tx.execute(
            f"DELETE FROM blobs WHERE sha256 IN ({marks}) AND created_at < ?"
            " AND NOT EXISTS (SELECT 1 FROM media m WHERE m.sha256 = blobs.sha256)",
            (*shas, now - BLOB_GRACE),
        )


def pending(tx: Tx) -> list[str]:
    """The deleted runs whose rows are not all purged yet (a store resumes them at open)."""
    rows = tx.execute("SELECT run_id FROM deleted_runs WHERE NOT purged ORDER BY deleted_at")
    return [str(r[0]) for r in rows.fetchall()]


def deleted(tx: Tx) -> list[str]:
    """Every deleted run still remembered, purged or not, oldest first."""
    rows = tx.execute("SELECT run_id FROM deleted_runs ORDER BY deleted_at")
    return [str(r[0]) for r in rows.fetchall()]


def deleted_project(tx: Tx, run_id: str) -> str | None:
    """The project of the deleted run ``run_id`` (None: no run of that id was deleted, or its
    deletion is forgotten)."""
    row = tx.execute("SELECT project FROM deleted_runs WHERE run_id = ?", (run_id,)).fetchone()
    return None if row is None else str(row[0])


def reusing(tx: Tx, run_id: str) -> None:
    """A run ``run_id`` was just created (the caller's insert, holding its row): refuse it while
    a deleted run of that id is being purged (the purge would take the new run's rows too);
    once purged, the id lives again (its deletion and its trial's mark are dropped). Checked
    after the insert, which waits for a concurrent deletion of the id to commit."""
    row = tx.execute("SELECT purged FROM deleted_runs WHERE run_id = ?", (run_id,)).fetchone()
    if row is None:
        return
    if not row[0]:
        raise RunDeleting(
            f"run {run_id!r} is being deleted; create it again once that is done", "$.id"
        )
    tx.execute("DELETE FROM deleted_runs WHERE run_id = ?", (run_id,))
    tx.execute("UPDATE sweep_trials SET run_deleted = ? WHERE run_id = ?", (False, run_id))


class Purges:
    """This store's purges under way: one task per deleted run, a loop of :func:`purge_step`
    jobs through ``write``, each a write of its own (other runs' writes go between them)."""

    def __init__(self, write: Callable[[Callable[[Tx], bool]], Awaitable[bool]], rows: int) -> None:
        self._write = write
        self._rows = rows
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def start(self, run_id: str) -> None:
        """Purge the deleted run ``run_id`` (unless this store is at it already)."""
        if run_id not in self._tasks:
            task = asyncio.create_task(self._purge(run_id), name=f"runwatch-purge-{run_id}")
            self._tasks[run_id] = task
            task.add_done_callback(lambda _: self._tasks.pop(run_id, None))

    async def wait(self, run_id: str) -> None:
        """Return once this store's purge of ``run_id`` is done (at once when none runs). A
        caller that gives up waiting leaves the purge running."""
        task = self._tasks.get(run_id)
        if task is not None:
            await asyncio.shield(task)

    async def stop(self) -> None:
        """Stop every purge between two steps (the next open resumes them)."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _purge(self, run_id: str) -> None:
        step = functools.partial(purge_step, run_id=run_id, limit=self._rows)
        while True:
            try:
                if await self._write(lambda tx: step(tx, now=time.time())):
                    return
            except StoreError as exc:  # busy or failing now: the rows wait; try again shortly
                logger.warning("purge of run %s paused: %s", run_id, exc.message)
                await asyncio.sleep(RETRY_DELAY)
