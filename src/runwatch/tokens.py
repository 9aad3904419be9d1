"""``runwatch token create | list | revoke``: API tokens, kept as hashes in the server's store."""

from __future__ import annotations

import asyncio
import concurrent.futures
import re
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from runwatch.server.auth import SCOPES, new_token, token_hash
from runwatch.store.base import Store, TokenInfo
from runwatch.store.factory import open_store

T = TypeVar("T")
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


def parse_duration(text: str) -> float:
    """``30d``, ``12h``, ``90m``, ``3600s``, ``2w`` → seconds."""
    match = _DURATION.match(text.strip())
    if not match:
        raise ValueError(f"not a duration: {text!r} (use e.g. 30d, 12h, 90m)")
    return float(match.group(1)) * _SECONDS[match.group(2)]


def with_store(data: Path | str, work: Callable[[Store], Awaitable[T]]) -> T:
    """Open the store (a data dir or a store URL), run ``work`` against it, close it.

    Runs on its own thread and event loop, so it may be called from code that already runs
    one (a notebook, a test driving a browser).
    """

    async def run() -> T:
        store = open_store(data)
        await store.open()
        try:
            return await work(store)
        finally:
            await store.close()

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(run())).result()


def create(
    data: Path | str, scope: str, project: str | None, expires: str | None, name: str | None
) -> tuple[str, TokenInfo]:
    """A new token (shown once) and what is stored of it."""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}: use one of {', '.join(SCOPES)}")
    expires_at = time.time() + parse_duration(expires) if expires else None
    token = new_token()
    info = with_store(
        data,
        lambda s: s.add_token(token_hash(token), token[:10], name, scope, project, expires_at),
    )
    return token, info


def auth_configured(data: Path | str, bootstrap: str | None) -> bool:
    """Whether the server will require tokens: a bootstrap token, or any live one stored."""
    return bootstrap is not None or with_store(data, lambda s: s.count_tokens()) > 0


def tokens_created(data: Path | str) -> bool:
    """Whether the store ever held a token, live or not (then the server never opens up)."""
    return with_store(data, lambda s: s.tokens_created())
