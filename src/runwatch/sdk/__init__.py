"""The producer side: the run handle, its background sender and the local spool."""

from runwatch.sdk.run import Run, init

__all__ = ["Run", "init"]
