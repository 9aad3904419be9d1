"""The run handle a training loop holds: ``log`` and ``event`` enqueue and return, never raise."""

from __future__ import annotations

import atexit
import json
import os
import re
import secrets
import sys
import threading
import time
import traceback
import weakref
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from enum import Enum
from itertools import count
from operator import index
from pathlib import Path
from types import TracebackType
from typing import Any

import msgspec

from runwatch.protocol import FINAL_STATUSES, MAX_COMMAND_KINDS, RUN_DIR_MARKER, SWEEP_PARAMS_ENV
from runwatch.sdk import limits
from runwatch.sdk.commands import CommandPoller
from runwatch.sdk.media import PendingHistogram, PendingImage
from runwatch.sdk.outbox import Outbox
from runwatch.sdk.sender import (
    EVENT,
    EXTRA,
    MEDIA,
    POINT,
    STATUS,
    Sender,
    SenderConfig,
    print_warning,
)
from runwatch.sdk.snapshot import capture
from runwatch.sdk.spool import SpoolWriter
from runwatch.sdk.transport import Transport, parse_urls

_LEVELS = ("debug", "info", "warning", "error")
_COMMAND_KIND = re.compile(r"[A-Za-z0-9_.:-]{1,64}")  # protocol.CommandKind
CommandHandler = Callable[[dict[str, Any]], Any]
INBOX_CAP = 1000
CREATE_WAIT = 5.0  # seconds init waits at most for the server to register the run
VITALS_CAP = 64  # keys a run may mark as vitals
LOG_LINE_MAX = 16_384  # characters of one captured log line kept
CAPTION_MAX = 1_000  # characters of an image's caption kept
# Metric keys remembered as checked against the server's limits (past it, new ones are checked
# on every call that has them).
KNOWN_KEYS_CAP = 100_000
_MIN_INT64 = -limits.MAX_INT64 - 1
_live_runs: weakref.WeakSet[Run] = weakref.WeakSet()
INTERRUPTED = "interrupted (KeyboardInterrupt)"  # the error of a run Ctrl-C ended


def _flat_keys(data: dict[str, Any], prefix: str = "") -> Iterator[str]:
    for k, v in data.items():
        if isinstance(v, dict):
            yield from _flat_keys(v, f"{prefix}{k}/")
        else:
            yield f"{prefix}{k}"


