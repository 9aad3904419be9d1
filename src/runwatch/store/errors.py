"""What the store refuses, and why, in the store's own terms.

The store knows nothing of HTTP: ``server/errors.py`` alone maps each kind to a status. ``code``
is the stable name clients read; ``field`` names the offending place of the request, if any.
"""

from __future__ import annotations


class StoreError(Exception):
    """A storage operation that cannot be done."""

    code = "store_error"

    def __init__(self, message: str, field: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        if code is not None:
            self.code = code


class NotFound(StoreError):
    """The thing asked for does not exist."""

    code = "not_found"


class RunNotFound(NotFound):
    """No run has this id."""

    code = "run_not_found"


class RunDeleted(RunNotFound):
    """The run was deleted (a producer that speaks for it again is told so, and stops)."""

    code = "run_deleted"


class Conflict(StoreError):
    """The request contradicts what is stored (and retrying it will not help)."""

    code = "conflict"


class RunExists(Conflict):
    """A run with this id exists in another project."""

    code = "run_exists"


class RunFinished(Conflict):
    """The run took its final status: it takes no more data."""

    code = "run_finished"


class RunNotFinished(Conflict):
    """The run is queued or running: only a finished run can be deleted (cancel it first)."""

    code = "run_not_finished"


class RunDeleting(Conflict):
    """A run of this id is being deleted: it cannot be made again until that is done."""

    code = "run_deleting"


class SweepStopped(Conflict):
    """The run is a trial of a stopped sweep that had not started: it is cancelled, not run."""

    code = "sweep_stopped"


class ClaimExpired(Conflict):
    """The run is a trial whose claim expired before the run was created, and whose
    configuration was handed out again: the retry runs it, not this run."""

    code = "claim_expired"


class BlobMissing(Conflict):
    """A media record names a blob the store does not have (the producer uploads it first)."""

    code = "blob_missing"


class InvalidValue(StoreError):
    """A value the store cannot keep (malformed, or out of what a column holds)."""

    code = "invalid_batch"


class LimitExceeded(StoreError):
    """Storable, but past a configured limit (a full queue, too many items)."""

    code = "limit_exceeded"


class StoreBusy(StoreError):
    """Too much is waiting right now: retry shortly."""

    code = "store_busy"


class StoreUnavailable(StoreError):
    """The database cannot be reached or cannot write (closed, disk full, I/O error)."""

    code = "store_unavailable"


class SweepNotFound(NotFound):
    """No sweep has this id."""

    code = "sweep_not_found"
