"""The read route archives need beyond the page API: a key's raw points with wall times, paged."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from runwatch.server.api import READ, json_response, run_or_404, store_of

router = APIRouter(prefix="/api/v1", dependencies=READ)
MAX_RAW_PAGE = 100_000


@router.get("/runs/{run_id}/raw/{key:path}")
async def raw_points(
    request: Request,
    run_id: str,
    key: str,
    after: int = Query(0, ge=0),
    limit: int = Query(20_000, ge=1, le=MAX_RAW_PAGE),
) -> Response:
    """Every raw point of ``key`` as ``[step, wall time, value]`` in the order it was stored,
    a page at a time: pass ``next`` back as ``after`` until it is 0 (``runwatch export``)."""
    await run_or_404(request, run_id)
    points, cursor = await store_of(request).raw_points(run_id, key, after, limit)
    return json_response({"key": key, "points": points, "next": cursor})
