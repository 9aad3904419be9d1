"""The SDK's background sender: drains the log queue, spools, batches, sends, retries.

The training loop only appends to a deque. This thread, every ``flush_interval`` (or sooner
when the deque fills; while nothing is queued or unsent it sleeps until woken or a heartbeat or
vitals sample is due): takes what is queued in slices of ``max_batch_records``, encodes each
slice once as a batch with the next ``batch_seq`` (plain float rows go to msgspec whole, with
no per-record Python), appends it to the spool and queues it in the :class:`Outbox` (memory is
only the spool's cache: past ``cache_bytes`` batches are read back from disk when their turn
comes). A poster thread sends the batches in order, one request at a time, with exponential
backoff and jitter on failure; the final status is its producer's last batch, so it goes out only
after everything before it was acknowledged.

Memory bound: the queue holds at most about ``queue_cap`` records (100,000 by default: ~35 MB
for one-key dicts, ~350 bytes a record) plus what ``log()`` appends while this thread is in the
middle of draining it (it drains several times faster than one thread can log); the outbox holds
at most ``cache_bytes`` (32 MiB) of encoded batches, plus small pinned ones. Past ``queue_cap``
``log()`` never waits: when this thread is not draining at that moment, the calling thread
spools the queue itself (:meth:`Sender.spill`: encoding and a local append, no network).
"""

from __future__ import annotations

import contextlib
import math
import queue
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from itertools import chain, repeat, starmap
from operator import itemgetter
from pathlib import Path
from typing import Any

import msgspec

from runwatch.protocol import encode_value
from runwatch.sdk import limits
from runwatch.sdk.backoff import backoff
from runwatch.sdk.blobs import BlobStore, blob_path, named_in, producer_dir, remove_dir
from runwatch.sdk.outbox import Outbox
from runwatch.sdk.priority import lower_this_thread
from runwatch.sdk.progress import (
    MAX_PROGRESS_BYTES,
    ProgressLine,
    ProgressWriter,
    TextProgressLine,
)
from runwatch.sdk.refused import Refusals, refused_for_good, refused_path
from runwatch.sdk.spool import acked_lock, acked_path, advance_acked, lock_path
from runwatch.sdk.transport import Reply, Transport
from runwatch.sdk.uploads import MAX_GROUP_BLOBS, Blob, GroupSize, refused_blob, upload_request
from runwatch.sdk.vitals import SystemVitals

_encode = msgspec.json.encode
POINT, EVENT, STATUS, EXTRA = 0, 1, 2, 3  # EXTRA: (EXTRA, batch field, item)
MEDIA = 4  # (MEDIA, "media" | "histograms", PendingImage | PendingHistogram): prepared here
# A run's first creation refused with these codes is final (a sweep trial that must not run:
# its sweep was stopped, or its expired claim was handed out again): nothing is retried or
# spooled. A re-creation so refused is not (the trial started; the server lost its run).
REFUSED_FOR_GOOD = frozenset({"sweep_stopped", "claim_expired"})
# Any request refused with this code: the run was deleted on the server (while its producer
# was silent). Nothing more is sent (not even a creation: the run stays deleted).
RUN_DELETED = "run_deleted"
BLOB_RETRIES = 3  # times a batch refused for a missing blob has its blobs uploaded again
_kind = itemgetter(0)
_row = itemgetter(1, 2, 3)  # a POINT record as its wire row: (step, ts, values)
_values = itemgetter(3)
LOSS_REPORT_INTERVAL = 5.0
ACKED_WRITE_INTERVAL = 1.0  # seconds between updates of the spool's acknowledged offset
STALL_TIMEOUT = 10.0  # finish() without a timeout gives up after this long without an ack
# Seconds records may wait here, at most, while earlier batches wait for the server: cutting one
# every flush interval then would queue a small request each, and a server slower than the flush
# interval would fall ever further behind (the spool still trails log() by at most this).
SPOOL_LAG = 1.0
SPILL_HANDOFF = 0.05  # seconds the sender leaves the queue to a training thread past queue_cap


class SenderConfig(msgspec.Struct):
    """Knobs of the sender; the defaults suit a training loop."""

    flush_interval: float = 0.05
    max_batch_records: int = 10_000
    # Records waiting for this thread past which log() spills them to the spool itself when this
    # thread is not draining them at that moment (see :meth:`Sender.spill`). Never reached while
    # the sender keeps up; a record is never dropped or waited for because of it.
    queue_cap: int = 100_000
    cache_bytes: int = 32 * 2**20  # encoded batches kept in memory; the rest are in the spool
    backoff_base: float = 0.2
    backoff_cap: float = 10.0
    vitals_interval: float = 5.0  # seconds between system vitals samples; 0: none
    # Bytes of images and histogram values taken by run.image/run.histogram and not yet encoded
    # here; past it the calling thread encodes them itself (no network, nothing dropped).
    media_pending_bytes: int = 256 * 2**20
    # Bytes of <run_dir>/progress.jsonl before it rotates to progress.1.jsonl; 0: not written.
    progress_max_bytes: int = MAX_PROGRESS_BYTES
    # Added to the nice value of this thread and the poster's (Linux; init reads
    # RUNWATCH_SDK_NICE), so that encoding and posting yield to the training loop. Off by
    # default: a nice value ranks a thread against every process on the host, so on a busy one
    # (data-loader workers, other jobs) the SDK's threads starved and finish() gave up with
    # records left in the spool (benchmarks/media.py measures both).
    thread_nice: int = 0
    # Image blobs one upload request carries at most (runwatch.sdk.uploads); 1: each blob in a
    # PUT of its own, as before grouped uploads (benchmarks/live_media.py compares the two).
    upload_group_blobs: int = MAX_GROUP_BLOBS


