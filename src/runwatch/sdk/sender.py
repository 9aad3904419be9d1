"""The SDK's background sender: drains the log queue, spools, batches, sends, retries.

The training loop only appends to a bounded deque. This thread, every ``flush_interval`` (or
sooner when the deque fills): takes what is queued, cleans the values, writes the records to the
spool, and queues them as a batch with the next ``batch_seq``. It then sends pending batches in
order, one request at a time, with exponential backoff and jitter on failure.

Memory is bounded twice: the deque drops its oldest records past ``queue_cap`` (the loop outran
even the spool), and pending batches past ``pending_cap`` records are dropped oldest first — they
are in the spool, and once the server answers again they are read back from it and sent.
"""

from __future__ import annotations

import math
import queue
import random
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import msgspec

from runwatch.protocol import encode_value
from runwatch.sdk.spool import SpoolWriter, read_batches
from runwatch.sdk.transport import Reply, Transport
from runwatch.sdk.vitals import SystemVitals

_encode = msgspec.json.encode
POINT, EVENT, STATUS, EXTRA = 0, 1, 2, 3  # EXTRA: (EXTRA, batch field, item)
DROP_REPORT_INTERVAL = 5.0


class SenderConfig(msgspec.Struct):
    flush_interval: float = 0.05
    max_batch_records: int = 10_000
    queue_cap: int = 200_000
    pending_cap: int = 50_000
    backoff_base: float = 0.2
    backoff_cap: float = 10.0
    vitals_interval: float = 5.0  # seconds between system vitals samples; 0: none


def clean_values(
    data: dict[str, Any], warn: Callable[[str], None], prefix: str = ""
) -> dict[str, Any]:
    """Metric values as wire values: numbers as floats, nested dicts flattened with ``/``.

    Non-finite floats become "nan"/"inf"/"-inf"; anything ``float()`` refuses is left out (once
    reported), never raised.
    """
    for v in data.values():
        if type(v) is not float or v - v != 0.0:  # v - v is NaN for NaN and ±inf
            break
    else:
        return data if not prefix else {f"{prefix}{k}": v for k, v in data.items()}
    out: dict[str, Any] = {}
    for k, v in data.items():
        key = f"{prefix}{k}"
        if type(v) is float:
            out[key] = v if math.isfinite(v) else encode_value(v)
        elif isinstance(v, dict):
            out.update(clean_values(v, warn, key + "/"))
        else:
            try:
                f = float(v)
            except (TypeError, ValueError, OverflowError):
                warn(f"metric {key!r} is not a number ({type(v).__name__}); it is left out")
                continue
            out[key] = f if math.isfinite(f) else encode_value(f)
    return out


class PendingPost:
    """A post handed to the :class:`Poster`; ``reply`` is set once it is done."""

    __slots__ = ("reply",)

    def __init__(self) -> None:
        self.reply: Reply | None = None

    def done(self) -> bool:
        return self.reply is not None

    def result(self) -> Reply:
        assert self.reply is not None
        return self.reply


class Poster:
    """One thread that performs posts in order and wakes the sender when each is done.

    (A ThreadPoolExecutor would refuse work once interpreter shutdown begins, which is exactly
    when ``atexit`` finishes a forgotten run.)
    """

    def __init__(self, transport: Transport, wake: threading.Event) -> None:
        self._transport = transport
        self._wake = wake
        self._requests: queue.SimpleQueue[tuple[str, bytes, PendingPost] | None] = (
            queue.SimpleQueue()
        )
        self._thread = threading.Thread(target=self._run, name="runwatch-poster", daemon=True)
        self._thread.start()

    def submit(self, path: str, body: bytes) -> PendingPost:
        pending = PendingPost()
        self._requests.put((path, body, pending))
        return pending

    def stop(self, timeout: float = 1.0) -> None:
        self._requests.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        while (item := self._requests.get()) is not None:
            path, body, pending = item
            try:
                pending.reply = self._transport.post(path, body)
            except Exception:  # e.g. the client closed under a post at shutdown: retry later
                pending.reply = Reply(0)
            self._wake.set()


