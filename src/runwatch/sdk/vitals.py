"""System vitals the sender samples every few seconds, logged under ``sys/``."""

from __future__ import annotations

import time
from typing import Any

import psutil


class SystemVitals:
    """CPU and memory of this process, GPU utilisation and memory when NVML is importable, the
    SDK's own throughput and queue depth."""

    def __init__(self) -> None:
        self._process = psutil.Process()
        self._process.cpu_percent(None)  # the first reading only starts the clock
        self._last = (time.monotonic(), 0)
        self._gpus = _nvml_handles()

    def sample(self, taken: int, queued: int) -> dict[str, float]:
        """The process's vitals now; ``queued``: records not yet acknowledged by the server
        (in memory or spooled), ``taken``: records taken from log() so far (for the rate)."""
        now = time.monotonic()
        then, taken_then = self._last
        self._last = (now, taken)
        values = {
            "sys/cpu_percent": self._process.cpu_percent(None),
            "sys/rss_mb": self._process.memory_info().rss / 2**20,
            "sys/records_per_s": (taken - taken_then) / max(now - then, 1e-6),
            "sys/sdk_queue": float(queued),
        }
        for i, handle in enumerate(self._gpus):
            values.update(_gpu(i, handle))
        return values


def _nvml_handles() -> list[Any]:
    try:
        import pynvml  # type: ignore[import-not-found]

        pynvml.nvmlInit()
        return [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())]
    except Exception:  # no NVML, no driver, no GPU: no GPU vitals
        return []


def _gpu(index: int, handle: Any) -> dict[str, float]:
    import pynvml

    try:
        util = pynvml.nvmlDeviceGetUtilizationRates(handle)
        memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
    except Exception:
        return {}
    return {f"sys/gpu{index}_util": float(util.gpu), f"sys/gpu{index}_mem_mb": memory.used / 2**20}
