"""Durable storage behind one Store protocol."""

from runwatch.store.base import RunInfo, Store

__all__ = ["RunInfo", "Store"]
