"""Supervising workers that may or may not use the SDK: ``runwatch launch``."""

from runwatch.launcher.supervisor import launch

__all__ = ["launch"]
