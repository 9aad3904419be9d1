"""The Redis bus: live records fan out to every server replica through Redis pub/sub.

Why pub/sub and not Streams: the store's journal is already the durable, ordered log every
viewer replays from (``store.replay``); the bus only has to say "these records were committed",
fast. Pub/sub costs one hop and keeps nothing in Redis. Whatever it loses (a Redis restart, the
moment before a subscription is active, a dropped publish queue) is announced to the callbacks
as an empty delivery, a *resync*: "you may have missed records; read them from the store".

One connection subscribes (a reader task reads it; an ops task sends SUBSCRIBE/UNSUBSCRIBE/PING
on it in call order), one more publishes: a bounded local queue, sent as pipelines, so
``publish`` never waits for Redis. Channels are global to a Redis server (not per database), so
every name carries a prefix: ``redis://host:6379/0?prefix=team-a:`` separates deployments.

A hung Redis (stopped, or a network that drops packets while TCP stays up) is a lost one: the
reader pings a quiet subscription and, after ``LINK_TIMEOUT`` of silence, drops it as if the
connection had died (same reconnect, same resync); every command times out alike. While Redis
is lost, every subscriber gets a resync each ``OUTAGE_RESYNC`` s and reads the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections import deque
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import msgspec
from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeout

from runwatch.bus.base import BusCallback, Unsubscribe
from runwatch.store.base import Record

logger = logging.getLogger("runwatch.bus")

DEFAULT_PREFIX = "runwatch:"
# The local publish queue (records waiting for Redis): past either cap (Redis down or too
# slow), the whole queue is dropped and, once Redis answers, one resync goes to every replica.
PUBLISH_QUEUE_MAX = 10_000
PUBLISH_QUEUE_BYTES = 32 * 1024 * 1024
# Messages per pipeline round trip: bounds one send while keeping a burst to a few trips.
PIPELINE_MAX = 1000
RECONNECT_MIN = 0.05
RECONNECT_MAX = 2.0
# A subscription quiet this long gets a PING; Redis silent for LINK_TIMEOUT counts as lost.
PING_EVERY = 1.0
LINK_TIMEOUT = 3.0
# While Redis is away every channel misses records: each subscriber is told to resync (read the
# store) this often, so viewers and producers' long-polls go on, a second late at most.
OUTAGE_RESYNC = 1.0
_RESYNC = "__resync__"
_ALIVE = "alive"  # the token of the reader's own pings (sync's are "sync-<n>")
# Errors that mean "Redis is unreachable": reconnect with backoff, never crash the server.
_LINK_ERRORS = (RedisError, OSError)


class _Wire(msgspec.Struct, array_like=True):
    """A record on Redis: ``[seq, body, final]`` (a replica that sends no ``final``: False)."""

    seq: int
    body: bytes
    final: bool = False


_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(list[_Wire]).decode


class BusUnavailable(RuntimeError):
    """Redis could not be reached when the bus started."""


def split_url(url: str) -> tuple[str, str]:
    """A bus URL without our ``prefix`` query parameter, and that prefix (or the default)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    prefix = next((v for k, v in query if k == "prefix"), DEFAULT_PREFIX)
    rest = urlencode([(k, v) for k, v in query if k != "prefix"])
    return urlunsplit(parts._replace(query=rest)), prefix


