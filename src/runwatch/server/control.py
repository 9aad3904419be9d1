"""Control routes: heartbeats, commands to the producer (with a long-poll), promotion."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import Annotated, Any

import msgspec
from fastapi import APIRouter, Header, Query, Request
from starlette.responses import Response

from runwatch.bus import run_channel
from runwatch.checksum import sha256_file
from runwatch.protocol import CLOSED_STATUSES, CommandIn, PromoteIn
from runwatch.server.api import (
    ADMIN,
    READ,
    WRITE,
    Cursor,
    decode,
    json_response,
    read_body,
    run_or_404,
    store_of,
)
from runwatch.server.auth import Principal
from runwatch.server.errors import ApiError
from runwatch.server.fanout import Subscriber
from runwatch.server.openapi import refusal
from runwatch.server.run_dirs import known_run_dir
from runwatch.store.base import RunInfo
from runwatch.store.sql.control import MAX_COMMAND_KEYS

router = APIRouter(prefix="/api/v1")
_command_decoder = msgspec.json.Decoder(CommandIn)
_promote_decoder = msgspec.json.Decoder(PromoteIn)
MAX_WAIT = 30.0


@router.post("/runs/{run_id}/heartbeat", dependencies=WRITE)
async def heartbeat(request: Request, run_id: str) -> Response:
    """The producer is alive (a crashed run comes back to running); answers the run's status."""
    await run_or_404(request, run_id)
    run = await store_of(request).heartbeat(run_id)
    return json_response({"status": run.status})


# An idempotency key: a UUID, or any short token of these characters.
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=128,
        pattern=r"^[A-Za-z0-9_.:-]+$",
        description=(
            "One key per intent: a retried POST with the same key is the same command "
            f"(answered 200 as it is now). The newest {MAX_COMMAND_KEYS:,} commands of a run "
            "keep their keys; a retry of an older one is a new command."
        ),
    ),
]


@router.post(
    "/runs/{run_id}/commands",
    status_code=201,
    dependencies=ADMIN,
    openapi_extra={"x-runwatch-body": "CommandIn"},
    responses={
        200: {"description": "A retry: the command this Idempotency-Key made, as it is now."},
        409: refusal(
            "`run_finished`: the run has ended; nothing can be commanded. "
            "`idempotency_key_reused`: the key made a command of another kind or payload."
        ),
    },
)
async def send_command(
    request: Request, run_id: str, idempotency_key: IdempotencyKey = None
) -> Response:
    """Queue a command for the producer (``cancel``, or a user mutation such as ``deprecate``);
    201 with the new command, or 200 with the one an earlier POST with its key made."""
    body = await read_body(request, request.app.state.settings.max_body_bytes)
    cmd: CommandIn = decode(_command_decoder, body, "command")
    store = store_of(request)
    await run_or_404(request, run_id)
    command, created = await store.add_command(run_id, cmd.kind, cmd.payload, idempotency_key)
    return json_response(command, 201 if created else 200)


@router.get("/runs/{run_id}/commands", dependencies=READ)
async def list_commands(request: Request, run_id: str) -> Response:
    """The run's newest 200 commands with their states, newest first."""
    store = store_of(request)
    await run_or_404(request, run_id)
    return json_response({"commands": await store.list_commands(run_id)})