class Sender:
    """Owns the spool and the transport; runs on its own daemon thread."""

    def __init__(
        self,
        run_spec: dict[str, Any],
        producer: str,
        queue: deque[tuple[Any, ...]],
        transport: Transport,
        spool: SpoolWriter,
        config: SenderConfig,
        warn: Callable[[str], None],
        logged: Callable[[], int],
        current_step: Callable[[], int],
    ) -> None:
        self.run_id: str = run_spec["id"]
        self._spec_body = _encode(run_spec)
        self._producer = producer
        self._queue = queue
        self._transport = transport
        self._spool = spool
        self._config = config
        self._warn = warn
        self._logged = logged
        self._current_step = current_step
        self._own = 0  # records this thread queued itself (system vitals)
        self._vitals: SystemVitals | None = None
        self._next_vitals = 0.0
        self._lost_reported = 0
        self._created = False
        self._batch_seq = 0
        self._pending: deque[dict[str, Any]] = deque()
        self._pending_records = 0
        self._spill: tuple[int, int] | None = None  # (spool offset, last batch_seq) dropped
        self._dropped = 0  # records dropped from memory (still spooled) since the last report
        self._lost = 0  # records the full deque dropped before they were spooled
        self._next_drop_report = 0.0
        self._attempt = 0
        self._next_try = 0.0
        self._wake = threading.Event()
        self._batch_path = f"/api/v1/runs/{self.run_id}/batches"
        self._poster = Poster(transport, self._wake)
        self._inflight: tuple[dict[str, Any] | None, PendingPost] | None = None
        self._heartbeat_path = f"/api/v1/runs/{self.run_id}/heartbeat"
        self._heartbeat = float(run_spec.get("heartbeat", 5.0))
        self._last_contact = time.monotonic()
        self._stop_at: float | None = None
        self.taken = 0
        self.acked_batches = 0
        self.last_error: str | None = None
        self._thread = threading.Thread(target=self._run, name="runwatch-sender", daemon=True)

    # -- control (called from the training thread) -----------------------------------------
    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float) -> bool:
        """Flush what can be flushed within ``timeout``; True when everything was acknowledged."""
        self._stop_at = time.monotonic() + timeout
        self._wake.set()
        self._thread.join(timeout + 1.0)
        return self.unsent() == 0

    def unsent(self) -> int:
        """Records logged but not yet acknowledged by the server (all of them are in the spool)."""
        spilled = 0 if self._spill is None else 1
        return len(self._queue) + self._pending_records + spilled

    # -- the thread ------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            while True:
                self._sample_vitals()
                self._collect()
                self._send_ready()
                stopping = self._stop_at is not None
                if stopping and (self.unsent() == 0 or time.monotonic() >= self._stop_at):  # type: ignore[operator]
                    break
                delay = self._config.flush_interval
                if self._pending and self._next_try > time.monotonic():
                    delay = min(delay, self._next_try - time.monotonic())
                self._wake.wait(max(delay, 0.001))
                self._wake.clear()
        except Exception as exc:  # the sender must never take the training loop down
            self._warn(f"telemetry sender stopped: {exc!r}; records remain in {self._spool.path}")
        finally:
            self._poster.stop()
            self._spool.close()
            self._transport.close()

    def _sample_vitals(self) -> None:
        if self._config.vitals_interval <= 0 or time.monotonic() < self._next_vitals:
            return
        self._next_vitals = time.monotonic() + self._config.vitals_interval
        if self._vitals is None:
            self._vitals = SystemVitals()
            return  # the first sample only starts the CPU clock
        values = self._vitals.sample(self.taken, len(self._queue))
        self._queue.append((POINT, max(self._current_step() - 1, 0), time.time(), values))
        self._own += 1

    def _collect(self) -> None:
        """Move queued records into batches: spooled first, then pending for sending."""
        # Records the full deque dropped before we could take them (the loop outran the spool).
        lost = self._logged() + self._own - self.taken - len(self._queue)
        if lost > self._lost_reported:
            self._lost += lost - self._lost_reported
            self._lost_reported = lost
        while self._queue:
            points: list[list[Any]] = []
            events: list[dict[str, Any]] = []
            extras: dict[str, list[Any]] = {}
            status: dict[str, Any] | None = None
            while self._queue and len(points) + len(events) < self._config.max_batch_records:
                rec = self._queue.popleft()
                self.taken += 1
                if rec[0] == POINT:
                    values = clean_values(rec[3], self._warn)
                    if values:
                        points.append([rec[1], rec[2], values])
                elif rec[0] == EVENT:
                    events.append(rec[1])
                elif rec[0] == EXTRA:
                    extras.setdefault(rec[1], []).append(rec[2])
                else:
                    status = rec[1]
                    break  # the final status closes its batch: nothing follows it
            if points or events or extras or status:
                self._add_batch(points, events, status, extras)
                self._send_ready()  # post it while the next batch is prepared
        # Reported at most every DROP_REPORT_INTERVAL: during an outage every new batch drops
        # an older one, and one warning per batch would flood the feed.
        if (self._dropped or self._lost) and time.monotonic() >= self._next_drop_report:
            self._next_drop_report = time.monotonic() + DROP_REPORT_INTERVAL
            self._add_batch([], [self._drop_event()], None, {})

    def _drop_event(self) -> dict[str, Any]:
        """A warning: ``dropped`` records left memory (the spool has them and they are resent
        from it); ``lost`` never reached the spool (the deque overflowed)."""
        payload = {"dropped": self._dropped, "lost": self._lost, "spool": str(self._spool.path)}
        self._dropped = self._lost = 0
        return {"kind": "sdk.dropped", "ts": time.time(), "level": "warning", "payload": payload}

    def _add_batch(
        self,
        points: list[list[Any]],
        events: list[dict[str, Any]],
        status: dict[str, Any] | None,
        extras: dict[str, list[Any]],
    ) -> None:
        self._batch_seq += 1
        wire: dict[str, Any] = {
            "producer": self._producer,
            "batch_seq": self._batch_seq,
            "points": points,
            "events": events,
        }
        if status is not None:
            wire["status"] = status
        wire.update(extras)
        offset = self._spool.append(wire)
        # Kept encoded: compact in memory, and a retry sends the same bytes.
        batch: dict[str, Any] = {
            "batch_seq": self._batch_seq,
            "body": _encode(wire),
            "offset": offset,
            "records": len(points)
            + len(events)
            + (status is not None)
            + sum(len(items) for items in extras.values()),
        }
        self._pending.append(batch)
        self._pending_records += batch["records"]
        while self._pending_records > self._config.pending_cap and len(self._pending) > 1:
            oldest = self._pending.popleft()
            self._pending_records -= oldest["records"]
            self._dropped += oldest["records"]
            start = oldest["offset"] if self._spill is None else self._spill[0]
            self._spill = (start, oldest["batch_seq"])

    def _send_ready(self) -> None:
        """Start posting the next batch without waiting for it: the post runs on the poster
        thread while this thread spools and encodes what comes next (one batch in flight keeps
        the order)."""
        if self._inflight is not None:
            batch, future = self._inflight
            if not future.done():
                return
            self._inflight = None
            if batch is None:  # a heartbeat
                if not self._ok(future.result()):
                    return
            elif not self._accepted(future.result()):
                return
            elif self._pending and self._pending[0] is batch:  # else the cap spilled it
                self._pending.popleft()
                self._pending_records -= batch["records"]
        while time.monotonic() >= self._next_try:
            if not self._created:
                if not self._ok(self._transport.post("/api/v1/runs", self._spec_body)):
                    return
                self._created = True
            if self._spill is not None:
                if not self._send_spill():
                    return
                continue
            if self._pending:
                batch = self._pending[0]
                self._inflight = (batch, self._poster.submit(self._batch_path, batch["body"]))
            elif time.monotonic() - self._last_contact >= self._heartbeat:
                self._inflight = (None, self._poster.submit(self._heartbeat_path, b""))
            return

    def _send_spill(self) -> bool:
        """Send the batches dropped from memory again, read back from the spool."""
        assert self._spill is not None
        start, last = self._spill
        for batch in read_batches(self._spool.path, start, last):
            batch["producer"] = self._producer
            if not self._accepted(self._transport.post(self._batch_path, _encode(batch))):
                return False
        self._spill = None
        return True

    def _accepted(self, reply: Reply) -> bool:
        """Whether a posted batch is done with (stored, or refused for good); False: retry."""
        if reply.status == 404 and reply.error_code == "run_not_found":
            self._created = False
            self._retry_later(reply)
            return False
        if 400 <= reply.status < 500 and reply.status not in (401, 403, 408, 429):
            # The server will never take this batch; it stays in the spool for inspection.
            self._warn(f"server refused a batch ({reply.status}): {reply.body}")
            self._attempt = 0
            return True
        if not self._ok(reply):
            return False
        self.acked_batches += 1
        return True

    def _ok(self, reply: Reply) -> bool:
        if 200 <= reply.status < 300:
            self._last_contact = time.monotonic()
            self._attempt = 0
            self.last_error = None
            return True
        self._retry_later(reply)
        return False

    def _retry_later(self, reply: Reply) -> None:
        self.last_error = "server unreachable" if reply.status == 0 else f"HTTP {reply.status}"
        if reply.status in (401, 403):
            self._warn(f"the server refused our token (HTTP {reply.status}); set RUNWATCH_TOKEN")
        elif 400 <= reply.status < 500:
            self._warn(f"the server refused a request (HTTP {reply.status}): {reply.body}")
        c = self._config
        delay = min(c.backoff_cap, c.backoff_base * 2**self._attempt) * random.uniform(0.5, 1.5)
        if reply.retry_after is not None:
            delay = max(delay, reply.retry_after)
        self._attempt = min(self._attempt + 1, 16)
        self._next_try = time.monotonic() + delay


def print_warning(message: str) -> None:
    print(f"runwatch: {message}", file=sys.stderr)
