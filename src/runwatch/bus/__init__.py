"""Live fan-out across server replicas behind one Bus protocol."""

from runwatch.bus.base import RUNS_CHANNEL, Bus, run_channel
from runwatch.bus.memory import MemoryBus
from runwatch.bus.url import bus_from_url

__all__ = ["RUNS_CHANNEL", "Bus", "MemoryBus", "bus_from_url", "run_channel"]