def redact(url: str) -> str:
    """The URL without its password, fit for /healthz and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


class RedisBus:
    """The Bus protocol over Redis pub/sub; callbacks run on the event loop in arrival order,
    which is publish order for each publishing replica."""

    def __init__(
        self,
        url: str,
        max_queued: int = PUBLISH_QUEUE_MAX,
        max_queued_bytes: int = PUBLISH_QUEUE_BYTES,
    ) -> None:
        self._url, self._prefix = split_url(url)
        self._max_queued = max_queued
        self._max_queued_bytes = max_queued_bytes
        self._callbacks: dict[str, list[BusCallback]] = {}
        self._queue: deque[tuple[str, bytes]] = deque()
        self._queued_bytes = 0
        self._generation = 0  # bumped when the queue is dropped (an in-flight send is void)
        self._lost = False  # records were dropped: announce a resync once Redis answers
        self._enqueued = 0
        self._sent = 0
        self._publish_wake = asyncio.Event()
        self._sent_event = asyncio.Event()
        self._ops: deque[tuple[str, str]] = deque()
        self._ops_wake = asyncio.Event()
        self._pongs: dict[str, asyncio.Future[None]] = {}
        self._tokens = itertools.count()
        self._up = asyncio.Event()
        self._client: Redis | None = None
        self._pubsub: PubSub | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.published = 0
        self.dropped = 0
        self.reconnects = 0

    async def start(self) -> None:
        """Connect and subscribe; raises BusUnavailable (one line) when Redis does not answer."""
        # No retries inside redis-py: our loops reconnect, and then tell subscribers to resync.
        # socket_timeout bounds every command and handshake: a hung Redis never holds a task.
        self._client = Redis.from_url(
            self._url,
            retry=Retry(NoBackoff(), 0),
            socket_keepalive=True,
            socket_connect_timeout=5,
            socket_timeout=LINK_TIMEOUT,
        )
        try:
            await self._client.ping()
        except _LINK_ERRORS as exc:
            await self._client.aclose()
            self._client = None
            raise BusUnavailable(f"cannot reach Redis at {redact(self._url)}: {exc}") from exc
        self._tasks = [
            asyncio.create_task(self._receive_loop(), name="runwatch-bus-receive"),
            asyncio.create_task(self._ops_loop(), name="runwatch-bus-ops"),
            asyncio.create_task(self._publish_loop(), name="runwatch-bus-publish"),
            asyncio.create_task(self._outage_loop(), name="runwatch-bus-outage"),
        ]
        await asyncio.wait_for(self._up.wait(), 10)

    async def stop(self) -> None:
        """Send what is queued (briefly), then close every connection."""
        if self._client is not None and self._up.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._flushed(self._enqueued), 1.0)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        self._callbacks.clear()
        await self._close_pubsub()
        if self._client is not None:
            with contextlib.suppress(*_LINK_ERRORS):
                await self._client.aclose()
            self._client = None

    def publish(self, channel: str, records: list[Record]) -> None:
        """Queue for Redis without waiting; past a cap, drop the queue and owe a resync."""
        payload = _encode([_Wire(r.seq, r.body, r.final) for r in records])
        if (
            len(self._queue) >= self._max_queued
            or self._queued_bytes + len(payload) > self._max_queued_bytes
        ):
            self.dropped += len(self._queue) + 1
            self._queue.clear()
            self._queued_bytes = 0
            self._generation += 1
            self._lost = True
            self._enqueued += 1
            self._sent = self._enqueued  # nothing left to wait for: the resync replaces it
            self._publish_wake.set()
            return
        self._queue.append((self._prefix + channel, payload))
        self._queued_bytes += len(payload)
        self._enqueued += 1
        self._publish_wake.set()

    def subscribe(self, channel: str, callback: BusCallback) -> Unsubscribe:
        """Call ``callback`` with each delivery on ``channel``; an empty one means resync."""
        callbacks = self._callbacks.get(channel)
        if callbacks is None:
            self._callbacks[channel] = callbacks = []
            self._op("subscribe", self._prefix + channel)
        callbacks.append(callback)

        def unsubscribe() -> None:
            current = self._callbacks.get(channel, [])
            # By identity: two equal callbacks (say, dataclass instances) are two subscribers.
            for i, subscribed in enumerate(current):
                if subscribed is callback:
                    del current[i]
                    break
            if not current and self._callbacks.pop(channel, None) is not None:
                self._op("unsubscribe", self._prefix + channel)

        return unsubscribe

    async def sync(self) -> None:
        """Return once every subscription made and record published so far is live in Redis."""
        token = f"sync-{next(self._tokens)}"
        pong: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pongs[token] = pong
        self._op("ping", token)
        try:
            await pong
        finally:
            self._pongs.pop(token, None)
        await self._flushed(self._enqueued)

    def health(self) -> dict[str, object]:
        return {
            "backend": "redis",
            "url": redact(self._url),
            "prefix": self._prefix,
            "connected": self._up.is_set(),
            "channels": len(self._callbacks),
            "published": self.published,
            "queued": len(self._queue),
            "dropped": self.dropped,
            "reconnects": self.reconnects,
        }

    def outage(self) -> str | None:
        """While Redis is lost (see ``_outage_loop``): what viewers get instead of pushes."""
        if self._up.is_set():
            return None
        return f"bus unreachable: updates re-read every {OUTAGE_RESYNC:g} s"

    def _op(self, kind: str, arg: str) -> None:
        self._ops.append((kind, arg))
        self._ops_wake.set()

    async def _flushed(self, target: int) -> None:
        while self._sent < target:
            self._sent_event.clear()
            await self._sent_event.wait()

    def _deliver(self, channel: str, records: list[Record]) -> None:
        for callback in list(self._callbacks.get(channel, ())):
            try:
                callback(records)
            except Exception:  # one broken subscriber must not stop the others' deliveries
                logger.exception("bus subscriber failed on %s", channel)

    def _resync_all(self) -> None:
        for channel in list(self._callbacks):
            self._deliver(channel, [])

    async def _outage_loop(self) -> None:
        while True:
            await asyncio.sleep(OUTAGE_RESYNC)  # the period of the outage resyncs
            if not self._up.is_set():
                self._resync_all()

    async def _receive_loop(self) -> None:
        delay = RECONNECT_MIN
        while True:
            try:
                await self._receive()
            except _LINK_ERRORS as exc:
                if self._up.is_set():
                    logger.warning("Redis bus disconnected (%s); reconnecting", exc)
                    self.reconnects += 1
                self._up.clear()
                await self._close_pubsub()
                await asyncio.sleep(delay)  # backoff between reconnect attempts
                delay = min(delay * 2, RECONNECT_MAX)
                continue
            delay = RECONNECT_MIN

    async def _receive(self) -> None:
        assert self._client is not None
        self._pubsub = pubsub = self._client.pubsub()
        self._ops.clear()  # the full subscribe below covers every pending subscription change
        for token, pong in self._pongs.items():
            if not pong.done():
                self._ops.append(("ping", token))
        channels = [self._prefix + c for c in self._callbacks]
        await pubsub.subscribe(self._prefix + _RESYNC, *channels)
        strip = len(self._prefix)
        loop = asyncio.get_running_loop()
        heard = loop.time()  # when Redis last said anything on this connection
        while True:
            message: dict[str, Any] | None = await pubsub.get_message(timeout=PING_EVERY)
            if message is None:
                # A stopped Redis keeps TCP up: only an unanswered PING tells it from a quiet one.
                if loop.time() - heard > LINK_TIMEOUT:
                    raise RedisTimeout(f"no answer from Redis in {LINK_TIMEOUT:g} s")
                self._op("ping", _ALIVE)
                continue
            heard = loop.time()
            kind = message["type"]
            if kind == "message":
                channel = message["channel"].decode()[strip:]
                if channel == _RESYNC:
                    self._resync_all()
                else:
                    wire = _decode(message["data"])
                    self._deliver(channel, [Record(w.seq, w.body, w.final) for w in wire])
            elif kind == "subscribe":
                channel = message["channel"].decode()[strip:]
                if channel == _RESYNC:
                    self._up.set()  # connected: the publisher and the ops may send again
                    self._publish_wake.set()
                    self._ops_wake.set()
                else:
                    # Records published before the subscription was active went elsewhere.
                    self._deliver(channel, [])
            elif kind == "pong":
                waiter = self._pongs.get(bytes(message["data"]).decode())
                if waiter is not None and not waiter.done():
                    waiter.set_result(None)

    async def _ops_loop(self) -> None:
        while True:
            await self._ops_wake.wait()
            self._ops_wake.clear()
            pubsub = self._pubsub
            if pubsub is None or not self._up.is_set():
                continue  # the receive loop resubscribes everything when it reconnects
            # A replaced connection is never used again (it would reconnect and leak).
            while self._ops and pubsub is self._pubsub:
                kind, arg = self._ops[0]
                try:
                    if kind == "subscribe":
                        await pubsub.subscribe(arg)
                    elif kind == "unsubscribe":
                        await pubsub.unsubscribe(arg)
                    else:
                        await pubsub.ping(arg)
                except _LINK_ERRORS:
                    break  # the receive loop sees the same failure and reconnects
                self._ops.popleft()

    async def _publish_loop(self) -> None:
        delay = RECONNECT_MIN
        while True:
            await self._publish_wake.wait()
            self._publish_wake.clear()
            while (self._queue or self._lost) and self._up.is_set():
                try:
                    await self._send_some()
                except _LINK_ERRORS as exc:
                    logger.warning("Redis bus publish failed (%s); retrying", exc)
                    await asyncio.sleep(delay)  # backoff; the queue stays bounded meanwhile
                    delay = min(delay * 2, RECONNECT_MAX)
                    continue
                delay = RECONNECT_MIN

    async def _send_some(self) -> None:
        assert self._client is not None
        generation, lost = self._generation, self._lost
        batch = list(itertools.islice(self._queue, PIPELINE_MAX))
        pipe = self._client.pipeline(transaction=False)
        if lost:
            pipe.publish(self._prefix + _RESYNC, b"")
        for channel, payload in batch:
            pipe.publish(channel, payload)
        await pipe.execute()
        if lost and generation == self._generation:
            self._lost = False
        if generation == self._generation:  # else the queue was dropped while this was sent
            for _ in batch:
                self._queued_bytes -= len(self._queue.popleft()[1])
            self._sent += len(batch)
            self.published += len(batch)
        self._sent_event.set()

    async def _close_pubsub(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            with contextlib.suppress(*_LINK_ERRORS):
                await pubsub.aclose()
