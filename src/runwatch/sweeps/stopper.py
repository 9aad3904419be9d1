"""The server's early termination of sweep trials, live, as watch rules act.

It listens to the store's commits (off the ingest ack path: the listener only queues). For a
run that is a trial of a sweep with hyperband ``early_terminate``, each committed point of the
sweep's metric at or past the trial's next rung is taken to the store, which records it and
judges it (:mod:`runwatch.sweeps.hyperband`) under the sweep's row lock; a trial judged worse
is marked, gets an ``early_stop`` event in its run's feed and a cooperative cancel, as a
rule's ``cancel`` action.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from runwatch.commit_queue import CommitQueue
from runwatch.live_records import decode_live
from runwatch.protocol import FINAL_STATUSES, decode_value
from runwatch.store.base import Committed, PointsRecord, Record, RungReached, Store
from runwatch.sweeps.hyperband import Plan, plan_of
from runwatch.sweeps.spec import SweepError, parse_sweep

logger = logging.getLogger("runwatch.sweeps")
BACKLOG = 10_000  # commits waiting; past it the oldest are dropped (counted)
RUNS_CAP = 10_000  # runs whose trial (or its absence) is remembered; least recently used go


@dataclass
class _Watch:
    """One trial's run being watched: its sweep's plan and the next rung it may reach."""

    sweep_id: str
    index: int
    plan: Plan
    next_rung: int = 0
    done: bool = False


def _metric(record: Record, key: str) -> tuple[list[int], list[float]] | str | None:
    """The metric's steps and values in a record; the run's end (its status); else None."""
    if isinstance(record, PointsRecord):
        column = record.columns.get(key)
        return None if column is None else (column.step, column.value)
    head = record.body[:48]
    if b'"type":"points"' not in head and b'"type":"status"' not in head:
        return None
    live = decode_live(record.body)
    if live.type == "status":
        # A crashed run may come back (its producer heartbeats again): only a real end counts.
        ended = live.state in FINAL_STATUSES and live.state != "crashed"
        return live.state if ended else None
    wire = live.points.get(key)
    return None if wire is None else (wire.step, [decode_value(v) for v in wire.value])


class EarlyStopper:
    """Enforces the sweeps' hyperband early termination on committed points."""

    def __init__(self, store: Store, backlog: int = BACKLOG) -> None:
        self._store = store
        self._runs: OrderedDict[str, _Watch | None] = OrderedDict()
        self._commits = CommitQueue(self.evaluate, "early termination", logger, backlog)
        self._task: asyncio.Task[None] | None = None
        self.stopped = 0

    async def start(self) -> None:
        """Evaluate commits until stopped."""
        self._task = asyncio.create_task(self._commits.run(), name="runwatch-early-stop")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def health(self) -> dict[str, Any]:
        """For ``/healthz``: commits waiting, commits dropped, trials stopped early here."""
        return {"backlog": len(self._commits), "dropped_commits": self._commits.dropped,
                "stopped": self.stopped}  # fmt: skip

    def on_commit(self, committed: list[Committed]) -> None:
        """The store's commit listener: queue the commit, never evaluate here (ack path)."""
        self._commits.put(committed)

    async def idle(self) -> None:
        """Wait until every queued commit is evaluated."""
        await self._commits.idle()

    async def evaluate(self, committed: list[Committed]) -> None:
        """Take each watched trial's metric points in one commit to their rungs."""
        for change in committed:
            watch = await self._watch(change.run_id)
            if watch is None or watch.done:
                continue
            for record in change.records:
                found = _metric(record, watch.plan.key)
                if isinstance(found, str):
                    watch.done = True  # the run ended: nothing more to judge
                elif found is not None:
                    await self._advance(watch, change.run_id, *found)
                if watch.done:
                    break

    async def _advance(
        self, watch: _Watch, run_id: str, steps: list[int], values: list[float]
    ) -> None:
        rungs = watch.plan.rungs
        while watch.next_rung < len(rungs) and steps and max(steps) >= rungs[watch.next_rung]:
            rung = rungs[watch.next_rung]
            # The first finite value at or past the rung (a batch's steps need not be sorted).
            first = min(
                ((s, v) for s, v in zip(steps, values, strict=False)
                 if s >= rung and v is not None and math.isfinite(v)),
                default=None,
            )  # fmt: skip
            if first is None:
                return  # only non-finite values past the rung so far: a later point decides
            reached = RungReached(watch.sweep_id, watch.index, run_id, rung, *first)
            verdict = await self._store.reach_rung(reached, watch.plan.judge)
            watch.next_rung += 1
            if verdict is not None:
                self.stopped += 1
                watch.done = True
                return

    async def _watch(self, run_id: str) -> _Watch | None:
        if run_id in self._runs:
            self._runs.move_to_end(run_id)
            return self._runs[run_id]
        trial = await self._store.watched_trial(run_id)
        watch = None
        if trial is not None and not trial.stopped:
            try:
                plan = plan_of(parse_sweep(trial.spec))
            except SweepError:  # stored before a check this version makes: not enforced
                plan = None
            if plan is not None:
                watch = _Watch(trial.sweep_id, trial.index, plan)
        self._runs[run_id] = watch
        if len(self._runs) > RUNS_CAP:
            self._runs.popitem(last=False)
        return watch
