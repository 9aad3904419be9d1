"""Sweeps: W&B's sweep configurations, their search spaces, and the agent's side of a sweep."""

from runwatch.sweeps.spec import Metric, Param, SweepError, SweepSpec, parse_sweep

__all__ = ["Metric", "Param", "SweepError", "SweepSpec", "parse_sweep"]
