"""The routes archives need beyond the page API: a key's raw points with wall times, paged (for
``runwatch export``), and an imported run's archived times and commands (for ``runwatch
import``)."""

from __future__ import annotations

import msgspec
from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from runwatch.protocol import ArchivedCommands, RunTimes
from runwatch.server.api import (
    ADMIN,
    READ,
    Cursor,
    decode,
    json_response,
    read_body,
    run_or_404,
    store_of,
)
from runwatch.server.openapi import refusal

router = APIRouter(prefix="/api/v1")
MAX_RAW_PAGE = 100_000
_times_decoder = msgspec.json.Decoder(RunTimes)
_commands_decoder = msgspec.json.Decoder(ArchivedCommands)


@router.get("/runs/{run_id}/raw/{key:path}", dependencies=READ)
async def raw_points(
    request: Request,
    run_id: str,
    key: str,
    after: Cursor = 0,
    limit: int = Query(20_000, ge=1, le=MAX_RAW_PAGE),
) -> Response:
    """Every raw point of ``key`` as ``[step, wall time, value]`` in the order it was stored,
    a page at a time: pass ``next`` back as ``after`` until it is 0 (``runwatch export``)."""
    await run_or_404(request, run_id)
    points, cursor = await store_of(request).raw_points(run_id, key, after, limit)
    return json_response({"key": key, "points": points, "next": cursor})


@router.put(
    "/runs/{run_id}/times", dependencies=ADMIN, openapi_extra={"x-runwatch-body": "RunTimes"}
)
async def restore_times(request: Request, run_id: str) -> Response:
    """Set an imported run's creation and start times to its archive's (``runwatch import``)."""
    body = await read_body(request, request.app.state.settings.max_body_bytes)
    times: RunTimes = decode(_times_decoder, body, "times")
    await run_or_404(request, run_id)
    run = await store_of(request).restore_times(run_id, times.created_at, times.started_at)
    return json_response(run)


@router.put(
    "/runs/{run_id}/commands",
    dependencies=ADMIN,
    openapi_extra={"x-runwatch-body": "ArchivedCommands"},
    responses={409: refusal("`commands_exist`: the run has commands: an import never mixes.")},
)
async def restore_commands(request: Request, run_id: str) -> Response:
    """Give an imported run its archive's commands: who asked what, when, and what came of it
    (``runwatch import``)."""
    body = await read_body(request, request.app.state.settings.max_body_bytes)
    archived: ArchivedCommands = decode(_commands_decoder, body, "commands")
    await run_or_404(request, run_id)
    commands = await store_of(request).restore_commands(run_id, archived.commands)
    return json_response({"commands": commands})
