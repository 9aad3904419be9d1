"""Pick a Bus backend from a URL: ``memory://`` (the default) or ``redis://host:port/db``."""

from __future__ import annotations

import asyncio

from runwatch.bus.base import Bus
from runwatch.bus.memory import MemoryBus

REDIS_SCHEMES = ("redis", "rediss", "unix")


def bus_from_url(url: str | None) -> Bus:
    """The bus a URL names; ValueError (saying what is accepted) for anything else."""
    if not url:
        return MemoryBus()
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme == "memory":
        return MemoryBus()
    if scheme in REDIS_SCHEMES:
        from runwatch.bus.redis import RedisBus  # imported only when used: redis is heavy

        return RedisBus(url)
    raise ValueError(
        f"unknown bus {url!r}: use memory:// (one server) or redis://HOST:6379/0 "
        "(several replicas; add ?prefix=NAME: to share one Redis between deployments)"
    )


def check_bus(url: str | None) -> None:
    """Fail now, in one line, if the bus URL is malformed or its broker does not answer."""
    bus = bus_from_url(url)

    async def probe() -> None:
        await bus.start()
        await bus.stop()

    asyncio.run(probe())