class Run:
    """A live run. Create it with :func:`runwatch.init`; use it as a context manager."""

    def __init__(
        self,
        spec: dict[str, Any],
        urls: list[str],
        token: str | None,
        run_dir: Path,
        config: SenderConfig | None = None,
        attached: bool = False,
    ) -> None:
        self.id: str = spec["id"]
        self.project: str = spec["project"]
        self.name: str = spec.get("name") or ""  # settled once the server answers (below)
        self.config: dict[str, Any] = spec.get("config", {})
        self.dir = run_dir
        self.url = f"{urls[0]}/runs/{self.id}"
        self.urls = urls
        self.token = token
        self.producer = secrets.token_hex(8)
        self.finished = False
        self._finished = threading.Event()  # set once finish() has returned
        self._delivered = False
        # Under `runwatch launch` the launcher owns the run's final status (from the exit code).
        self.attached = attached
        self._should_stop = False
        self._stop_asked = threading.Event()  # set with _should_stop: what wait_stop waits on
        # A cancel's reason (a watch rule's, early termination's), when it gave one.
        self.stop_reason: str | None = None
        self._stop_hooks: list[Callable[[], None]] = []  # see _on_stop_asked
        self._handlers: dict[str, CommandHandler] = {}
        self._offered = 0  # kinds sent to the page (cancel and unsendable kinds are not)
        # Commands waiting for the training thread (bounded: the server offers unreported ones
        # again, so one dropped here is applied later, not lost).
        self._inbox: deque[dict[str, Any]] = deque(maxlen=INBOX_CAP)
        self._vitals: set[str] = set()
        # log() may be called from several threads (a launcher's pumps, a user's own): the next
        # default step comes from a counter whose next() is atomic (no lock on the hot path); an
        # explicit step replaces the counter. The last step taken is what snapshots default to.
        self._steps = count()
        self._last_step = -1
        self._keys: set[Any] = set()  # metric keys already checked against the server's limits
        self._closed = False  # no record is taken after the final status is queued
        self._warned: set[str] = set()
        self._lock = threading.Lock()
        cfg = config or SenderConfig()
        # Nothing is ever dropped here. The sender takes records far faster than log() makes
        # them; past queue_cap (it is starved of the GIL) log() spools them itself without
        # waiting (Sender.spill): about queue_cap records at most (see the sender's docstring).
        self._queue: deque[tuple[Any, ...]] = deque()
        self._wake_at = cfg.max_batch_records
        self._queue_cap = cfg.queue_cap
        self._media_cap = cfg.media_pending_bytes
        self._media_taken = 0  # bytes of media taken; the sender counts those it prepared
        self.spool_path = run_dir / f"spool-{self.producer}.jsonl"
        self._sender = Sender(
            spec,
            self.producer,
            self._queue,
            Transport(urls, token),
            Outbox(SpoolWriter(self.spool_path, spec, self.producer), cfg.cache_bytes),
            cfg,
            self._warn_once,
            lambda: self._last_step + 1,
            self._refused,
        )
        self._sender.start()
        # The run exists on the server when init returns (as its URL promises), unless the
        # server is unreachable or slow: then the sender creates it later, and nothing waits.
        self._sender.create_answered.wait(CREATE_WAIT)
        # Attached to a run that has steps already (resuming): default steps go on after them.
        resumed = self._sender.resume_step()
        if resumed is not None:
            self._steps = count(resumed + 1)
            self._last_step = resumed
        # The name the run has: an attached run's own, else the one the server gives an unnamed
        # run (store/sql/runs.py), so run.name is never None.
        self.name = self._sender.stored_name or self.name or f"run-{self.id[:6]}"
        self._poller = CommandPoller(self.id, Transport(urls, token), self._receive)
        if self.refused is None:
            self._poller.start()
        _live_runs.add(self)

    # -- the hot path ----------------------------------------------------------------------
    def log(
        self,
        data: dict[str, Any],
        step: int | None = None,
        vital: bool = False,
        ts: float | None = None,
    ) -> None:
        """Record metric values at ``step`` (default: one past the last step). Never blocks.

        ``vital=True`` also shows these keys in the run page's vitals bar; ``ts`` is their wall
        time when it is not now (imported history).
        """
        try:
            if self._closed:
                self._after_finish("log")
                return
            if not self._keys.issuperset(data):
                self._check_keys(data)
            if step is None:
                step = next(self._steps)
            else:
                if type(step) is not int or not _MIN_INT64 <= step <= limits.MAX_INT64:
                    step = _int64(step, "step")
                self._steps = count(step + 1)
            self._last_step = step
            if ts is None:
                ts = time.time()
            elif not 0.0 <= ts <= limits.MAX_TIMESTAMP:
                raise ValueError(f"ts must be unix seconds between 0 and 1e11, not {ts!r}")
            queue = self._queue
            queue.append((POINT, step, ts, dict(data)))
            if vital:
                self._vital_keys(data)
            queued = len(queue)
            if queued == 1 or queued % self._wake_at == 0 or queued >= self._queue_cap:
                self._wake_sender(queued)
            if self._inbox:
                self._apply_commands()
        except Exception as exc:
            self._warn_once(f"log() failed and was skipped: {exc!r}")

    def event(
        self,
        kind: str,
        entity: int | str | Sequence[int | str] | None = None,
        level: str = "info",
        *,
        entities: Sequence[int | str] | None = None,
        **payload: Any,
    ) -> None:
        """Record a structural or user event; keyword arguments are its payload. Never blocks.

        ``entity`` (or ``entities``, a list or tuple) names the entities it concerns: a merge of
        neurons 5 and 6 is ``entity=[5, 6]``, and shows in each one's history."""
        try:
            if level not in _LEVELS:
                self._warn_once(f"unknown event level {level!r}; using 'info'")
                level = "info"
            kind = _name(kind, "event kind", "max_kind_length", limits.MAX_KIND_LENGTH)
            names = _entities(entity) + _entities(entities)
            if len(names) > limits.MAX_EVENT_ENTITIES:
                self._warn_once(
                    f"an event names at most {limits.MAX_EVENT_ENTITIES} entities; the first"
                    f" {limits.MAX_EVENT_ENTITIES} are kept"
                )
                del names[limits.MAX_EVENT_ENTITIES :]
            record: dict[str, Any] = {"kind": kind, "ts": time.time(), "level": level}
            record["entity"] = names[0] if names else None
            if len(names) > 1:
                record["entities"] = names
            record["payload"] = _jsonable(payload)
            if names:
                # The step an entity's first event happened at is its birth (see the README).
                record["step"] = max(self._last_step, 0)
            if self._closed:
                self._after_finish("event")
                return
            queue = self._queue
            queue.append((EVENT, record))
            self._wake_sender(len(queue))
            if self._inbox:
                self._apply_commands()
        except Exception as exc:
            self._warn_once(f"event() failed and was skipped: {exc!r}")

    def snapshot(
        self, key: str, value: Any, step: int | None = None, entity: int | str | None = None
    ) -> None:
        """A versioned payload (JSON, or a list of numbers) such as a footprint or a histogram;
        the server keeps log-spaced and changed versions. ``entity`` names the entity the key
        shows (its drawer lists the key). Never blocks."""
        try:
            at = self._last_step if step is None else _int64(step, "step")
            item = {
                "key": _name(key, "snapshot key", "max_name_length", limits.MAX_NAME_LENGTH),
                "step": max(at, 0),
                "ts": time.time(),
                "value": _jsonable(value),
            }
            if entity is not None:
                item["entity"] = _entity(entity)
            self._extra("snapshots", item)
        except Exception as exc:
            self._warn_once(f"snapshot() failed and was skipped: {exc!r}")

    def image(
        self,
        key: str,
        data: Any,
        step: int | None = None,
        caption: str | None = None,
        labels: bool = False,
        entity: int | str | None = None,
    ) -> None:
        """Log an image of ``key`` at ``step`` (default: the last step logged). Never blocks,
        never raises (bad input: one warning and an ``sdk.image_error`` event on the run).

        ``data``: a numpy array (HxW float: a heatmap with its scale; HxW int with
        ``labels=True``: a label map, each value an entity id; HxWx3/4 uint8, or float in
        [0, 1]: an image), a PIL image, a CPU torch tensor (CxHxW), or PNG/JPEG bytes.
        Arrays are copied here and encoded (PNG) on the SDK's thread; ``entity`` names the
        entity the image shows.
        """
        # The training loop's cost is what runs here: only cheap checks, one copy, one append.
        try:
            at = self._last_step if step is None else _int64(step, "step")
            if type(key) is not str or not 0 < len(key) <= limits.MAX_NAME_LENGTH:
                key = _name(key, "image key", "max_name_length", limits.MAX_NAME_LENGTH)
            pending = PendingImage(
                key,
                at if at > 0 else 0,
                time.time(),
                data,
                None if caption is None else str(caption)[:CAPTION_MAX],
                labels is True or bool(labels),
                None if entity is None else _entity(entity),
            )
            self._media("media", pending)
        except Exception as exc:
            self._media_refused("image", key, step, exc)

    def histogram(
        self,
        key: str,
        values: Any = None,
        *,
        counts: Any = None,
        edges: Any = None,
        step: int | None = None,
        bins: int = 64,
    ) -> None:
        """Log the distribution of ``values`` (any array or sequence; binned on the SDK's
        thread into ``bins`` equal bins, NaN and ±inf counted apart), or ready ``counts`` with
        their ``edges`` (one more), at ``step`` (default: the last step logged). Never blocks,
        never raises (bad input: one warning and an ``sdk.histogram_error`` event)."""
        try:
            at = self._last_step if step is None else _int64(step, "step")
            name = _name(key, "histogram key", "max_name_length", limits.MAX_NAME_LENGTH)
            pending = PendingHistogram(
                name, max(at, 0), time.time(), values, counts, edges, int(bins)
            )
            self._media("histograms", pending)
        except Exception as exc:
            self._media_refused("histogram", key, step, exc)

    def _media(self, field: str, pending: PendingImage | PendingHistogram) -> None:
        """Queue an image or histogram for the sender. Past ``media_pending_bytes`` taken and not
        yet prepared by the sender, this thread prepares it itself (memory stays bounded)."""
        if self._closed:
            self._after_finish("image" if field == "media" else "histogram")
            return
        record: tuple[Any, ...] = (MEDIA, field, pending)
        if self._media_taken - self._sender.media_done >= self._media_cap:
            record = self._sender.prepare_media(record, pending=False)
        else:
            self._media_taken += pending.nbytes
        queue = self._queue
        queue.append(record)
        self._wake_sender(len(queue))

    def _media_refused(self, what: str, key: Any, step: Any, exc: Exception) -> None:
        """Input refused on this thread: one warning, and an error event on the run."""
        self._warn_once(f"run.{what}({str(key)[:40]!r}) was skipped: {exc}")
        # The step as the sender's refusals give it (a number); as text only when it is none.
        try:
            at: int | str = max(self._last_step if step is None else _int64(step, "step"), 0)
        except (TypeError, ValueError):
            at = str(step)[:100]
        payload = {"key": str(key)[:256], "step": at, "error": str(exc)[:1000]}
        event = {"kind": f"sdk.{what}_error", "ts": time.time(), "level": "error",
                 "entity": None, "payload": payload}  # fmt: skip
        if not self._closed:
            self._queue.append((EVENT, event))
            self._wake_sender(len(self._queue))

    def table(
        self,
        name: str,
        rows: list[dict[str, Any]],
        mode: str = "replace",
        max_rows: int | None = None,
    ) -> None:
        """Replace a table (a leaderboard) with ``rows``, or append them keeping ``max_rows``."""
        try:
            if mode not in ("replace", "append"):
                raise ValueError(f"mode must be 'replace' or 'append', not {mode!r}")
            name = _name(name, "table name", "max_name_length", limits.MAX_NAME_LENGTH)
            item = {"name": name, "rows": _jsonable(list(rows)), "mode": mode}
            if max_rows is not None:
                item["max_rows"] = int(max_rows)
            self._extra("tables", item)
        except Exception as exc:
            self._warn_once(f"table() failed and was skipped: {exc!r}")

    def points(
        self, name: str, points: list[dict[str, Any]], replace: bool = True, cap: int | None = None
    ) -> None:
        """A point set for a scatter (``x``, ``y``, optional ``z``, ``label``, ``cluster``, …):
        replaced, or appended keeping the newest ``cap`` (server default 4,000)."""
        try:
            name = _name(name, "point set name", "max_name_length", limits.MAX_NAME_LENGTH)
            item = {"name": name, "points": _jsonable(list(points)), "replace": bool(replace)}
            if cap is not None:
                item["cap"] = int(cap)
            self._extra("point_sets", item)
        except Exception as exc:
            self._warn_once(f"points() failed and was skipped: {exc!r}")

    def write_log(self, stream: str, text: str) -> None:
        """One line of a worker's stdout or stderr (the launcher's capture uses this)."""
        try:
            # PostgreSQL cannot store a NUL and the server refuses one (with the whole batch):
            # the line is kept, its NULs shown as U+FFFD, as a terminal would show them.
            line = {
                "stream": stream,
                "ts": time.time(),
                "text": text[:LOG_LINE_MAX].replace("\x00", "\ufffd"),
            }
            self._extra("logs", line)
        except Exception as exc:
            self._warn_once(f"write_log() failed and was skipped: {exc!r}")

    def update_config(self, values: dict[str, Any]) -> None:
        """Set keys of the run's config after ``init`` (top-level keys replaced, the others
        kept); the run page's Config panel shows the change live. Never raises."""
        try:
            change = _jsonable(values)
            # The sender leaves a change over the limit out (one warning): so does run.config.
            if len(msgspec.json.encode(change)) <= limits.MAX_CONFIG_BYTES:
                self.config.update(values)
            self._extra("config", change)
        except Exception as exc:
            self._warn_once(f"update_config() failed and was skipped: {exc!r}")

    def artifacts(self, manifest: list[dict[str, Any]]) -> None:
        """The run directory's artifact manifest (the launcher's scanner sends it): a list of
        objects. An entry that is not a dict is left out, with one warning, and the others are
        sent (the server refuses a manifest holding one, and the batch with it). Never raises."""
        try:
            entries = list(manifest)
            kept = [entry for entry in entries if isinstance(entry, dict)]
            if len(kept) < len(entries):
                self._warn_once(
                    "artifacts(): an entry that is not an object (dict) is left out; the"
                    " others are sent"
                )
            self._extra("manifests", _jsonable(kept))
        except Exception as exc:
            self._warn_once(f"artifacts() failed and was skipped: {exc!r}")

    def _check_keys(self, data: dict[str, Any], prefix: str = "") -> None:
        """Metric keys (nested dicts flattened with ``/``) within the server's limits: a key past
        them would have its whole batch refused. Plain keys, once checked, are not looked at
        again (the hot path only asks whether all of a row's keys are known)."""
        for k, v in data.items():
            key = f"{prefix}{k}"
            if isinstance(v, dict):
                self._check_keys(v, key + "/")
            elif not key or len(key) > limits.MAX_KEY_LENGTH:
                raise ValueError(
                    f"metric key {key[:40]!r}… is empty or longer than max_key_length="
                    f"{limits.MAX_KEY_LENGTH}; the row is left out"
                )
            elif "\x00" in key:
                raise ValueError(
                    f"metric key {key[:40]!r} holds a NUL character; the row is left out"
                )
        if not prefix and len(self._keys) < KNOWN_KEYS_CAP:
            self._keys.update(k for k, v in data.items() if not isinstance(v, dict))

    def _vital_keys(self, data: dict[str, Any]) -> None:
        # The stored keys: a nested dict's are flattened with "/" (as its values are).
        fresh = [k for k in _flat_keys(data) if k not in self._vitals]
        for key in fresh[: max(0, VITALS_CAP - len(self._vitals))]:
            self._vitals.add(key)
            self._extra("vitals", key)

    def _extra(self, field: str, item: Any) -> None:
        if self._closed:
            self._after_finish(field)
            return
        queue = self._queue
        queue.append((EXTRA, field, item))
        self._wake_sender(len(queue))

    def _wake_sender(self, queued: int) -> None:
        """Wake the sender when a batch is ready, or for a lone record when it sat idle (that
        record leaves at once); otherwise it comes by itself within a flush interval. Waking it
        on every call would make it run, and take the GIL, as often as log() is called.

        Past ``queue_cap`` (the sender starved of the GIL) the queue is spooled on this thread
        unless the sender is draining it at that moment: never a sleep or a wait here."""
        if queued % self._wake_at == 0 or (queued == 1 and self._sender.idle):
            self._sender.wake()
        if queued >= self._queue_cap:
            self._sender.spill()

    def _after_finish(self, what: str) -> None:
        if self.refused is None:  # a refused run is said once by whoever reads refused
            self._warn_once(f"{what}() after finish() is ignored: the run {self.id} is finished")

    @property
    def refused(self) -> str | None:
        """Why the server refused to create the run, for good (its sweep was stopped before
        this trial started, or the trial was handed out again: see :attr:`refused_code`); None
        while it takes the run. A refused run takes nothing more
        (``log()`` and the rest return at once) and ``should_stop`` is True."""
        return self._sender.refused

    @property
    def refused_code(self) -> str | None:
        """The code of :attr:`refused`: ``sweep_stopped`` (the sweep was stopped before this
        trial started) or ``claim_expired`` (the trial's claim expired and its configuration
        was handed out again, to run there); ``run_deleted`` (the run was deleted on the
        server while this process was silent: nothing more is sent, but ``should_stop`` stays
        as it was: the loop is the user's to end); None while the server takes the run."""
        return self._sender.refused_code

    def _refused(self, reason: str) -> None:
        """On the sender's thread, when the server refused the run for good: the run stops,
        as after a cancel (a launcher's worker is stopped, a W&B agent's function interrupted)."""
        self._closed = True
        self.stop_reason = reason
        self._should_stop = True
        self._stop_asked.set()
        for hook in list(self._stop_hooks):
            self._call_stop_hook(hook)

    # -- commands from the dashboard ---------------------------------------------------------
    @property
    def should_stop(self) -> bool:
        """True once the run was cancelled from the dashboard: leave the loop and ``finish()``."""
        if self._inbox:
            self._apply_commands()
        return self._should_stop

    def wait_stop(self, timeout: float | None = None) -> bool:
        """Block until the run is cancelled (True) or ``timeout`` s pass (False): for a producer
        that idles between steps (waiting for data, a queue, a signal) yet must leave at once
        when the dashboard, a watch rule or early termination stops it."""
        self._stop_asked.wait(timeout)
        return self.should_stop

    def on_command(self, kind: str, handler: CommandHandler) -> None:
        """Call ``handler(payload)`` for each ``kind`` command, on the training thread (inside
        the next ``log``/``event`` call or ``should_stop`` check). An exception it raises marks
        the command failed with that text; it is never raised into the loop.

        The run page offers each kind registered here (per entity, and on the newest one).
        """
        fresh = kind not in self._handlers
        self._handlers[kind] = handler
        if not fresh or kind == "cancel":  # cancel is the page's own button
            return
        if not _COMMAND_KIND.fullmatch(kind):
            self._warn_once(
                f"command kind {kind!r} cannot be sent from the page: use 1-64 of A-Z a-z 0-9 _ . : -"
            )
        elif self._offered >= MAX_COMMAND_KINDS:
            self._warn_once(f"the page offers the first {MAX_COMMAND_KINDS} command kinds only")
        else:
            self._offered += 1
            self._extra("command_kinds", kind)

    def _receive(self, commands: list[dict[str, Any]]) -> None:
        """On the poller thread: cancel takes effect at once; the rest waits for the loop."""
        for cmd in commands:
            if cmd.get("kind") == "cancel":
                self.stop_reason = reason_of_cancel(cmd)
                self._should_stop = True
                self._stop_asked.set()
                for hook in list(self._stop_hooks):
                    self._call_stop_hook(hook)
                self._report(cmd, None)
            else:
                self._inbox.append(cmd)

    def _on_stop_asked(self, hook: Callable[[], None]) -> None:
        """Internal (the W&B shim's agent interrupts its sweep function with it): call
        ``hook()`` on the command poller's thread when a cancel arrives, at once if one already
        did. It may be called more than once; it must be quick."""
        self._stop_hooks.append(hook)
        if self._stop_asked.is_set():
            self._call_stop_hook(hook)

    def _call_stop_hook(self, hook: Callable[[], None]) -> None:
        try:
            hook()
        except Exception as exc:  # a hook never breaks the poller: the cancel is applied anyway
            self._warn_once(f"a stop hook failed: {exc!r}")

    def _apply_commands(self) -> None:
        while self._inbox:
            cmd = self._inbox.popleft()
            handler = self._handlers.get(cmd.get("kind", ""))
            if handler is None:
                self._report(cmd, f"no handler for command kind {cmd.get('kind')!r}")
                continue
            try:
                handler(cmd.get("payload") or {})
            except Exception as exc:
                self._report(cmd, f"{type(exc).__name__}: {exc}")
            else:
                self._report(cmd, None)

    def _report(self, cmd: dict[str, Any], error: str | None) -> None:
        state = "applied" if error is None else "failed"
        self._extra("commands", {"id": cmd["id"], "state": state, "error": _shown(error)})

    # -- the end ---------------------------------------------------------------------------
    def finish(
        self,
        status: str | None = None,
        error: str | None = None,
        exit_code: int | None = None,
        timeout: float | None = None,
        send_status: bool = True,
    ) -> bool:
        """Deliver every record, then the final status; True when all were acknowledged.

        The status defaults to ``cancelled`` after a cancel from the dashboard, else
        ``succeeded``; a cancelled run's error defaults to the cancel's reason, if it gave one.
        Waits at most ``timeout`` s; with None (the default) as long as the server keeps
        acknowledging, giving up after 10 s without an acknowledgement; it returns only once
        every queued record is in the spool, whatever the wait. The final
        status is sent only after everything before it was acknowledged: what is left when the
        wait ends stays in the spool, and ``runwatch sync`` delivers it and then the final
        status (``send_status=False`` leaves the status there in any case). Safe to call twice:
        a second call returns what the first one did, once it has.
        A run the server refused (:attr:`refused`) has nothing to deliver: False at once.
        False too when the server refused a batch for good (e.g. another producer finished
        the run): one warning says how many records and why, and where they are kept.
        """
        with self._lock:
            first = not self.finished
            self.finished = True
        if not first:  # a second call says what the first one found, once that one is done
            self._finished.wait()
            return self._delivered
        try:
            self._delivered = self._finish(status, error, exit_code, timeout, send_status)
        finally:
            self._finished.set()
        return self._delivered

    def _finish(
        self,
        status: str | None,
        error: str | None,
        exit_code: int | None,
        timeout: float | None,
        send_status: bool,
    ) -> bool:
        if self.refused is not None:  # nothing to deliver, nor to keep for `runwatch sync`
            self._poller.stop()
            self._sender.stop(0)
            _live_runs.discard(self)
            return False
        if self._inbox:
            self._apply_commands()
        if status is None:
            status = "cancelled" if self._should_stop else "succeeded"
        final: dict[str, Any] = {}
        if self.attached:  # the launcher reports the final status; this process says what it saw
            level = "error" if error else "info"
            self.event("worker.finished", level=level, status=status, error=error)
        else:
            if status not in FINAL_STATUSES:
                self._warn_once(f"unknown final status {status!r}; using 'failed'")
                status = "failed"
            if status == "cancelled" and error is None:
                error = self.stop_reason  # a rule's or early termination's reason, if any
            final = {
                "state": status,
                "ts": time.time(),
                "error": _shown(error),
                "exit_code": exit_code,
            }
        self._closed = True
        self._queue.append((STATUS, final))
        self._poller.stop()
        delivered = self._sender.stop(timeout, send_final=send_status)
        if not delivered and (send_status or self._sender.unsent() > 1):
            outbox = self._sender.outbox
            where = f"they are in {self.spool_path}"
            if outbox.spool_error is not None:
                where = f"those that reached {self.spool_path} are kept ({outbox.spool_error!r})"
            print_warning(
                f"{outbox.records} records were not delivered ({self._sender.last_error}); "
                f"{where}, and the run is not marked finished until `runwatch sync {self.dir}` "
                "uploads them"
            )
        refusals = self._sender.refusals
        if refusals.records:
            print_warning(refusals.describe())
        lost = self._sender.lost_total - refusals.records  # those refused are said above
        if lost:
            records, verb = ("1 record", "was") if lost == 1 else (f"{lost:,} records", "were")
            print_warning(f"{records} of run {self.id} {verb} lost (see its sdk.lost events)")
        _live_runs.discard(self)
        return delivered and not refusals.records and not lost

    def _repr_html_(self) -> str:
        """In Jupyter: the run's live page in an iframe, with a link out."""
        from runwatch.notebook import embed_html

        return embed_html(self.url, f"run {self.name or self.id}")

    def __enter__(self) -> Run:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.finish()
        elif issubclass(exc_type, KeyboardInterrupt):
            self.finish("cancelled", error=INTERRUPTED)
        else:
            text = "".join(traceback.format_exception(exc_type, exc, tb))
            self.finish("failed", error=text[-20_000:])

    def _warn_once(self, message: str) -> None:
        if message not in self._warned and len(self._warned) < 100:
            self._warned.add(message)
            print_warning(message)


