"""Run a coroutine to completion from sync test code, on its own thread and event loop.

(Playwright's sync API keeps an event loop running on the main thread once the browser tests
have started, and ``asyncio.run`` refuses to nest in it.)
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()