def clean_values(
    data: dict[str, Any],
    warn: Callable[[str], None],
    prefix: str = "",
    texts: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Metric values as wire values: numbers as floats, nested dicts flattened with ``/``.

    Non-finite floats become "nan"/"inf"/"-inf"; a string goes into ``texts`` as it is (never
    read as a number: "nan" stays three letters) when it is within ``MAX_TEXT_LENGTH`` and has
    no NUL; anything else ``float()`` refuses is left out (once reported), never raised.
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
            out.update(clean_values(v, warn, key + "/", texts))
        elif isinstance(v, str) and texts is not None:
            if len(v) > limits.MAX_TEXT_LENGTH:
                warn(
                    f"text {key!r} is longer than max_text_length={limits.MAX_TEXT_LENGTH}"
                    f" ({len(v):,} characters); it is left out"
                )
            elif "\x00" in v:
                warn(f"text {key!r} holds a NUL character; it is left out")
            else:
                texts[key] = str(v)
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

    def __init__(self, transport: Transport, wake: threading.Event, nice: int = 0) -> None:
        self._transport = transport
        self._wake = wake
        self._nice = nice
        self._requests: queue.SimpleQueue[
            tuple[str, str, bytes, PendingPost, str | None] | None
        ] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="runwatch-poster", daemon=True)
        self._thread.start()

    def submit(
        self, path: str, body: bytes, content_type: str | None = None, method: str = "POST"
    ) -> PendingPost:
        """POST a JSON body, or (with ``content_type``) send raw bytes with ``method``."""
        pending = PendingPost()
        self._requests.put((method, path, body, pending, content_type))
        return pending

    def stop(self, timeout: float = 1.0) -> None:
        self._requests.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        lower_this_thread(self._nice)
        while (item := self._requests.get()) is not None:
            method, path, body, pending, content_type = item
            try:
                if content_type is None:
                    pending.reply = self._transport.post(path, body)
                else:
                    pending.reply = self._transport.send(method, path, body, content_type)
            except Exception:  # e.g. the client closed under a post at shutdown: retry later
                pending.reply = Reply(0)
            self._wake.set()