def _name(value: Any, what: str, limit_name: str, limit: int) -> str:
    """A name the server takes: not empty, at most ``limit`` characters, no NUL; else
    ``ValueError``."""
    name = str(value)
    if not name or len(name) > limit:
        raise ValueError(f"{what} {name[:40]!r}… is empty or longer than {limit_name}={limit}")
    if "\x00" in name:
        raise ValueError(f"{what} {name[:40]!r} holds a NUL character")
    return name


def _shown(error: str | None) -> str | None:
    """An error message the server keeps: each NUL (which it refuses) shown as U+FFFD."""
    return None if error is None else error.replace("\x00", "\ufffd")


def _entity(entity: Any) -> int | str | None:
    """An entity the server stores: a 64-bit integer, or a string of at most max_key_length."""
    if entity is None:
        return None
    if isinstance(entity, int) and not isinstance(entity, bool):
        return _int64(entity, "entity")
    text = str(entity)
    if len(text) > limits.MAX_KEY_LENGTH:
        raise ValueError(
            f"entity {text[:40]!r}… is longer than max_key_length={limits.MAX_KEY_LENGTH}"
        )
    if "\x00" in text:
        raise ValueError(f"entity {text[:40]!r} holds a NUL character")
    return text


def _entities(names: Any) -> list[int | str]:
    """The entities of ``entity=`` or ``entities=``: one, or each of a list or tuple."""
    if names is None:
        return []
    if not isinstance(names, list | tuple):
        names = [names]
    out: list[int | str] = []
    for name in names:
        one = None if isinstance(name, list | tuple | dict | set) else _entity(name)
        if one is None:
            raise TypeError(f"an entity is an int or a string, not {type(name).__name__}")
        out.append(one)
    return out


