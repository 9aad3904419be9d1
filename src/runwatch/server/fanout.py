"""Fan-out of live records to this replica's connections: bounded queues, encode once, no waiting.

A record arrives from the bus once and is decoded to text once. Per channel, records are
gathered and flushed together: the first after a quiet spell at once, then at most one flush per
FRAME_INTERVAL, so a busy run's viewers get one coalesced frame per interval, not one per record.
A flush writes one shared frame (see ``wire``) straight to every connection that is caught up
and keeping up; every other subscriber gets the records appended to its bounded queue, which its
own task drains (replaying from the store when needed). Nothing awaits a slow connection.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncGenerator

from runwatch.bus.base import Bus, Unsubscribe, run_channel
from runwatch.protocol import CLOSED_STATUSES
from runwatch.server.bus_notice import BusNotice
from runwatch.server.reorder import LiveItem as LiveItem  # re-exported: runs_feed uses it
from runwatch.server.reorder import SeqOrder
from runwatch.server.wire import Frame, FrameWriter
from runwatch.store.base import Record, RunInfo, Store

logger = logging.getLogger("runwatch.server")

# Per-subscriber caps; past either, the queue is dropped and the subscriber catches up from the
# store (or is told to re-hydrate), so a stuck client costs at most this much memory. Queued
# texts are shared only while another subscriber still holds them: a lagging subscriber's queue
# is its own memory, so the cap is about two frames, not a backlog.
QUEUE_MAX_ITEMS = 2048
QUEUE_MAX_CHARS = 1024 * 1024
REPLAY_PAGE = 500
# A client further behind than this many records gets a reset instead of a replay (the store
# keeps at least this much journal: see store.sql.retention.JOURNAL_KEEP).
RESET_LAG = 20_000
# A coalesced frame holds at most this many records or characters (one record at least), so
# a connection that stops reading pins at most one such frame in memory.
FRAME_MAX_ITEMS = 256
FRAME_MAX_CHARS = 256 * 1024
# A channel flushes at most once per FRAME_INTERVAL, or less often when a flush takes longer
# than 1/FLUSH_SHARE of the interval (many viewers): fan-out then gets at most that share of the
# loop, and ingest the rest; never less often than FRAME_INTERVAL_MAX. Records awaiting a flush
# past QUEUE_MAX_CHARS are flushed at once.
FRAME_INTERVAL = 0.02
FRAME_INTERVAL_MAX = 0.25
FLUSH_SHARE = 4
# A shared frame goes straight to a connection only while its unsent bytes stay under this (the
# transport also pauses writers at its own high-water mark); past it the connection falls back to
# its bounded queue.
DIRECT_MAX_BUFFERED = 256 * 1024
# Records past a hole (another replica's commit not yet heard) are held; every REORDER_WAIT the
# store is read again to fill it. A hole the store itself still shows after HOLE_TIMEOUT is
# skipped (logged): a lost seq must not freeze every viewer of the run.
REORDER_WAIT = 0.05
HOLE_TIMEOUT = 10.0


class Subscriber:
    """One connection's bounded queue of live items, and its direct writer when it has one.

    While ``direct`` (set by the connection's task when it is caught up and idle), a channel flush
    whose records start at ``next_seq`` writes them straight to the socket and advances
    ``next_seq``; any offer to the queue ends that until the task is idle again. A run's final
    status is always offered, with its seq as ``final_seq``: the stream ends once it sent it."""

    def __init__(
        self,
        max_items: int = QUEUE_MAX_ITEMS,
        max_chars: int = QUEUE_MAX_CHARS,
        writer: FrameWriter | None = None,
    ) -> None:
        self._items: deque[LiveItem] = deque()
        self._chars = 0
        self._max_items = max_items
        self._max_chars = max_chars
        self._ready = asyncio.Event()
        self.overflowed = False
        # Set by an empty offer (a bus resync): records may have been missed; read the store.
        self.stale = False
        self.writer = writer
        self.direct = False
        self.next_seq = 0
        self.final_seq: int | None = None

    def offer(
        self, items: list[LiveItem], chars: int | None = None, final_seq: int | None = None
    ) -> None:
        """Queue items without waiting; past a cap, drop the whole queue and flag the overflow.
        ``chars``: the items' total text length, when the caller counted it once for everyone;
        ``final_seq``: the seq of a final status among them (kept even if the queue drops)."""
        self.direct = False  # the task must send what is queued before anything newer
        if final_seq is not None and self.final_seq is None:
            self.final_seq = final_seq
        if not items:
            self.stale = True
            self._ready.set()
            return
        if self.overflowed:
            return
        self._items.extend(items)
        self._chars += sum(len(text) for _, text in items) if chars is None else chars
        if len(self._items) > self._max_items or self._chars > self._max_chars:
            self._items.clear()
            self._chars = 0
            self.overflowed = True
        self._ready.set()

    def drain(self) -> list[LiveItem]:
        items = list(self._items)
        self._items.clear()
        self._chars = 0
        self._ready.clear()
        return items

    async def wait(self) -> None:
        await self._ready.wait()

    def wake(self) -> None:
        self._ready.set()

    def go_direct(self, next_seq: int) -> None:
        """Let flushes starting at ``next_seq`` go straight to the socket (the queue is empty)."""
        if self.writer is not None:
            self.next_seq, self.direct = next_seq, True

    def ended(self, last: int) -> bool:
        """Whether a stream that sent every seq through ``last`` has sent a final status."""
        return self.final_seq is not None and last >= self.final_seq

    def stop_direct(self) -> int:
        """End direct writes; the last seq they sent (below any real seq if there is no writer)."""
        self.direct = False
        return self.next_seq - 1

    def takes(self, first: int) -> bool:
        """Whether a shared frame starting at seq ``first`` may be written to the socket now."""
        return (
            self.direct
            and self.next_seq == first
            and self.writer is not None
            and self.writer.writable(DIRECT_MAX_BUFFERED)
        )


class _Channel:
    """A channel's subscribers, its bus subscription, and the records awaiting the next flush
    (``final_seq``: the first final status among them)."""

    __slots__ = (
        "chars",
        "final_seq",
        "flushed_at",
        "interval",
        "pending",
        "subs",
        "timer",
        "unsubscribe",
    )

    def __init__(self) -> None:
        self.subs: set[Subscriber] = set()
        self.unsubscribe: Unsubscribe = lambda: None
        self.pending: list[LiveItem] = []
        self.chars = 0
        self.final_seq: int | None = None
        self.timer: asyncio.TimerHandle | asyncio.Handle | None = None
        self.flushed_at = -1e9
        self.interval = FRAME_INTERVAL


class LiveHub:
    """Per channel, the local subscribers and one bus subscription shared by all of them."""

    def __init__(self, bus: Bus) -> None:
        self._bus = bus
        self._channels: dict[str, _Channel] = {}

    def subscribe(self, channel: str, subscriber: Subscriber) -> None:
        entry = self._channels.get(channel)
        if entry is None:
            entry = self._channels[channel] = _Channel()
            entry.unsubscribe = self._bus.subscribe(
                channel, lambda recs: self._deliver(entry, recs)
            )
        entry.subs.add(subscriber)

    def unsubscribe(self, channel: str, subscriber: Subscriber) -> None:
        entry = self._channels.get(channel)
        if entry is None:
            return
        entry.subs.discard(subscriber)
        if not entry.subs:
            entry.unsubscribe()
            if entry.timer is not None:
                entry.timer.cancel()
            del self._channels[channel]

    @property
    def bus(self) -> Bus:
        """The bus this hub's channels are subscribed on."""
        return self._bus

    def subscriber_count(self) -> int:
        return sum(len(entry.subs) for entry in self._channels.values())

    def _deliver(self, channel: _Channel, records: list[Record]) -> None:
        if not records:  # a bus resync: what is pending goes first, then everyone re-reads
            self._flush(channel)
            for sub in channel.subs:
                sub.offer([])
            return
        items = [(r.seq, r.body.decode()) for r in records]  # decoded once for every subscriber
        channel.pending += items
        if channel.final_seq is None:
            channel.final_seq = next((r.seq for r in records if r.final), None)
        channel.chars += sum(len(text) for _, text in items)
        if channel.chars > QUEUE_MAX_CHARS:
            self._flush(channel)
        elif channel.timer is None:
            loop = asyncio.get_running_loop()
            wait = channel.flushed_at + channel.interval - loop.time()
            channel.timer = (
                loop.call_later(wait, self._flush, channel)
                if wait > 0
                else loop.call_soon(self._flush, channel)
            )

    @staticmethod
    def _flush(channel: _Channel) -> None:
        if channel.timer is not None:
            channel.timer.cancel()
            channel.timer = None
        items, chars, final_seq = channel.pending, channel.chars, channel.final_seq
        channel.pending, channel.chars, channel.final_seq = [], 0, None
        if not items:
            return
        loop = asyncio.get_running_loop()
        started = channel.flushed_at = loop.time()
        first, last = items[0][0], items[-1][0]
        # Shared frames carry only an in-order run of seqs; the end of a run goes through each
        # connection's task, which closes the stream after it.
        shareable = final_seq is None and all(seq == first + i for i, (seq, _) in enumerate(items))
        shared: list[Frame] = []
        for sub in channel.subs:
            if shareable and sub.takes(first):
                if not shared:
                    shared = [Frame(frame_text(chunk)) for chunk in frames(items)]
                writer = sub.writer
                assert writer is not None
                for frame in shared:
                    writer.write(frame)
                sub.next_seq = last + 1
            else:
                sub.offer(items, chars, final_seq)
        cost = loop.time() - started
        channel.interval = min(FRAME_INTERVAL_MAX, max(FRAME_INTERVAL, FLUSH_SHARE * cost))


def frame_text(items: list[LiveItem]) -> str:
    """One WebSocket frame: a lone record as itself, several as a JSON array, in order."""
    if len(items) == 1:
        return items[0][1]
    return "[" + ",".join(text for _, text in items) + "]"


def frames(items: list[LiveItem]) -> list[list[LiveItem]]:
    """Split items, in order, into frames within FRAME_MAX_ITEMS and FRAME_MAX_CHARS."""
    out: list[list[LiveItem]] = []
    current: list[LiveItem] = []
    chars = 0
    for item in items:
        if current and (len(current) >= FRAME_MAX_ITEMS or chars + len(item[1]) > FRAME_MAX_CHARS):
            out.append(current)
            current, chars = [], 0
        current.append(item)
        chars += len(item[1])
    if current:
        out.append(current)
    return out


def _control(seq: int, kind: str) -> LiveItem:
    return (seq, f'{{"seq":{seq},"type":"{kind}"}}')


def _ended(run: RunInfo | None, last: int) -> bool:
    """Whether a stream that sent every seq through ``last`` has sent the run's final status,
    ``run`` having been read before those seqs were: whatever it had committed is sent."""
    return run is not None and run.status in CLOSED_STATUSES and last >= run.seq


async def run_stream(
    store: Store,
    hub: LiveHub,
    run_id: str,
    since: int,
    reset_lag: int = RESET_LAG,
    writer: FrameWriter | None = None,
) -> AsyncGenerator[list[LiveItem], None]:
    """Every record of a run with seq > ``since``: replay from the store, then live, gap-free.

    Subscribes before replaying so nothing committed in between is missed; sends each seq once
    and in order (records from several replicas may arrive out of order: see ``SeqOrder``);
    fills any hole, a dropped queue or a bus resync from the store; says (a ``bus`` message) when
    the bus becomes unreachable and when it is back. Ends after ``run.closed`` (after
    ``run.deleted`` when the run is deleted).
    With a ``writer``, live records that need none of this are written by the hub's flushes
    while this generator waits (the caller must send what it yields through the same writer).
    """
    sub = Subscriber(writer=writer)
    loop = asyncio.get_running_loop()
    channel = run_channel(run_id)
    hub.subscribe(channel, sub)
    try:
        run = await store.get_run(run_id)
        if run is None:
            return
        order = SeqOrder(since)
        if run.seq - since > reset_lag:
            order.skip_to(run.seq)
            yield [_control(order.last, "reset")]
        closed = _ended(run, order.last)
        read_store = True  # the first pass replays
        head: RunInfo | None = run  # the run as read before the next replay (None: read it then)
        hole_at: float | None = None
        notice = BusNotice(hub.bus)
        while not closed:
            if notice.update():  # checked on every wake: an outage's resyncs wake us each second
                yield [notice.message(order.last)]
            if sub.overflowed:
                sub.overflowed = False
                read_store = True
                head = await store.get_run(run_id)
                if head is not None and head.seq - order.last > reset_lag:
                    sub.drain()
                    order.skip_to(head.seq)
                    yield [_control(order.last, "reset")]
            if sub.stale:
                sub.stale = False
                read_store = True
            arrived = sub.drain()
            ready = order.push(arrived)
            for chunk in frames(ready):
                yield chunk
            if read_store or not arrived or order.waiting:
                # Replay, a hole, a resync or a dropped queue: the store has every committed record.
                read_store = False
                head = head or await store.get_run(run_id)
                if head is None:  # deleted, its run.deleted record missed (a bus resync)
                    yield [_control(order.last, "run.deleted")]
                    break
                while page := await store.replay(run_id, order.last, REPLAY_PAGE):
                    ready = order.push([(r.seq, r.body.decode()) for r in page])
                    for chunk in frames(ready):
                        yield chunk
                    if not ready:
                        break  # a hole at the start of the page (pages end short at a byte cap)
                closed, head = _ended(head, order.last), None
            if closed or sub.ended(order.last):
                break
            if order.waiting:
                hole_at = hole_at if hole_at is not None else loop.time()
                if loop.time() - hole_at > HOLE_TIMEOUT:
                    logger.warning("run %s: seq %d never arrived; skipped", run_id, order.last + 1)
                    order.skip_to((order.first_held() or order.last + 1) - 1)
                    hole_at = None
                    continue
                try:  # hold what came past the hole; the next arrival or a re-read fills it
                    await asyncio.wait_for(sub.wait(), REORDER_WAIT)
                except TimeoutError:
                    read_store = True
                continue
            hole_at = None
            # Let go of this pass's texts (up to a replay page): while the hub writes straight
            # to the socket, this may wait for as long as the run lives.
            arrived, ready, chunk, page = [], [], [], []
            sub.go_direct(order.last + 1)
            await sub.wait()
            order.skip_to(sub.stop_direct())  # what the hub wrote meanwhile is sent
        yield [_control(order.last, "run.closed")]
    finally:
        hub.unsubscribe(channel, sub)