class Sender:
    """Owns the outbox (spool and cache) and the poster; runs on its own daemon thread."""

    def __init__(
        self,
        run_spec: dict[str, Any],
        producer: str,
        queue: deque[tuple[Any, ...]],
        transport: Transport,
        outbox: Outbox,
        config: SenderConfig,
        warn: Callable[[str], None],
        current_step: Callable[[], int],
        on_refused: Callable[[str], None],
    ) -> None:
        self.run_id: str = run_spec["id"]
        self._spec = dict(run_spec)
        self._spec_body = _encode(run_spec)
        self._producer = producer
        self._queue = queue
        self._transport = transport
        self.outbox = outbox
        self._config = config
        self._warn = warn
        self._current_step = current_step
        self._vitals: SystemVitals | None = None
        self._next_vitals = 0.0
        self._created = False
        self._closed = False  # the final status (or the worker's last word) is queued
        self._batch_seq = 0
        # Records lost since the last report (the disk refused, memory was full, past a server
        # limit, or in a batch the server refused for good), how many were past a limit, and
        # how many the server refused.
        self._lost = 0
        self._refused = 0
        self._rejected = 0
        self.lost_total = 0
        self.refusals = Refusals(refused_path(outbox.path, producer))  # batches refused for good
        self._next_loss_report = 0.0
        self._attempt = 0
        self._next_try = 0.0
        self._wake = threading.Event()
        # Held while records move from the queue into the outbox, and while the outbox is used:
        # by this thread, or by the training thread spilling past queue_cap.
        self._lock = threading.Lock()
        self.spilled = 0  # records the training thread spooled itself (queue past its cap)
        self._spill_wanted = False  # the training thread found the queue past its cap, and us on it
        self._spill_done = threading.Event()  # it spooled the queue (set after each spill)
        self._collected_at = 0.0  # when batches were last cut from the queue
        self.idle = True  # nothing taken at the last look: the next record may wake us at once
        self._batch_path = f"/api/v1/runs/{self.run_id}/batches"
        # Blobs written next to the spool, each kept until every batch naming it is acknowledged.
        self.blobs = BlobStore(producer_dir(outbox.path.parent, producer))
        # Those not yet uploaded, oldest first (appended by the calling thread too, past
        # media_pending_bytes: read only with C-level calls). A batch is posted once none of
        # the blobs it names is here (the server answers 409 to a batch naming a blob it
        # lacks), so batches and uploads take turns: the live view does not wait for every
        # image queued behind it.
        self.uploads: deque[tuple[str, Path, str]] = deque()
        self._group_size = GroupSize(config.upload_group_blobs)
        # The upload in flight: how many entries of ``uploads`` it covers, and its blobs.
        self._group: tuple[int, list[Blob]] = (0, [])
        self._named: tuple[bytes | None, frozenset[str]] = (None, frozenset())  # the head's
        self.media_done = 0  # bytes of pending media prepared (see Run.image)
        self._blob_retries = 0
        self._poster = Poster(transport, self._wake, config.thread_nice)
        self.progress = ProgressWriter(outbox.path.parent, config.progress_max_bytes, warn)
        self._inflight: tuple[str, PendingPost] | None = None
        self._heartbeat_path = f"/api/v1/runs/{self.run_id}/heartbeat"
        self._heartbeat = float(run_spec.get("heartbeat", 5.0))
        self._last_contact = time.monotonic()
        # The last answer to a batch or heartbeat: what keeps the run alive on the server
        # (blob uploads do not, so a long run of them must let a heartbeat through).
        self._last_alive = self._last_contact
        self._acked_written = 0.0
        self._stopping = False
        # Set once stopping and every queued record is in the outbox (spooled), the final
        # status included: stop() never returns before, whatever its timeout.
        self._spooled = threading.Event()
        self._posting = False  # in a _collect that posts: media and batches go out as made
        self._deadline: float | None = None
        self._hold_final = False
        self._progress_at = 0.0
        self.taken = 0
        self.acked_batches = 0
        self.last_error: str | None = None
        # Set once the server answered the run's creation (created, or refused for now).
        self.create_answered = threading.Event()
        # Why the server refused the run for good (a stopped sweep's trial that had not
        # started, or one whose expired claim was handed out again; or it was deleted), and
        # the refusal's code: then nothing more is sent, and nothing is kept for `runwatch
        # sync` (but for a deleted run: what it never took stays in the spool).
        self.refused: str | None = None
        self.refused_code: str | None = None
        self._on_refused = on_refused
        self._attach_answered = False  # the first creation answer came (see _attached)
        self._stored_last_step: int | None = None  # its last_step
        self.stored_name: str | None = None  # its name (an attached run's may not be ours)
        self._resume_taken = False  # init has read resume_step: a later answer only warns
        self._thread = threading.Thread(target=self._run, name="runwatch-sender", daemon=True)

    # -- control (called from the training thread) -----------------------------------------
    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float | None, send_final: bool = True) -> bool:
        """Deliver what is queued, the final status last; True when everything was acknowledged.

        First every queued record is spooled (images encoded): local work, done whatever
        ``timeout`` says, so what is not delivered is in the spool for ``runwatch sync`` when
        this returns. Delivery then waits at most ``timeout`` s from the call, or with None as
        long as the server keeps acknowledging (giving up after :data:`STALL_TIMEOUT` s
        without an acknowledgement). ``send_final=False`` delivers all but the final-status
        batch, which stays in the spool.
        """
        self._hold_final = not send_final
        self._progress_at = time.monotonic()
        self._deadline = None if timeout is None else self._progress_at + timeout
        self._stopping = True
        self._wake.set()
        while self._thread.is_alive() and not (
            self._spooled.is_set() and self._given_up(slack=1.0)
        ):
            self._thread.join(0.2)
        return self.unsent() == 0

    def unsent(self) -> int:
        """Batches spooled or queued but not yet acknowledged by the server."""
        return self.outbox.batches + (1 if self._queue else 0)

    # -- the thread ------------------------------------------------------------------------
    def _run(self) -> None:
        lower_this_thread(self._config.thread_nice)
        try:
            while True:
                with self._lock:
                    self._sample_vitals()
                    if self._collect_due():
                        self._collect(post=True)
                    self._send_ready()
                    if self._stopping and not self._queue:
                        self._spooled.set()
                    if self.refused is not None:
                        break
                    if self._stopping and (self._delivered() or self._given_up()):
                        break
                    delay = self._delay()
                if self._spill_wanted and not self._stopping:
                    # Hand the queue to the training thread: without this pause this thread
                    # would take the lock straight back, and the queue would grow past its cap
                    # for as long as log() outpaces the encoding here. A training thread that
                    # went quiet meanwhile leaves it to us again.
                    self._spill_done.wait(SPILL_HANDOFF)
                    self._spill_done.clear()
                    self._spill_wanted = False
                    continue
                if not self._wake.wait(delay) and not self._queue:
                    self.idle = True
                self._wake.clear()
        except Exception as exc:  # the sender must never take the training loop down
            self._warn(f"telemetry sender stopped: {exc!r}; records remain in {self.outbox.path}")
        finally:
            with self._lock:
                self._poster.stop()
                kept = self.refused is None or self.refused_code == RUN_DELETED
                if kept:
                    self._write_acked()
                    self.blobs.close()
                self.progress.close()
                self.outbox.close()
                self._transport.close()
                if not kept:
                    # The run will never exist: nothing is kept for `runwatch sync`.
                    self._queue.clear()
                    with contextlib.suppress(OSError):
                        self.outbox.path.unlink(missing_ok=True)
                        acked_path(self.outbox.path).unlink(missing_ok=True)
                        lock_path(self.outbox.path).unlink(missing_ok=True)
                    remove_dir(self.blobs.dir)

    def _delay(self) -> float:
        """How long to sleep unless woken: a flush interval while records flow or a post is out
        (its answer wakes us); a retry's backoff; idle with nothing unsent, until the next
        heartbeat or vitals sample (the next record wakes us: ``idle``)."""
        now = time.monotonic()
        interval = self._config.flush_interval
        if self._queue:
            cut = self._cut_interval()
            return min(max(self._collected_at + cut - now, 0.001), cut)
        if self._inflight is not None:
            return interval
        if self.outbox.batches or not self._created:
            return min(max(self._next_try - now, 0.001), interval)
        if self._stopping or not self.idle:
            return interval
        due = self._last_contact + self._heartbeat
        if self._config.vitals_interval > 0 and not self._closed:
            due = min(due, self._next_vitals)
        return max(due - now, 0.001)

    def _collect_due(self) -> bool:
        """Whether to cut batches now: at the flush interval, when a full batch is queued, for
        a lone record after idling, or when stopping. Not on every wake-up: a post's answer
        wakes this thread, and cutting a batch then would post as often as the server answers
        (hundreds of tiny posts a second at a paced loop's rate, each holding the GIL)."""
        queue = self._queue
        if not queue:
            return False
        now = time.monotonic()
        if (
            self.idle
            or self._stopping
            or len(queue) >= self._config.max_batch_records
            or now >= self._collected_at + self._cut_interval()
        ):
            self._collected_at = now
            return True
        return False

    def _cut_interval(self) -> float:
        """Seconds between batch cuts: the flush interval while the server has everything
        sent; while a request is out or batches wait for it, :data:`SPOOL_LAG` (its answer
        wakes us, and one batch takes all that came meanwhile: batches grow with its latency)."""
        interval = self._config.flush_interval
        if self._inflight is None and not self.outbox.batches:
            return interval
        return max(interval, SPOOL_LAG)

    def spill(self) -> None:
        """On the calling (training) thread, past ``queue_cap``: encode and spool everything
        queued here, in slices (no network, no waiting: the lock is only tried; when the sender
        holds it, it is asked to hand the queue over). Amortised O(1) a record."""
        if not self._lock.acquire(blocking=False):
            # The sender is draining it, yet the queue grows: the sender lets go of it after
            # its current slice and leaves the rest to this thread's next call.
            self._spill_done.clear()  # a spill before this request is not the one it waits for
            self._spill_wanted = True
            return
        try:
            self._spill_wanted = False
            self.spilled += self._collect(post=False)
        finally:
            self._lock.release()
            self._spill_done.set()

    def _delivered(self) -> bool:
        held = 1 if self._hold_final and self._closed else 0
        return not self._queue and self.outbox.batches <= held and self._inflight is None

    def _given_up(self, slack: float = 0.0) -> bool:
        now = time.monotonic() - slack
        if self._deadline is not None:
            return now >= self._deadline
        return now - self._progress_at >= STALL_TIMEOUT

    def _sample_vitals(self) -> None:
        """System vitals go straight into a batch of their own: never into the user's queue.
        While the spool refuses writes none are taken: the memory cache is the user's records'
        only room then, and a vitals batch there could cost one of them its place."""
        if self._config.vitals_interval <= 0 or self._closed or self.outbox.spool_error:
            return
        if time.monotonic() < self._next_vitals:
            return
        self._next_vitals = time.monotonic() + self._config.vitals_interval
        if self._vitals is None:
            self._vitals = SystemVitals()
            return  # the first sample only starts the CPU clock
        values = self._vitals.sample(self.taken, len(self._queue) + self.outbox.records)
        self._emit([(max(self._current_step() - 1, 0), time.time(), values)], [], {})

    def _collect(self, post: bool) -> int:
        """Move everything queued into batches, a slice of ``max_batch_records`` at a time (the
        deque is emptied in C); return how many records were taken. With ``post``, the oldest
        batch is posted while the next slice is encoded."""
        queue = self._queue
        popleft = queue.popleft
        cap = self._config.max_batch_records
        taken = 0
        self._posting = post  # reset below: only this call's batches post as they are made
        while queue:
            if post and self._spill_wanted and not self._stopping:
                break  # the training thread is past queue_cap: it spools the rest (see _run)
            self.idle = False
            recs = list(starmap(popleft, repeat((), min(len(queue), cap))))
            taken += len(recs)
            if any(map(_kind, recs)):  # events or extras among the points (POINT is 0)
                points = [r for r in recs if r[0] == POINT]
                others = [r for r in recs if r[0] != POINT]
            else:
                points, others = recs, []
            if points:
                self._batch_points(points)
            if others:
                taken -= self._batch_records(others)
        self._posting = False
        self.taken += taken
        if self._lost and time.monotonic() >= self._next_loss_report:
            self._report_loss()
        return taken

    def _batch_points(self, recs: list[tuple[Any, ...]]) -> None:
        """A slice of log() rows as one batch when every value is a finite float and the slice
        is within the batch limits (checked in C: no Python per record); else record by record."""
        values = list(map(_values, recs))
        keys = set(chain.from_iterable(values))
        flat = list(chain.from_iterable(map(dict.values, values)))
        if (
            len(keys) > limits.MAX_BATCH_KEYS
            or len(flat) > limits.MAX_BATCH_VALUES
            or set(map(type, flat)) != {float}
            or set(map(type, keys)) != {str}
            or not math.isfinite(sum(flat))  # NaN or ±inf anywhere (or a sum past 1e308)
        ):
            self._batch_records(recs)
            return
        rows = list(map(_row, recs))
        self.progress.write_rows(rows)
        self._emit(rows, [], {})

    def _batch_records(self, recs: list[tuple[Any, ...]]) -> int:
        """Records one by one into batches, in order; the final status closes its own batch.

        A batch ends before it would pass a server limit (bytes, distinct keys, values): a
        batch the server refuses would be lost whole. Returns how many records went back to
        the head of the queue, unprepared, for a training thread past ``queue_cap``.
        """
        warn = self._warn
        max_bytes, max_keys = limits.MAX_BATCH_BYTES, limits.MAX_BATCH_KEYS
        i, end = 0, len(recs)
        handed = 0
        progress: list[ProgressLine | TextProgressLine] = []
        while i < end:
            points: list[tuple[Any, ...]] = []
            texts: list[tuple[int, float, dict[str, str]]] = []
            events: list[dict[str, Any]] = []
            extras: dict[str, list[Any]] = {}
            status: dict[str, Any] | None = None
            # The batch's encoded size, estimated from above: a value costs at most its key
            # (at most the longest so far), quotes, a colon, a comma and a 24-character float. At
            # 28+ bytes a value, MAX_BATCH_BYTES also keeps the batch under MAX_BATCH_VALUES.
            size = n_texts = 0
            keys: set[str] = set()
            longest = 0
            first = i
            while i < end:
                rec = recs[i]
                kind = rec[0]
                if kind == MEDIA and self._posting and self._spill_wanted and not self._stopping:
                    # Encoding here waits for the GIL the training thread holds (seconds for a
                    # slice of images): hand the rest back, in order, for it to spool itself.
                    self._queue.extendleft(reversed(recs[i:]))
                    handed, end = end - i, i
                    break
                if kind == MEDIA:  # prepared once: a batch cut here takes it up again
                    rec = recs[i] = self.prepare_media(rec)
                    kind = rec[0]
                    if self._posting:  # encoding a slice's images takes seconds: keep sending
                        self._send_ready()
                if kind == POINT:
                    text: dict[str, str] = {}
                    values = clean_values(rec[3], warn, texts=text)
                    n = len(values)
                    known = len(keys)
                    keys.update(values)
                    if len(keys) != known:  # only new keys cost a look at their lengths
                        longest = max(longest, *map(len, values))
                        if len(keys) > max_keys and points:
                            break
                    row = 64 + (28 + longest) * n
                    if text:  # exact: texts are rare, and may need escapes
                        row += 64 + len(_encode(text))
                        n_texts += len(text)
                    if (points or texts) and (
                        size + row > max_bytes or n_texts > limits.MAX_BATCH_TEXTS
                    ):
                        break
                    if n > max_keys:
                        self._refuse("a log() row", "max_keys_per_batch", n)
                    elif values or text:
                        if values:
                            points.append((rec[1], rec[2], values))
                        if text:
                            texts.append((rec[1], rec[2], text))
                        progress.append(
                            TextProgressLine(rec[1], rec[2], values, text)
                            if text
                            else ProgressLine(rec[1], rec[2], values)
                        )
                        size += row
                elif kind == STATUS:
                    status = rec[1]
                else:
                    item = rec[1] if kind == EVENT else rec[2]
                    body = len(_encode(item))
                    if i > first and (
                        size + body > max_bytes
                        or len(events) >= limits.MAX_BATCH_EVENTS
                        or (kind == EXTRA and len(extras.get(rec[1], ())) >= limits.MAX_BATCH_MEDIA)
                    ):
                        break
                    if self._admissible(rec, body):
                        size += body
                        if kind == EVENT:
                            events.append(item)
                        else:
                            extras.setdefault(rec[1], []).append(item)
                i += 1
                if status is not None:
                    break
            if texts:
                extras["texts"] = texts
            self.progress.write(progress)
            progress.clear()
            self._emit(points, events, extras)
            if status is not None:
                self._close(status)
        return handed

    def prepare_media(self, rec: tuple[Any, ...], pending: bool = True) -> tuple[Any, ...]:
        """A MEDIA record as the batch item it makes (its blob kept next to the spool and
        queued for upload), or, for input that cannot be logged, an error event (with one
        warning). Called here on records ``pending`` in the queue (counted in
        ``media_done``), or on the calling thread past ``media_pending_bytes``."""
        field, media = rec[1], rec[2]
        what = "image" if field == "media" else "histogram"
        try:
            if field == "media":
                item, path, mime = media.prepare(self.blobs)
                self.uploads.append((item["sha256"], path, mime))
            else:
                item = media.prepare()
        except Exception as exc:  # any input a library chokes on: never the sender's end
            self._warn(f"run.{what}({media.key!r}) was skipped: {exc}")
            payload = {"key": media.key, "step": media.step, "error": str(exc)}
            event = {"kind": f"sdk.{what}_error", "ts": time.time(), "level": "error",
                     "entity": None, "payload": payload}  # fmt: skip
            return (EVENT, event)
        finally:
            if pending:  # only this thread writes it: the calling thread's are not counted
                self.media_done += media.nbytes
        return (EXTRA, field, item)

    def _admissible(self, rec: tuple[Any, ...], size: int) -> bool:
        """Whether an event or extra is within the server's limits for one item; if not, it is
        refused here (one warning, counted as lost) so that it never takes a batch down."""
        if rec[0] == EVENT:
            payload = len(_encode(rec[1].get("payload")))
            if payload > limits.MAX_EVENT_PAYLOAD_BYTES:
                return self._refuse("an event's payload", "max_event_payload_bytes", payload)
        else:
            field, item = rec[1], rec[2]
            if field == "snapshots":
                value = len(_encode(item.get("value")))
                if value > limits.MAX_SNAPSHOT_BYTES:
                    return self._refuse("a snapshot", "max_snapshot_bytes", value)
            elif field == "tables":
                rows = max(len(item.get("rows", ())), item.get("max_rows") or 0)
                if rows > limits.MAX_TABLE_ROWS:
                    return self._refuse("a table", "max_table_rows", rows)
            elif field == "config" and size > limits.MAX_CONFIG_BYTES:
                return self._refuse("a config change", "max_config_bytes", size)
            elif field == "point_sets":
                n = max(len(item.get("points", ())), item.get("cap") or 0)
                if n > limits.MAX_POINT_SET:
                    return self._refuse("a point set", "max_point_set", n)
        if size > limits.MAX_BATCH_BYTES:
            return self._refuse("a record", "max_body_bytes", size)
        return True

    def _refuse(self, what: str, limit: str, value: int) -> bool:
        """Leave out one record past a server limit: warned once per limit, reported as lost."""
        self._warn(f"{what} is over the server's limit {limit} ({value:,}); it is left out")
        self._lost += 1
        self._refused += 1
        self.lost_total += 1
        return False

    def _close(self, status: dict[str, Any]) -> None:
        """The final status: after any loss report, alone in the producer's last batch."""
        if self._lost:
            self._report_loss()
        self._closed = True
        if status:  # an attached worker has no status of its own: its last word was an event
            self._emit([], [], {}, status)

    def _report_loss(self) -> None:
        """Say how many records were lost, where the user looks: the run's feed and stderr."""
        self._next_loss_report = time.monotonic() + LOSS_REPORT_INTERVAL
        spooled = self._lost - self._refused - self._rejected
        if spooled:
            reason = repr(self.outbox.spool_error)
        elif self._rejected:
            reason = f"refused by the server ({self.refusals.reason})"
        else:
            reason = "over a server limit"
        payload: dict[str, Any] = {
            "lost": self._lost,
            "refused": self._refused,
            "rejected": self._rejected,
            "spool": str(self.outbox.path),
            "reason": reason,
        }
        if self._rejected:
            payload["refused_file"] = str(self.refusals.file)
        if spooled:
            print_warning(
                f"{spooled} records were lost: the spool {self.outbox.path} cannot be written "
                f"({reason}) and the memory cache is full"
            )
        self._lost = self._refused = self._rejected = 0
        event = {"kind": "sdk.lost", "ts": time.time(), "level": "error", "payload": payload}
        self._emit([], [event], {}, pinned=True)

    def _emit(
        self,
        points: list[tuple[Any, ...]],
        events: list[dict[str, Any]],
        extras: dict[str, list[Any]],
        status: dict[str, Any] | None = None,
        pinned: bool = False,
    ) -> None:
        records = len(points) + len(events) + sum(len(items) for items in extras.values())
        if not records and status is None:
            return
        self._batch_seq += 1
        wire: dict[str, Any] = {
            "producer": self._producer,
            "batch_seq": self._batch_seq,
            "points": points,
            "events": events,
        }
        if status is not None:
            wire["status"] = status
            records += 1
            pinned = True
        wire.update(extras)
        body = _encode(wire)
        if len(body) > limits.MAX_BODY_BYTES and len(points) > 1:
            # The size estimate was short (keys far from ASCII): halve rather than be refused.
            self._batch_seq -= 1
            half = len(points) // 2
            self._emit(points[:half], events, extras)
            self._emit(points[half:], [], {}, status, pinned)
            return
        had_error = self.outbox.spool_error is not None
        if not self.outbox.add(body, records, pinned):
            self._lost += records
            self.lost_total += records
            self.blobs.release_batch(body)  # no batch will ever name its images
        if not had_error and self.outbox.spool_error is not None:
            self._warn(
                f"cannot write the spool {self.outbox.path} ({self.outbox.spool_error!r}); "
                "records wait in memory until they are sent"
            )
        if self._posting:
            self._send_ready()

    def _send_ready(self) -> None:
        """Start the next post without waiting for it: it runs on the poster thread while this
        thread spools and encodes what comes next (one request in flight keeps the order)."""
        if self._inflight is not None:
            what, post = self._inflight
            if not post.done():
                return
            self._inflight = None
            reply = post.result()
            if reply.error_code == RUN_DELETED:
                self._deleted(reply)
                return
            if what == "create" and reply.start_refused and "started_at" in self._spec:
                self._warn(
                    f"the server did not take the run's start time ({reply.error_message});"
                    " the run starts at the server's time"
                )
                del self._spec["started_at"]
                self._spec_body = _encode(self._spec)  # sent again at once, below
            elif what == "create" and reply.error_code in REFUSED_FOR_GOOD:
                if self._attach_answered:
                    # Created before, so the trial started: the server lost the run (restored
                    # from an older backup) and takes it for a trial not started. Not final:
                    # the spool keeps what it never acknowledged, and the training goes on.
                    self._retry_later(
                        reply,
                        f"the server lost run {self.run_id} and refuses to create it again:"
                        f" {reply.error_message} ({reply.error_code}); what it stored of the run"
                        f" is gone there, what it did not acknowledge stays in {self.outbox.path}",
                    )
                    return
                # Final: the run will never exist; the Run stops (should_stop), and the sender.
                self.refused_code = reply.error_code
                self.refused = reply.error_message or f"run {self.run_id} was refused"
                self._on_refused(self.refused)
                self.create_answered.set()
                return
            elif what == "create":
                self.create_answered.set()
                if not self._ok(reply):
                    return
                self._created = True
                self._attached(reply.body)
            elif what == "blobs":
                if not self._uploaded(reply):
                    return
            elif what == "batch":
                if not self._accepted(reply):
                    return
                self._last_alive = self._last_contact
                self.blobs.release_batch(self.outbox.ack())
                self.outbox.compact()
                self._progress_at = time.monotonic()
                if self._progress_at - self._acked_written >= ACKED_WRITE_INTERVAL:
                    self._write_acked()
            elif not self._ok(reply):
                return
            elif what == "heartbeat":
                self._last_alive = self._last_contact
        now = time.monotonic()
        if now < self._next_try:
            return
        if not self._created:
            self._inflight = ("create", self._poster.submit("/api/v1/runs", self._spec_body))
            return
        body = self.outbox.head()
        if body is not None and self._hold_final and self._closed and self.outbox.batches == 1:
            body = None
        if body is not None and not self._blobs_pending(body):
            self._inflight = ("batch", self._poster.submit(self._batch_path, body))
        elif self.uploads and now - self._last_alive < self._heartbeat:
            self._upload_next()
        elif now - self._last_contact >= self._heartbeat or (
            self.uploads and now - self._last_alive >= self._heartbeat
        ):
            self._inflight = ("heartbeat", self._poster.submit(self._heartbeat_path, b""))

    def _deleted(self, reply: Reply) -> None:
        """The run was deleted on the server: stop sending, saying so once (a 404 that is not
        ``run_not_found``, on which the run would be created again)."""
        self.refused_code = RUN_DELETED
        self.refused = reply.error_message or f"run {self.run_id} was deleted"
        self._warn(
            f"run {self.run_id} was deleted on the server: nothing more of it is sent; what the"
            f" server did not take stays in {self.outbox.path}"
        )
        self.create_answered.set()

    def _blobs_pending(self, body: bytes) -> bool:
        """Whether the batch names an image not uploaded yet. The names are read once a head
        batch; the pending set is taken in C (the calling thread may append meanwhile)."""
        if not self.uploads:
            return False
        if self._named[0] is not body:
            self._named = (body, frozenset(sha256 for sha256, _ in named_in(body)))
        named = self._named[1]
        return bool(named) and not named.isdisjoint(map(itemgetter(0), self.uploads))

    def _attached(self, run: Any) -> None:
        """The server's answer to the run's creation: the first one says where an existing
        run's steps ended (``last_step``), for :meth:`resume_step`."""
        if self._attach_answered:
            return  # created again (the server lost the run): its steps are our own now
        last = run.get("last_step") if isinstance(run, dict) else None
        self._stored_last_step = last if type(last) is int else None
        name = run.get("name") if isinstance(run, dict) else None
        self.stored_name = name if isinstance(name, str) else None
        self._attach_answered = True
        if self._resume_taken and self._stored_last_step is not None:
            self._warn(
                f"run {self.run_id} already had steps up to {last}, but the server did not answer"
                " in time at init: this process's default steps began at 0 (pass step= to go on"
                " from the run's last step)"
            )

    def resume_step(self) -> int | None:
        """Called once by init after its wait: the run's last stored step when the server
        answered its creation by then (None: a new run, or no answer yet, after which the
        default steps begin at 0 and a late answer only warns)."""
        with self._lock:
            self._resume_taken = True
            return self._stored_last_step

    def _upload_next(self) -> None:
        """Upload the oldest blobs not yet uploaded (read back from their files), as many as
        the group size takes; a blob queued twice goes up once. Entries are read by index: the
        calling thread may append meanwhile, never anything else."""
        uploads = self.uploads
        blobs: list[Blob] = []
        sent: set[str] = set()
        held = taken = 0
        while taken < len(uploads):
            sha256, file, mime = uploads[taken]
            if sha256 not in sent:
                try:
                    if not self._group_size.takes(len(blobs), held, file.stat().st_size):
                        break
                    data = file.read_bytes()
                except OSError as exc:
                    if taken:
                        break  # its turn comes at the head of the queue
                    self._warn(f"cannot read the image blob {file} ({exc!r}); its image is lost")
                    uploads.popleft()
                    continue
                blobs.append((sha256, mime, data))
                sent.add(sha256)
                held += len(data)
            taken += 1
        if blobs:
            self._group = (taken, blobs)
            method, path, body, content_type = upload_request(self.run_id, blobs)
            self._inflight = ("blobs", self._poster.submit(path, body, content_type, method))

    def _uploaded(self, reply: Reply) -> bool:
        """Whether the blobs in flight are done with (stored, or one refused for good, the rest
        to go up again); False: retry."""
        taken, blobs = self._group
        if reply.status == 404 and reply.error_code == "run_not_found":
            self._created = False
            self._retry_later(reply)
            return False
        if self._group_size.answered(reply, len(blobs)):
            return True  # sent again at once, fewer to a request
        refused = refused_blob(reply, len(blobs))
        if refused is not None:
            self._warn(f"the server refused an image blob (HTTP {reply.status}): {reply.body}")
            sha256 = blobs[refused][0]
            for i in reversed(range(taken)):
                if self.uploads[i][0] == sha256:
                    del self.uploads[i]
            return True
        if not self._ok(reply):
            return False
        for _ in range(taken):
            self.uploads.popleft()
        self._progress_at = time.monotonic()
        return True

    def _missing_blobs(self, body: bytes) -> bool:
        """After a 409 ``blob_missing``: queue the batch's blobs for upload again (the server
        dropped them, or never had them); False when a blob's file is gone too, or after
        BLOB_RETRIES rounds (the batch is then refused for good)."""
        self._blob_retries += 1
        if self._blob_retries > BLOB_RETRIES:
            return False
        again = []
        for sha256, mime in named_in(body):
            path = blob_path(self.blobs.dir, sha256, mime)
            if not path.exists():
                return False
            again.append((sha256, path, mime))
        self.uploads.extendleft(reversed(again))  # first: the head batch waits on them
        return True

    def _write_acked(self) -> None:
        # Only an optimisation for `runwatch sync`: without it, it resends (stored once). Not
        # while a sync holds the lock (tried again at the next acknowledgement): never waited for.
        with contextlib.suppress(OSError), acked_lock(self.outbox.path) as held:
            if held:
                advance_acked(self.outbox.path, self.outbox.acked_offset)
                self._acked_written = time.monotonic()

    def _accepted(self, reply: Reply) -> bool:
        """Whether a posted batch is done with (stored, or refused for good); False: retry."""
        if reply.status == 404 and reply.error_code == "run_not_found":
            self._created = False
            self._retry_later(reply)
            return False
        if reply.error_code == "blob_missing":
            head = self.outbox.head()
            if head is not None and self._missing_blobs(head):
                return False  # its blobs go up first, then it is posted again
        self._blob_retries = 0
        if refused_for_good(reply):
            self._rejected_batch(reply)
            self._attempt = 0
            return True
        if not self._ok(reply):
            return False
        self.acked_batches += 1
        return True

    def _rejected_batch(self, reply: Reply) -> None:
        """The head batch was refused for good: its records are lost (reported in the next
        ``sdk.lost`` event and by finish()), its body kept in the bounded refused file."""
        body = self.outbox.head()
        assert body is not None
        first = self.refusals.reason is None
        records = self.refusals.add(body, reply)
        if first:
            self._warn(
                f"the server refused a batch for good ({self.refusals.reason}); its records are"
                f" lost to the run and kept in {self.refusals.file}"
            )
        self._lost += records
        self._rejected += records
        self.lost_total += records

    def _ok(self, reply: Reply) -> bool:
        if 200 <= reply.status < 300:
            self._last_contact = time.monotonic()
            self._attempt = 0
            self.last_error = None
            return True
        self._retry_later(reply)
        return False

    def _retry_later(self, reply: Reply, warning: str | None = None) -> None:
        """Try again after a backoff, saying ``warning`` (by default, what a refusal was)."""
        self.last_error = "server unreachable" if reply.status == 0 else f"HTTP {reply.status}"
        if warning is None and reply.status in (401, 403):
            warning = f"the server refused our token (HTTP {reply.status}); set RUNWATCH_TOKEN"
        elif warning is None and 400 <= reply.status < 500:
            warning = f"the server refused a request (HTTP {reply.status}): {reply.body}"
        if warning is not None:
            self._warn(warning)
        c = self._config
        delay = backoff(c.backoff_base, c.backoff_cap, self._attempt)
        if reply.retry_after is not None:
            delay = max(delay, reply.retry_after)
        self._attempt = min(self._attempt + 1, 16)
        self._next_try = time.monotonic() + delay


def print_warning(message: str) -> None:
    print(f"runwatch: {message}", file=sys.stderr)