def _int64(value: Any, what: str) -> int:
    """An integer the server stores (a 64-bit one); else ``ValueError`` (``TypeError``)."""
    number = index(value)
    if not _MIN_INT64 <= number <= limits.MAX_INT64:
        raise ValueError(f"{what} {number} is outside the 64-bit integers")
    return number


def _jsonable(value: Any, depth: int = 0) -> Any:
    """A JSON-safe copy of an event payload, config or object: Python's own scalars as they
    are; other numbers and strings (numpy's scalars and 0-d arrays, enums, subclasses of
    ``float`` or ``str``) as Python's; any other object its ``str``. Exact types only reach
    the encoder: it refuses a ``numpy.float64`` (a float subclass), and a refusal on the
    sender's thread would stop delivery."""
    kind = type(value)
    if value is None or kind is bool or kind is int or kind is str:
        return value
    if kind is float:
        return value if value == value and abs(value) != float("inf") else str(value)
    if depth > 20:
        return str(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_jsonable(v, depth + 1) for v in value]
    return _jsonable(_plain(value), 21)  # a plain scalar, or a string: not walked again


def _plain(value: Any) -> Any:
    """``value`` as a Python ``int``, ``float``, ``bool`` or ``str`` when it is one of another
    type, else its ``str``."""
    if isinstance(value, Enum):
        value = value.value
    elif getattr(value, "ndim", None) == 0 and callable(getattr(value, "item", None)):
        try:
            value = value.item()  # numpy's scalars and 0-d arrays (torch's too)
        except Exception:  # an object whose item() fails is shown as its str
            return str(value)
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    return str.__str__(value) if isinstance(value, str) else str(value)


