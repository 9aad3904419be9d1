"""Proxy tickets: how an embedded TensorBoard's own requests are authorised.

The run page sends its token as a header, but the requests TensorBoard's UI makes inside its
frame cannot carry one. So the page trades its token for a ticket (``POST …/tensorboard/
session``): a random secret the server keeps (as a hash) with the caller's :class:`Principal`,
sent back as an HttpOnly, SameSite=Strict cookie whose path is that run's proxy only. A ticket
lasts :data:`TICKET_SECONDS` (the page renews it with the lease), opens only its own run's
TensorBoard, and dies within the authenticator's watch interval when its token is revoked.
At most :data:`MAX_TICKETS` live at once (the soonest to expire go first).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from dataclasses import dataclass

from runwatch.server.auth import Authenticator, Principal, token_hash
from runwatch.server.tensorboard import LEASE_SECONDS

COOKIE = "runwatch_tb"
TICKET_SECONDS = LEASE_SECONDS
MAX_TICKETS = 1024


@dataclass
class _Ticket:
    run_id: str
    principal: Principal
    expires: float
    revoked: asyncio.Event  # set by the authenticator's sweep once the token is no longer valid
    watch: contextlib.ExitStack  # holds that watch open while the ticket lives


class ProxyTickets:
    """The live tickets of one server process (each replica its own, as its TensorBoards)."""

    def __init__(self) -> None:
        self._tickets: dict[str, _Ticket] = {}

    def issue(
        self, run_id: str, principal: Principal, auth: Authenticator, replaces: str | None = None
    ) -> str:
        """A new ticket for ``principal`` to read ``run_id``'s TensorBoard; ``replaces`` (the
        caller's previous ticket, from its cookie) is dropped."""
        now = time.monotonic()
        self._prune(now)
        if replaces:
            self._drop(token_hash(replaces))
        while len(self._tickets) >= MAX_TICKETS:
            self._drop(min(self._tickets, key=lambda k: self._tickets[k].expires))
        secret = secrets.token_urlsafe(32)
        watch = contextlib.ExitStack()
        revoked = watch.enter_context(auth.watch(principal))
        self._tickets[token_hash(secret)] = _Ticket(
            run_id, principal, now + TICKET_SECONDS, revoked, watch
        )
        return secret

    def principal(self, secret: str, run_id: str) -> Principal | None:
        """Who the ticket speaks for, if it is live, for this run, and its token still valid."""
        digest = token_hash(secret)
        ticket = self._tickets.get(digest)
        if ticket is None or ticket.run_id != run_id:
            return None
        if ticket.expires < time.monotonic() or ticket.revoked.is_set():
            self._drop(digest)
            return None
        return ticket.principal

    def __len__(self) -> int:
        return len(self._tickets)

    def _prune(self, now: float) -> None:
        for digest in [d for d, t in self._tickets.items() if t.expires < now]:
            self._drop(digest)

    def _drop(self, digest: str) -> None:
        ticket = self._tickets.pop(digest, None)
        if ticket is not None:
            ticket.watch.close()
