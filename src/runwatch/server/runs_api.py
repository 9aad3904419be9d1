"""Routes over many runs: pages of a query (``GET /runs``), groups by a field, the fields the
runs have (for a runs table's column picker), and many runs' curves of a metric. The query
language: docs/runs-query.md."""

from __future__ import annotations

import base64
from typing import Annotated, Any, Literal

import msgspec
from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from runwatch.protocol import RunStatus
from runwatch.runs_query import QueryError, field_name, parse, parse_sort
from runwatch.runs_query.absent import absent_fields
from runwatch.runs_query.nodes import Field, JsonPath
from runwatch.runs_query.parser import MAX_LENGTH as MAX_QUERY_LENGTH
from runwatch.server.api import READ, json_response, store_of
from runwatch.server.auth import Principal, check_project
from runwatch.server.errors import ApiError
from runwatch.server.openapi import refusal
from runwatch.store.base import RunInfo, RunsKey, RunsQuery

router = APIRouter(prefix="/api/v1")
MAX_RUNS_PAGE = 1000
MAX_GROUPS = 1000
MAX_GROUP_VALUES = 16  # fields summarised per group
FIELDS_SAMPLE = 1000  # the newest matching runs whose fields are listed
MAX_FIELD_DEPTH = 4  # config keys nested deeper are listed as their object
MAX_FIELDS = 2000  # fields listed per document
MAX_CURVE_RUNS = 100  # runs per /run-curves request
MAX_CURVE_POINTS = 1000  # points (or buckets) per curve

QueryText = Annotated[str | None, Query(max_length=MAX_QUERY_LENGTH)]
FieldText = Annotated[str, Query(min_length=1, max_length=300)]
BAD_QUERY = refusal(
    "`invalid_query` (`field`: `q`; the message points at the column) or another named "
    "parameter that is not a field (`invalid_sort`, `invalid_field`), or `invalid_request` "
    "(`field`: e.g. `query.status`, not a run status)."
)


def _query(request: Request, q: str | None, project: str | None, **options: Any) -> RunsQuery:
    """The runs a request may see that match its filters: a project-limited token sees its
    project only."""
    principal: Principal = request.state.principal
    if principal.project is not None:
        check_project(request, project or principal.project)
        project = principal.project
    try:
        where = parse(q) if q and q.strip() else None  # an empty box: every run
    except QueryError as exc:
        raise ApiError(400, "invalid_query", str(exc), "q") from None
    return RunsQuery(where=where, project=project, **options)


def _field(text: str, parameter: str, code: str = "invalid_field") -> tuple[Field, bool]:
    try:
        return parse_sort(text)
    except QueryError as exc:
        raise ApiError(400, code, str(exc), parameter) from None


@router.get(
    "/runs",
    dependencies=READ,
    responses={
        400: refusal(
            "`invalid_query` (`field`: `q`, the message points at the column), `invalid_sort` "
            "(`sort`), `invalid_cursor` (`cursor`: not one this list gave for this sort) or "
            "`invalid_request` (`field`: e.g. `query.status`, not a run status)."
        )
    },
)
async def list_runs(
    request: Request,
    project: str | None = None,
    status: RunStatus | None = None,
    tag: str | None = None,
    q: QueryText = None,
    sort: FieldText = "-created",
    limit: Annotated[int, Query(ge=1, le=MAX_RUNS_PAGE)] = MAX_RUNS_PAGE,
    cursor: Annotated[str | None, Query(max_length=2000)] = None,
) -> Response:
    """A page of at most 1,000 runs (``limit``) matching ``project``, ``status``, ``tag``
    and the query ``q`` (docs/runs-query.md), sorted by ``sort`` (a field; ``-`` first for
    descending; runs without the value come last; ties by id), with ``total`` matching runs,
    the ``cursor`` of the next page (null on the last) and ``newest``, the newest matching
    run's ``created_at`` (null when none matches). Pages are keyset pages: runs created
    meanwhile never shift them. When none matches, ``absent`` lists the fields ``q`` names
    that none of the newest 1,000 runs of the other filters has, each with the field most
    like it (``like``): a typo, most likely."""
    field, descending = _field(sort, "sort", "invalid_sort")
    after = _after(cursor, sort)
    query = _query(request, q, project, status=status, tag=tag, sort=field,
                   descending=descending, limit=limit, after=after)  # fmt: skip
    store = store_of(request)
    page = await store.query_runs(query)
    absent: list[dict[str, str | None]] = []
    if page.total == 0 and query.where is not None:  # why none: a field no run has?
        sample = _query(request, None, project, status=status, tag=tag, limit=FIELDS_SAMPLE)
        config, summary = _fields((await store.query_runs(sample)).runs)
        absent = absent_fields(query.where, config.keys() | summary.keys())
    return json_response(
        {
            "runs": page.runs,
            "total": page.total,
            "cursor": _cursor(page.after, sort),
            "newest": page.newest,
            "absent": absent,
        }
    )