def _finish_at_exit() -> None:
    """Finish runs the script forgot to finish; an uncaught exception makes them ``failed``,
    Ctrl-C ``cancelled`` (as leaving a ``with`` block does)."""
    last = getattr(sys, "last_value", None)
    for run in list(_live_runs):
        if isinstance(last, KeyboardInterrupt):
            run.finish("cancelled", error=INTERRUPTED)
        elif last is not None:
            text = "".join(traceback.format_exception(last))
            run.finish("failed", error=text[-20_000:])
        else:
            run.finish()


atexit.register(_finish_at_exit)


def sweep_params() -> dict[str, Any] | None:
    """The configuration ``runwatch agent`` gave this sweep trial (``RUNWATCH_SWEEP_PARAMS``),
    if any; a value that is not a JSON object is left out with one warning."""
    raw = os.environ.get(SWEEP_PARAMS_ENV)
    if not raw:
        return None
    try:
        params = json.loads(raw)
    except ValueError:
        params = None
    if not isinstance(params, dict):
        print_warning(
            f"{SWEEP_PARAMS_ENV} is not a JSON object; the sweep's configuration is not applied"
        )
        return None
    return params


def reason_of_cancel(cmd: dict[str, Any]) -> str | None:
    """The reason a cancel command gives, if any."""
    payload = cmd.get("payload")
    reason = payload.get("reason") if isinstance(payload, dict) else None
    return reason if isinstance(reason, str) and reason else None


