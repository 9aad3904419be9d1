"""Routes for a run's sticky state: entity histories, snapshot history, tables, point sets."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from runwatch.protocol import INT64_MAX
from runwatch.server.api import ADMIN, READ, Cursor, json_response, run_or_404, store_of
from runwatch.server.errors import ApiError
from runwatch.server.media import with_url
from runwatch.server.openapi import refusal
from runwatch.server.run_dirs import known_run_dir
from runwatch.server.tensorboard import LEASE_SECONDS, MAX_PROCESSES

router = APIRouter(prefix="/api/v1")
MAX_ENTITY_EVENTS = 5_000
MAX_ENTITY_KEYS = 1_000
MAX_LOG_LINES = 10_000
MAX_LOG_QUERY = 1_000  # characters of a log search; a line holds at most 16,384


@router.get("/runs/{run_id}/entities/{entity:path}/events", dependencies=READ)
async def entity_events(
    request: Request, run_id: str, entity: str, limit: int = Query(1000, ge=1, le=MAX_ENTITY_EVENTS)
) -> Response:
    """Every event of one entity (birth, merge, split, deprecate, …), oldest first."""
    await run_or_404(request, run_id)
    events = await store_of(request).entity_events(run_id, entity, limit)
    return json_response({"entity": entity, "events": events})


@router.get("/runs/{run_id}/entities/{entity:path}/media", dependencies=READ)
async def entity_media(
    request: Request,
    run_id: str,
    entity: str,
    limit: int = Query(200, ge=1, le=MAX_ENTITY_KEYS),
) -> Response:
    """What shows one entity: the image keys and snapshot keys naming it (``entity=`` when
    logged), in key order, at most ``limit`` of each; each image key with its newest item
    (with its blob ``url``, as ``…/media`` answers it)."""
    await run_or_404(request, run_id)
    found = await store_of(request).entity_media(run_id, entity, limit)
    for image in found["images"]:
        image["newest"] = with_url(run_id, image["newest"])
    return json_response({"entity": entity, **found})


@router.get("/runs/{run_id}/snapshots/{key:path}", dependencies=READ)
async def snapshot_history(
    request: Request, run_id: str, key: str, at: int | None = Query(None, ge=1, le=INT64_MAX)
) -> Response:
    """The kept versions of a key; with ``at=VERSION`` (or ``at`` omitted and ``latest``) a value."""
    await run_or_404(request, run_id)
    store = store_of(request)
    versions = await store.snapshot_versions(run_id, key)
    if not versions:
        raise ApiError(404, "snapshot_not_found", f"no snapshot key {key!r}", "key")
    try:
        value = await store.snapshot_value(run_id, key, at)
    except KeyError:
        raise ApiError(
            404, "snapshot_not_found", f"no kept version {at} of {key!r}", "at"
        ) from None
    return json_response({"key": key, "versions": versions, "current": value})


async def _sticky(
    request: Request, run_id: str, kind: Literal["tables", "point_sets"], name: str
) -> Response:
    await run_or_404(request, run_id)
    found = (await store_of(request).sticky(run_id, kind)).get(name)
    if found is None:
        what = "table" if kind == "tables" else "point set"
        raise ApiError(404, f"{what.replace(' ', '_')}_not_found", f"no {what} {name!r}", "name")
    return json_response({"name": name, **found})


@router.get("/runs/{run_id}/logs", dependencies=READ)
async def logs(
    request: Request,
    run_id: str,
    after: Cursor = 0,
    stream: Literal["stdout", "stderr"] | None = None,
    limit: int = Query(1000, ge=1, le=MAX_LOG_LINES),
    q: str | None = Query(
        None,
        min_length=1,
        max_length=MAX_LOG_QUERY,
        description="only lines holding this text (ASCII letters in either case; `%`, `_` "
        "and `\\` are literal)",
    ),
    before: int | None = Query(
        None,
        ge=1,
        le=INT64_MAX,
        description="the newest `limit` lines numbered under this one (still oldest first)",
    ),
) -> Response:
    """Captured stdout/stderr lines after line number ``after`` (the newest 100,000 are kept),
    of one ``stream`` and holding ``q`` when given; page on with ``after=next_after``, or back
    with ``before=`` the first line's number."""
    await run_or_404(request, run_id)
    lines = await store_of(request).logs(run_id, after, stream, limit, q, before)
    return json_response({"lines": lines, "next_after": lines[-1]["line"] if lines else after})


@router.get("/runs/{run_id}/artifacts", dependencies=READ)
async def artifacts(request: Request, run_id: str) -> Response:
    """The run's artifact manifest: TensorBoard files, W&B runs (config, summary), checkpoints
    (with SHA-256) and worker-listed files, as the launcher last scanned them."""
    await run_or_404(request, run_id)
    return json_response({"artifacts": await store_of(request).artifacts(run_id)})


@router.post(
    "/runs/{run_id}/tensorboard",
    dependencies=ADMIN,
    responses={
        429: refusal(
            f"`too_many_tensorboards`: {MAX_PROCESSES} TensorBoards are running (each on a "
            f"{LEASE_SECONDS:.0f} s lease); stop one first."
        )
    },
)
async def start_tensorboard(request: Request, run_id: str) -> Response:
    """Start (or keep alive: call again within a minute) a TensorBoard over the run's dir: one
    the server knows (its own launch's, or one its launcher registered), never a claimed path."""
    run = await run_or_404(request, run_id)
    logdir = known_run_dir(run, request.app.state.settings.data_dir)
    if logdir is None:
        raise ApiError(
            404, "no_run_dir", "this run's directory is not on the server's machine", "run"
        )
    return json_response(await request.app.state.tensorboards.start(run_id, logdir))


@router.delete("/runs/{run_id}/tensorboard", dependencies=ADMIN)
async def stop_tensorboard(request: Request, run_id: str) -> Response:
    await run_or_404(request, run_id)
    return json_response({"stopped": await request.app.state.tensorboards.stop(run_id)})


@router.get("/runs/{run_id}/tables/{name}", dependencies=READ)
async def table(request: Request, run_id: str, name: str) -> Response:
    """A table's latest rows (replace) or its newest ``max_rows`` rows (append)."""
    return await _sticky(request, run_id, "tables", name)


@router.get("/runs/{run_id}/points/{name}", dependencies=READ)
async def point_set(request: Request, run_id: str, name: str) -> Response:
    """A point set's latest points (at most its cap)."""
    return await _sticky(request, run_id, "point_sets", name)
