"""The runwatch run behind a W&B run, created when the script first records something.

W&B scripts set their config right after ``init`` (``wandb.config.update(args)``); creating the
run at that first record, not at ``init``, lets those values be the run's config. Creation (up
to the SDK's wait for the server) happens on a thread of its own, so ``log()`` never waits for
it: what is recorded meanwhile is kept in order and handed over once the run exists.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from runwatch.compat.wandb_types import warn_once
from runwatch.sdk.run import Run

Op = Callable[[Run], None]
BACKLOG_CAP = 100_000  # records kept while the run is being created; past it the caller waits
CREATE_JOIN = 30.0  # seconds a caller waits at most for the creation (finish, a full backlog)


class LazyRun:
    """Creates its run with ``create(config)`` on the first :meth:`call` that starts it."""

    def __init__(self, create: Callable[[dict[str, Any]], Run]) -> None:
        self._create = create
        self.run: Run | None = None
        self._backlog: list[Op] = []
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._failed = False

    @property
    def started(self) -> bool:
        """True once creation began: the run's stored config is fixed from then on."""
        return self._thread is not None

    def start(self, config: dict[str, Any]) -> None:
        """Begin creating the run with ``config`` (once; later calls do nothing)."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._make, args=(config,), name="runwatch-wandb-init", daemon=True
                )
                self._thread.start()

    def call(self, op: Op) -> None:
        """Apply ``op`` to the run now, or queue it (in order) while the run is being made."""
        run = self.run
        if run is None:
            if self._failed:
                return  # creation failed: said once, with what was lost
            with self._lock:
                run = self.run
                if run is None and len(self._backlog) < BACKLOG_CAP:
                    self._backlog.append(op)
                    return
            if run is None:
                run = self.wait()
            if run is None:
                return
        op(run)

    def wait(self) -> Run | None:
        """The run, once made (waits for the creation; None if it never started or failed)."""
        thread = self._thread
        if thread is not None:
            thread.join(CREATE_JOIN)
        return self.run

    def _make(self, config: dict[str, Any]) -> None:
        try:
            run = self._create(config)
        except Exception as exc:  # runwatch.init does not raise; this is a last resort
            with self._lock:
                self._failed = True
                lost = len(self._backlog)
                self._backlog.clear()
            warn_once(f"the runwatch run could not be created ({exc!r}); {lost} records lost")
            return
        with self._lock:
            for op in self._backlog:
                try:
                    op(run)
                except Exception as exc:
                    warn_once(f"a record for the runwatch run failed: {exc!r}", key="lazy-op")
            self._backlog.clear()
            self.run = run
