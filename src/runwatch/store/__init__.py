"""Durable storage behind one Store protocol."""

from runwatch.store.base import IngestError, RunInfo, Store

__all__ = ["IngestError", "RunInfo", "Store"]
