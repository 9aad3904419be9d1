"""Fan-out of live records to this replica's connections: bounded queues, encode once, no waiting.

A record arrives from the bus once; it is decoded to text once and appended to each subscriber's
bounded queue without awaiting anything, so one slow connection never delays another. Each
connection drains its queue on its own task, sending everything queued as one coalesced frame.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncGenerator

from runwatch.bus.base import Bus, Unsubscribe, run_channel
from runwatch.protocol import FINAL_STATUSES
from runwatch.server.reorder import LiveItem as LiveItem  # re-exported: runs_feed uses it
from runwatch.server.reorder import SeqOrder
from runwatch.store.base import Record, Store

logger = logging.getLogger("runwatch.server")

# Per-subscriber caps; past either, the queue is dropped and the subscriber catches up from the
# store (or is told to re-hydrate), so a stuck client costs at most this much memory. Queued
# texts are shared only while another subscriber still holds them: a lagging subscriber's queue
# is its own memory, so the cap is about two frames, not a backlog.
QUEUE_MAX_ITEMS = 2048
QUEUE_MAX_CHARS = 1024 * 1024
REPLAY_PAGE = 500
# A client further behind than this many records gets a reset instead of a replay (the store
# keeps at least this much journal: see store.sqlite.retention.JOURNAL_KEEP).
RESET_LAG = 20_000
# A coalesced frame holds at most this many records or characters (one record at least), so
# a connection that stops reading pins at most one such frame in memory.
FRAME_MAX_ITEMS = 256
FRAME_MAX_CHARS = 256 * 1024
# Records arriving within BUSY_WINDOW of the last frame are held LINGER seconds to coalesce.
BUSY_WINDOW = 0.02
LINGER = 0.005
# Records past a hole (another replica's commit not yet heard) are held; every REORDER_WAIT the
# store is read again to fill it. A hole the store itself still shows after HOLE_TIMEOUT is
# skipped (logged): a lost seq must not freeze every viewer of the run.
REORDER_WAIT = 0.05
HOLE_TIMEOUT = 10.0


class Subscriber:
    """One connection's bounded queue of live items."""

    def __init__(self, max_items: int = QUEUE_MAX_ITEMS, max_chars: int = QUEUE_MAX_CHARS) -> None:
        self._items: deque[LiveItem] = deque()
        self._chars = 0
        self._max_items = max_items
        self._max_chars = max_chars
        self._ready = asyncio.Event()
        self.overflowed = False
        # Set by an empty offer (a bus resync): records may have been missed; read the store.
        self.stale = False

    def offer(self, items: list[LiveItem], chars: int | None = None) -> None:
        """Queue items without waiting; past a cap, drop the whole queue and flag the overflow.
        ``chars``: the items' total text length, when the caller counted it once for everyone."""
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


class LiveHub:
    """Per channel, the local subscribers and one bus subscription shared by all of them."""

    def __init__(self, bus: Bus) -> None:
        self._bus = bus
        self._channels: dict[str, tuple[set[Subscriber], Unsubscribe]] = {}

    def subscribe(self, channel: str, subscriber: Subscriber) -> None:
        entry = self._channels.get(channel)
        if entry is None:
            subs: set[Subscriber] = set()
            unsubscribe = self._bus.subscribe(channel, lambda recs: self._deliver(subs, recs))
            self._channels[channel] = entry = (subs, unsubscribe)
        entry[0].add(subscriber)

    def unsubscribe(self, channel: str, subscriber: Subscriber) -> None:
        entry = self._channels.get(channel)
        if entry is None:
            return
        entry[0].discard(subscriber)
        if not entry[0]:
            entry[1]()
            del self._channels[channel]

    def subscriber_count(self) -> int:
        return sum(len(subs) for subs, _ in self._channels.values())

    @staticmethod
    def _deliver(subs: set[Subscriber], records: list[Record]) -> None:
        # Decoded and measured once for every subscriber (a run may have thousands).
        items = [(r.seq, r.body.decode()) for r in records]
        chars = sum(len(text) for _, text in items)
        for sub in subs:
            sub.offer(items, chars)


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


def _is_final_status(text: str) -> bool:
    if '"type":"status"' not in text[:40]:
        return False
    return any(f'"state":"{s}"' in text for s in FINAL_STATUSES)


async def run_stream(
    store: Store, hub: LiveHub, run_id: str, since: int, reset_lag: int = RESET_LAG
) -> AsyncGenerator[list[LiveItem], None]:
    """Every record of a run with seq > ``since``: replay from the store, then live, gap-free.

    Subscribes before replaying so nothing committed in between is missed; sends each seq once
    and in order (records from several replicas may arrive out of order: see ``SeqOrder``);
    fills any hole, a dropped queue or a bus resync from the store. Ends after ``run.closed``.
    """
    sub = Subscriber()
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
        closed = run.status in FINAL_STATUSES and order.last >= run.seq
        read_store = True  # the first pass replays
        hole_at: float | None = None
        while not closed:
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
                closed = closed or any(_is_final_status(t) for _, t in chunk)
                yield chunk
            if read_store or not arrived or order.waiting:
                # Replay, a hole, a resync or a dropped queue: the store has every committed record.
                read_store = False
                while page := await store.replay(run_id, order.last, REPLAY_PAGE):
                    ready = order.push([(r.seq, r.body.decode()) for r in page])
                    for chunk in frames(ready):
                        closed = closed or any(_is_final_status(t) for _, t in chunk)
                        yield chunk
                    if not ready:
                        break  # a hole at the start of the page (pages end short at a byte cap)
            if closed:
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
            sent_at = loop.time()
            await sub.wait()
            if loop.time() - sent_at < BUSY_WINDOW:
                # A busy stream: wait a moment so one frame carries several records (one
                # send per viewer per LINGER instead of per record); a quiet one pays nothing.
                await asyncio.sleep(LINGER)
        yield [_control(order.last, "run.closed")]
    finally:
        hub.unsubscribe(channel, sub)