def _env_int(name: str) -> int:
    """The integer in environment variable ``name`` (0 when unset; one warning when not one)."""
    raw = os.environ.get(name, "").strip()
    try:
        return int(raw) if raw else 0
    except ValueError:
        print_warning(f"{name}={raw[:40]!r} is not an integer; it is ignored")
        return 0


def _register_run_dir(directory: Path, run_id: str) -> None:
    """Mark ``directory`` as this run's (a :data:`RUN_DIR_MARKER` file naming it): a server on
    this machine then trusts it for the run's artifacts and TensorBoard, where a directory a
    producer merely reports is not. Best effort: a run is never refused for it."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / RUN_DIR_MARKER).write_text(run_id, encoding="utf-8")
    except OSError as exc:
        print_warning(f"could not mark {directory} as the run's directory: {exc!r}")


def init(
    project: str | None = None,
    name: str | None = None,
    config: dict[str, Any] | None = None,
    group: str | None = None,
    tags: list[str] | None = None,
    url: str | None = None,
    token: str | None = None,
    run_dir: str | os.PathLike[str] | None = None,
    heartbeat: float = 5.0,
    run_id: str | None = None,
) -> Run:
    """Start (or, under ``runwatch launch``, attach to) a run and return its handle.

    Reads ``RUNWATCH_URL`` (comma-separated URLs fail over in order; default
    ``http://127.0.0.1:8765``), ``RUNWATCH_TOKEN``, ``RUNWATCH_RUN_ID`` and ``RUNWATCH_RUN_DIR``;
    under ``runwatch agent``, the sweep trial's configuration joins ``config`` (its keys win).
    Never raises for telemetry reasons: a server that is down only delays delivery. The
    producer sends a heartbeat every ``heartbeat`` s while it has nothing else to send; silent
    for three of them, the run is marked crashed. ``run_id`` picks the id (creating a run with
    an existing id in the same project attaches to it: resuming; the default steps then go on
    after the run's last stored step, when the server answers within init's wait).
    """
    run_id = os.environ.get("RUNWATCH_RUN_ID") or run_id or secrets.token_hex(6)
    if os.environ.get("RUNWATCH_RUN_ID"):  # attached to a launched run: its project wins
        project = os.environ.get("RUNWATCH_PROJECT") or project
    trial = sweep_params()
    if trial:  # a sweep trial's values win over the script's, as under W&B
        config = {**(config or {}), **trial}
    spec: dict[str, Any] = {
        "id": run_id,
        "project": project or os.environ.get("RUNWATCH_PROJECT") or "default",
        "name": name,
        "group": group,
        "tags": list(tags or []),
        "config": _jsonable(config or {}),
    }
    urls = parse_urls(url or os.environ.get("RUNWATCH_URL"))
    directory = Path(
        run_dir or os.environ.get("RUNWATCH_RUN_DIR") or Path(".runwatch") / "runs" / run_id
    )
    try:
        spec["snapshot"] = capture(directory)
    except Exception as exc:  # a snapshot is nice to have, never a reason to fail
        print_warning(f"could not capture the run's snapshot: {exc!r}")
    spec["heartbeat"] = heartbeat
    spec["started_at"] = time.time()  # the run's start even when the server learns of it later
    attached = os.environ.get("RUNWATCH_LAUNCHED") == "1"
    token = token or os.environ.get("RUNWATCH_TOKEN")
    sender = SenderConfig(thread_nice=_env_int("RUNWATCH_SDK_NICE"))
    _register_run_dir(directory, run_id)
    run = Run(spec, urls, token, directory, sender, attached=attached)
    if attached and spec["config"]:  # the launcher made the run: the worker's config joins it
        run.update_config(spec["config"])
    return run