@router.get("/run-groups", dependencies=READ, responses={400: BAD_QUERY})
async def group_runs(
    request: Request,
    by: FieldText,
    values: Annotated[list[str], Query(max_length=MAX_GROUP_VALUES)] = [],  # noqa: B006
    project: str | None = None,
    status: RunStatus | None = None,
    tag: str | None = None,
    q: QueryText = None,
    limit: Annotated[int, Query(ge=1, le=MAX_GROUPS)] = 100,
) -> Response:
    """The matching runs grouped by the value of ``by`` (a field, e.g. ``config.opt``; the
    runs without one form the group ``null``), largest group first: per group the number of
    runs and, per field of ``values`` (e.g. ``summary.acc``; up to 16), the count, mean,
    population standard deviation, min and max of its numbers. At most ``limit`` groups;
    ``more`` says whether there are others (smaller ones)."""
    group_by, _ = _field(by, "by")
    fields = [_field(v, "values")[0] for v in values]
    # One group past the limit says whether others exist (the store keeps no count of them).
    query = _query(request, q, project, status=status, tag=tag, limit=limit + 1)
    groups = await store_of(request).group_runs(query, group_by, fields)
    return json_response(
        {"by": field_name(group_by), "groups": groups[:limit], "more": len(groups) > limit}
    )


@router.get("/run-fields", dependencies=READ, responses={400: BAD_QUERY})
async def run_fields(
    request: Request,
    project: str | None = None,
    status: RunStatus | None = None,
    tag: str | None = None,
    q: QueryText = None,
) -> Response:
    """The config and summary fields of the newest 1,000 matching runs, as a query names
    them (``config.optim.lr``, ``summary["train/loss"]``), each with how many of those runs
    have it: what a runs table offers as columns. Config objects are walked 4 levels deep;
    at most 2,000 fields per document."""
    query = _query(request, q, project, status=status, tag=tag, limit=FIELDS_SAMPLE)
    page = await store_of(request).query_runs(query)
    config, summary = _fields(page.runs)
    return json_response({"runs": len(page.runs), "config": config, "summary": summary})


def _fields(runs: list[RunInfo]) -> tuple[dict[str, int], dict[str, int]]:
    """The config and summary fields of ``runs``, each with how many of them have it."""
    config: dict[str, int] = {}
    summary: dict[str, int] = {}
    for run in runs:
        _count_leaves("config", run.config, (), config)
        _count_leaves("summary", run.summary, (), summary, depth=1)
    return config, summary


@router.get(
    "/run-curves",
    dependencies=READ,
    responses={
        400: refusal(
            "`invalid_request` (`field`: `query.ids` for more than 100 run ids, or the"
            " parameter out of bounds, e.g. `query.max_points`)."
        )
    },
)
async def run_curves(
    request: Request,
    key: Annotated[str, Query(min_length=1, max_length=1000)],
    ids: Annotated[str, Query(max_length=MAX_CURVE_RUNS * 65)],
    max_points: Annotated[int, Query(ge=1, le=MAX_CURVE_POINTS)] = 200,
) -> Response:
    """Each run's curve of the metric ``key`` for the runs ``ids`` (comma-separated, at most
    100): its whole series by step, raw (``x``, ``value``) when at most ``max_points``, else
    that many buckets (``x``, ``mean``), as ``GET /runs/{id}/metrics`` answers it, for a chart
    of many runs in one request. Runs that do not exist (or were deleted), are out of the
    token's project, or never logged ``key`` are left out of ``series``."""
    run_ids = [i for i in ids.split(",") if i]
    if len(run_ids) > MAX_CURVE_RUNS:
        raise ApiError(
            400, "invalid_request", f"at most {MAX_CURVE_RUNS} run ids a request", "query.ids"
        )
    principal: Principal = request.state.principal
    series = await store_of(request).curves(run_ids, key, max_points, principal.project)
    return json_response({"key": key, "series": series})


def _count_leaves(
    doc: Literal["config", "summary"],
    value: dict[str, Any],
    path: tuple[str, ...],
    into: dict[str, int],
    depth: int = MAX_FIELD_DEPTH,
) -> None:
    for key, item in value.items():
        if any(c in '"\\' or ord(c) < 0x20 for c in key):
            continue  # a key no query can name
        here = (*path, key)
        if isinstance(item, dict) and item and len(here) < depth:
            _count_leaves(doc, item, here, into, depth)
            continue
        name = field_name(JsonPath(doc, here))
        if name in into or len(into) < MAX_FIELDS:
            into[name] = into.get(name, 0) + 1


def _cursor(after: RunsKey | None, sort: str) -> str | None:
    """The opaque cursor of the next page: its key and the sort it belongs to."""
    if after is None:
        return None
    return base64.urlsafe_b64encode(msgspec.json.encode([sort, *after])).decode()


def _after(cursor: str | None, sort: str) -> RunsKey | None:
    if not cursor:
        return None
    try:
        sort_of, rank, number, text, run_id = msgspec.json.decode(base64.urlsafe_b64decode(cursor))
        key: RunsKey = msgspec.convert((rank, number, text, run_id), RunsKey)
    except (ValueError, TypeError):  # bad base64, JSON, shape or types
        raise ApiError(
            400, "invalid_cursor", "the cursor is not one this list gave", "cursor"
        ) from None
    if sort_of != sort:
        raise ApiError(400, "invalid_cursor", f"the cursor belongs to sort={sort_of!r}", "cursor")
    return key
