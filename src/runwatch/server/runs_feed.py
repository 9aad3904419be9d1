"""Runs-list live deltas: which runs changed, at most a few times a second, for every viewer."""

from __future__ import annotations

import asyncio
import contextlib

import msgspec

from runwatch.bus.base import RUNS_CHANNEL
from runwatch.server.bus_notice import BusNotice
from runwatch.server.fanout import LiveHub, LiveItem, Subscriber
from runwatch.store.base import Record, RunInfo, Store

FLUSH_INTERVAL = 0.25
# Distinct runs remembered as changed between two flushes; past this, viewers get a reset.
DIRTY_CAP = 2000


class Watch(msgspec.Struct, frozen=True):
    """What one viewer follows: the runs of ``project`` (None: every project), and only the run
    ``run`` when given (a finished run's page, whose own stream has ended, hears its edits
    here)."""

    project: str | None = None
    run: str | None = None

    def wants(self, project: str, run_id: str) -> bool:
        return (self.project is None or self.project == project) and (
            self.run is None or self.run == run_id
        )


class RunsFeed:
    """Collects changed run ids from the bus and, every ``FLUSH_INTERVAL``, sends their new rows.

    Each viewer gets ``{"type": "run", "run": {...}}`` per changed run that its :class:`Watch`
    wants, and ``{"type": "run.deleted", "id": ...}`` per such run deleted. Throttling bounds
    the work to one read per changed run per interval, however fast runs log. Every viewer
    hears a ``bus`` message when the bus goes down or comes back (a new viewer is told at
    connect: see ``bus_notice``).
    """

    def __init__(self, store: Store, hub: LiveHub, interval: float = FLUSH_INTERVAL) -> None:
        self._store = store
        self._hub = hub
        self._interval = interval
        self._dirty: set[str] = set()
        self._overflow = False
        self._viewers: dict[Subscriber, Watch] = {}
        self._seq = 0
        self._task: asyncio.Task[None] | None = None
        self._feed = Subscriber()
        self._notice = BusNotice(hub.bus)

    def start(self) -> None:
        self._hub.subscribe(RUNS_CHANNEL, self._feed)
        self._task = asyncio.create_task(self._loop(), name="runwatch-runs-feed")

    async def stop(self) -> None:
        self._hub.unsubscribe(RUNS_CHANNEL, self._feed)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def add_viewer(self, viewer: Subscriber, watch: Watch) -> None:
        self._viewers[viewer] = watch

    def remove_viewer(self, viewer: Subscriber) -> None:
        self._viewers.pop(viewer, None)

    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    async def _loop(self) -> None:
        while True:
            await self._feed.wait()
            for _, run_id in self._feed.drain():
                self._dirty.add(run_id)
            if self._feed.stale:
                # A bus resync: some changes may never have been heard; send every list again.
                self._feed.stale = False
                await self._resend_lists()
                if self._notice.update():
                    self._broadcast_all(self._notice.message(self.next_seq()))
            if self._feed.overflowed or len(self._dirty) > DIRTY_CAP:
                self._feed.overflowed = False
                self._dirty.clear()
                self._broadcast_all(self._item("reset", {}))
            await self._flush()
            await asyncio.sleep(self._interval)  # throttle: batch the changes of this interval

    async def _flush(self) -> None:
        dirty, self._dirty = self._dirty, set()
        if not self._viewers:
            return
        for run_id in sorted(dirty):
            run = await self._store.get_run(run_id)
            if run is not None:
                self._send_run(run)
            elif (project := await self._store.deleted_project(run_id)) is not None:
                self._send_deleted(run_id, project)

    async def _resend_lists(self) -> None:
        for watch in set(self._viewers.values()):
            item = self._item("runs", {"runs": await self.runs(watch)})
            for viewer, wanted in list(self._viewers.items()):
                if wanted == watch:
                    viewer.offer([item])

    async def runs(self, watch: Watch) -> list[RunInfo]:
        """The runs a viewer following ``watch`` is sent first (and again after a bus resync)."""
        if watch.run is None:
            return await self._store.list_runs(project=watch.project)
        run = await self._store.get_run(watch.run)
        return [] if run is None or not watch.wants(run.project, run.id) else [run]

    def _send_run(self, run: RunInfo) -> None:
        item = self._item("run", {"run": run})
        for viewer, watch in self._viewers.items():
            if watch.wants(run.project, run.id):
                viewer.offer([item])

    def _send_deleted(self, run_id: str, project: str) -> None:
        item = self._item("run.deleted", {"id": run_id})
        for viewer, watch in self._viewers.items():
            if watch.wants(project, run_id):
                viewer.offer([item])

    def _broadcast_all(self, item: LiveItem) -> None:
        for viewer in self._viewers:
            viewer.offer([item])

    def _item(self, kind: str, fields: dict[str, object]) -> LiveItem:
        seq = self.next_seq()
        return (seq, msgspec.json.encode({"seq": seq, "type": kind, **fields}).decode())


def touched(run_id: str) -> Record:
    """The bus record that says a run changed."""
    return Record(0, run_id.encode())