@router.get("/runs/{run_id}/commands/next", dependencies=WRITE)
async def next_commands(
    request: Request,
    run_id: str,
    after: Cursor = 0,
    wait: float = Query(25.0, ge=0, le=MAX_WAIT),
) -> Response:
    """For the producer: commands after ``after`` it has not reported on, waiting up to
    ``wait`` s for one (a long-poll: the producer needs no inbound port). Marks them delivered;
    asking again with the same ``after`` returns them again, so a lost answer loses nothing."""
    store, hub = store_of(request), request.app.state.hub
    stopping: asyncio.Event = request.app.state.stopping
    run = await run_or_404(request, run_id)
    waiter = Subscriber()
    hub.subscribe(run_channel(run_id), waiter)  # before reading: nothing slips in between
    try:
        commands = await store.deliver_commands(run_id, after)
        deadline = asyncio.get_running_loop().time() + wait
        # A crashed run's producer that still asks is alive: it waits for commands as usual.
        while not commands and run.status not in CLOSED_STATUSES:
            remaining = deadline - asyncio.get_running_loop().time()
            # The server is shutting down: answer now (the producer asks again elsewhere).
            if remaining <= 0 or not await _woken(waiter, stopping, remaining):
                break
            texts = [text for _, text in waiter.drain()]
            # A dropped queue or a bus resync may have hidden a command or a status: re-read.
            missed = waiter.overflowed or waiter.stale
            waiter.overflowed = waiter.stale = False
            if missed or any('"type":"command"' in t[:40] for t in texts):
                commands = await store.deliver_commands(run_id, after)
            if missed or any('"type":"status"' in t[:40] for t in texts):
                run = await run_or_404(request, run_id)
    finally:
        hub.unsubscribe(run_channel(run_id), waiter)
    return json_response({"commands": commands, "status": run.status})


async def _woken(waiter: Subscriber, stopping: asyncio.Event, timeout: float) -> bool:
    """Wait for the waiter's next delivery: True when it came, False on timeout or shutdown."""
    woken = asyncio.ensure_future(waiter.wait())
    stop = asyncio.ensure_future(stopping.wait())
    try:
        await asyncio.wait((woken, stop), timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        woken.cancel()
        stop.cancel()
    return woken.done() and not woken.cancelled() and not stopping.is_set()


@router.post(
    "/runs/{run_id}/promote",
    status_code=201,
    dependencies=ADMIN,
    openapi_extra={"x-runwatch-body": "PromoteIn"},
    responses={
        404: refusal(
            "`run_not_found`; `artifact_not_found`: no such file in the run's directory;"
            " `no_run_dir`: the run's directory is not one the server knows on its machine"
            " (launched by it, or holding a `.runwatch-run` file naming the run)."
        ),
        409: refusal("`not_promotable`: only a succeeded run can be promoted."),
    },
)
async def promote(request: Request, run_id: str) -> Response:
    """Promote a succeeded run, recording the SHA-256 of the artifact (a path inside the run
    dir), or of the run's config and final metrics when none is given."""
    body = await read_body(request, request.app.state.settings.max_body_bytes)
    spec: PromoteIn = decode(_promote_decoder, body, "promotion")
    store = store_of(request)
    run = await run_or_404(request, run_id)
    if run.status != "succeeded":
        raise ApiError(
            409, "not_promotable", f"only succeeded runs can be promoted; this run is {run.status}"
        )
    if spec.artifact is None:
        facts = {"config": run.config, "summary": run.summary}
        digest = hashlib.sha256(msgspec.json.encode(facts, order="sorted")).hexdigest()
        detail: dict[str, Any] = {"of": "config+summary"}
    else:
        path = artifact_path(run, spec.artifact, request.app.state.settings.data_dir)
        digest = await asyncio.to_thread(sha256_file, path)
        detail = {"of": "artifact", "size": path.stat().st_size}
    # A run launched from a template: what to launch again to reproduce it.
    detail.update({k: run.snapshot[k] for k in ("template", "params") if k in run.snapshot})
    promoted = await store.promote(run_id, spec.name, spec.artifact, digest, detail)
    return json_response(promoted, 201)


@router.get("/promoted", dependencies=READ)
async def list_promoted(request: Request) -> Response:
    principal: Principal = request.state.principal
    promoted = [p for p in await store_of(request).list_promoted() if principal.sees(p.project)]
    return json_response({"promoted": promoted})


def artifact_path(run: RunInfo, relative: str, data_dir: Path) -> Path:
    """A file inside the run's directory as the server knows it (:func:`known_run_dir`: never
    a directory a producer merely reports, such as ``/etc``); anything that escapes it (``..``,
    an absolute path, a symlink out) is refused as not found."""
    root = known_run_dir(run, data_dir)
    if root is None:
        raise ApiError(
            404, "no_run_dir", "this run's directory is not on the server's machine", "$.artifact"
        )
    path = (root / relative).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        raise ApiError(
            404, "artifact_not_found", f"no file {relative!r} in the run directory", "$.artifact"
        )
    return path
