"""Live fan-out across server replicas behind one Bus protocol."""

from runwatch.bus.base import RUNS_CHANNEL, Bus, run_channel
from runwatch.bus.memory import MemoryBus

__all__ = ["RUNS_CHANNEL", "Bus", "MemoryBus", "run_channel"]
