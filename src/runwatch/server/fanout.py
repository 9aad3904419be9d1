"""Fan-out of live records to this replica's connections: bounded queues, encode once, no waiting.

A record arrives from the bus once; it is decoded to text once and appended to each subscriber's
bounded queue without awaiting anything, so one slow connection never delays another. Each
connection drains its queue on its own task, sending everything queued as one coalesced frame.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncGenerator

from runwatch.bus.base import Bus, Unsubscribe, run_channel
from runwatch.protocol import FINAL_STATUSES
from runwatch.store.base import Record, Store

LiveItem = tuple[int, str]  # (seq, the record's JSON text)

# Per-subscriber caps; past either, the queue is dropped and the subscriber catches up from the
# store (or is told to re-hydrate), so a stuck client costs at most this much memory. Queued
# texts are shared only while another subscriber still holds them: a lagging subscriber's queue
# is its own memory, so the cap is about two frames, not a backlog.
QUEUE_MAX_ITEMS = 2048
QUEUE_MAX_CHARS = 2 * 1024 * 1024
REPLAY_PAGE = 500
# A client further behind than this many records gets a reset instead of a replay (the store
# keeps at least this much journal: see store.sqlite.retention.JOURNAL_KEEP).
RESET_LAG = 20_000
# A coalesced frame holds at most this many records or characters (one record at least), so
# a connection that stops reading pins at most one such frame in memory.
FRAME_MAX_ITEMS = 256
FRAME_MAX_CHARS = 1024 * 1024
# Records arriving within BUSY_WINDOW of the last frame are held LINGER seconds to coalesce.
BUSY_WINDOW = 0.02
LINGER = 0.005


class Subscriber:
    """One connection's bounded queue of live items."""

    def __init__(self, max_items: int = QUEUE_MAX_ITEMS, max_chars: int = QUEUE_MAX_CHARS) -> None:
        self._items: deque[LiveItem] = deque()
        self._chars = 0
        self._max_items = max_items
        self._max_chars = max_chars
        self._ready = asyncio.Event()
        self.overflowed = False

    def offer(self, items: list[LiveItem]) -> None:
        """Queue items without waiting; past a cap, drop the whole queue and flag the overflow."""
        if self.overflowed:
            return
        self._items.extend(items)
        self._chars += sum(len(text) for _, text in items)
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
        items = [(r.seq, r.body.decode()) for r in records]  # decoded once for every subscriber
        for sub in subs:
            sub.offer(items)


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

    Subscribes before replaying so nothing committed in between is missed; drops what it has
    already sent; fills any gap (or a dropped queue) from the store. Ends after ``run.closed``.
    """
    sub = Subscriber()
    loop = asyncio.get_running_loop()
    channel = run_channel(run_id)
    hub.subscribe(channel, sub)
    try:
        run = await store.get_run(run_id)
        if run is None:
            return
        last = since
        if run.seq - last > reset_lag:
            last = run.seq
            yield [_control(last, "reset")]
        closed = run.status in FINAL_STATUSES and last >= run.seq
        while not closed:
            if sub.overflowed:
                sub.overflowed = False
                head = await store.get_run(run_id)
                if head is not None and head.seq - last > reset_lag:
                    sub.drain()
                    last = head.seq
                    yield [_control(last, "reset")]
            items = [item for item in sub.drain() if item[0] > last]
            if not items or items[0][0] != last + 1:
                # Replay (first pass), a gap, or a dropped queue: the store has every record.
                while page := await store.replay(run_id, last, REPLAY_PAGE):
                    for chunk in frames([(r.seq, r.body.decode()) for r in page]):
                        closed = closed or any(_is_final_status(t) for _, t in chunk)
                        yield chunk
                        last = chunk[-1][0]
                items = [item for item in items if item[0] > last]
            for chunk in frames(items):
                closed = closed or any(_is_final_status(t) for _, t in chunk)
                yield chunk
                last = chunk[-1][0]
            if not closed:
                sent_at = loop.time()
                await sub.wait()
                if loop.time() - sent_at < BUSY_WINDOW:
                    # A busy stream: wait a moment so one frame carries several records (one
                    # send per viewer per LINGER instead of per record); a quiet one pays nothing.
                    await asyncio.sleep(LINGER)
        yield [_control(last, "run.closed")]
    finally:
        hub.unsubscribe(channel, sub)
