"""REST routes: runs, projects, ingest, metrics, events and the hydration state of a run page."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

import msgspec
from fastapi import APIRouter, Depends, Header, Query, Request
from starlette.requests import HTTPConnection
from starlette.responses import Response

from runwatch.protocol import INT64_MAX, PRODUCER_GONE, Batch, Retention, RunCreate, RunPatch
from runwatch.server.auth import Authenticator, Principal, Whoami, check_project, need
from runwatch.server.errors import ApiError, error_text, field_of, malformed
from runwatch.server.jsonbody import MAX_DEPTH, integral_floats_as_ints, too_deep
from runwatch.server.openapi import refusal
from runwatch.server.ratelimit import RateLimiter
from runwatch.store.base import RunInfo, Store
from runwatch.store.prepare import Limits, PreparedBatch, check_run, prepare_batch


def nul_field(conn: HTTPConnection) -> str | None:
    """The first path or query parameter with a NUL in it (``path.run_id``), else None.
    PostgreSQL's TEXT cannot hold a NUL, so no name or id has one: refusing them up front
    makes both stores answer alike."""
    params = [(f"path.{k}", v) for k, v in conn.path_params.items()]
    params += [(f"query.{k}", v) for k, v in conn.query_params.multi_items()]
    return next((field for field, value in params if "\x00" in value), None)


async def no_nul(conn: HTTPConnection) -> None:
    """400 for a NUL in a path or query parameter (:func:`nul_field`). Async though it never
    awaits: FastAPI runs a plain ``def`` dependency in its thread pool, a hand-off that cost
    every API request 0.1-0.2 ms of server CPU (measured: GET whoami, 2-core host)."""
    field = nul_field(conn)
    if field is not None:
        raise ApiError(400, "invalid_request", "a parameter may not contain NUL", field)


router = APIRouter(prefix="/api/v1")
# whoami: any valid token may ask what it may do, a write token too (which reads nothing else).
ANY_TOKEN = [Depends(need("any")), Depends(no_nul)]
READ = [Depends(need("read")), Depends(no_nul)]
WRITE = [Depends(need("write")), Depends(no_nul)]
ADMIN = [Depends(need("admin")), Depends(no_nul)]
_batch_decoder = msgspec.json.Decoder(Batch)
_run_decoder = msgspec.json.Decoder(RunCreate)
_patch_decoder = msgspec.json.Decoder(RunPatch)
_retention_decoder = msgspec.json.Decoder(Retention)
MAX_EVENTS_PAGE = 1000
MAX_POINTS = 20_000
MAX_SPARKLINE = 5_000
OFFLOAD_BYTES = 256 * 1024
# A seq or line number to read after: 64 bits, as the stores keep them.
Cursor = Annotated[int, Query(ge=0, le=INT64_MAX)]
# A bound on steps or wall times: finite (nothing in a store compares with infinity or NaN).
Bound = Annotated[float | None, Query(allow_inf_nan=False)]


def json_response(content: Any, status: int = 200) -> Response:
    return Response(msgspec.json.encode(content), status_code=status, media_type="application/json")


def store_of(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


async def run_or_404(request: Request, run_id: str) -> RunInfo:
    """The run, if it exists and the caller's token may see its project; 404 ``run_deleted``
    for a run that was deleted (a producer that speaks for it then stops)."""
    store = store_of(request)
    run = await store.get_run(run_id)
    if run is None:
        deleted = await store.deleted_project(run_id)
        if deleted is None:
            raise ApiError(404, "run_not_found", f"no run with id {run_id!r}", "run")
        check_project(request, deleted)
        raise ApiError(404, "run_deleted", f"run {run_id!r} was deleted", "run")
    check_project(request, run.project)
    return run


def _client(request: Request) -> str:
    return f"client:{request.client.host if request.client else '?'}"


def _principal(request: Request) -> Principal:
    principal: Principal = request.state.principal
    return principal


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it passes ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, "body_too_large", f"request body over the {limit}-byte limit")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "body_too_large", f"request body over the {limit}-byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


def decode(decoder: msgspec.json.Decoder[Any], body: bytes, what: str) -> Any:
    """Decode and validate a body; a malformed one is a 400 that names the field."""
    if too_deep(body):
        raise ApiError(400, "too_deep", f"the body nests more than {MAX_DEPTH} levels deep", "$")
    try:
        return decoder.decode(body)
    except msgspec.ValidationError as exc:
        if "got `float`" not in str(exc):
            raise ApiError(
                400, f"invalid_{what}", error_text(exc, body), field_of(exc, body)
            ) from None
    except msgspec.DecodeError as exc:
        raise malformed(exc, body) from None
    except RecursionError:  # not JSON, so too_deep passed it: still too deep to decode
        raise ApiError(400, "too_deep", "the body nests too deep to decode", "$") from None
    # An integer written as ``5.0`` is an integer to JSON Schema (and so to the OpenAPI
    # document): read it as one. Only this rare path pays for the second decode.
    try:
        whole = integral_floats_as_ints(msgspec.json.decode(body))
        return decoder.decode(msgspec.json.encode(whole))
    except msgspec.ValidationError as exc:
        raise ApiError(400, f"invalid_{what}", error_text(exc, body), field_of(exc, body)) from None


@router.get(
    "/whoami",
    dependencies=ANY_TOKEN,
    responses={
        200: {
            "description": "The caller's scope, project and the server's auth mode.",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Whoami"}}},
        },
        403: refusal(
            "Never for a valid token, whatever its scope or project (a `write` token may ask "
            "too). `bad_host`: a loopback-bound server asked by a name that is not loopback."
        ),
    },
)
async def whoami(request: Request) -> Response:
    """What the caller's token may do: its ``scope``, the one ``project`` it is limited to
    (null: every project), and ``auth``: ``open`` (no token needed: everything is allowed, so
    the scope is ``admin``) or ``tokens``. Any valid token may ask, whatever its scope. Pages
    ask once, to offer only what the token may do."""
    principal = _principal(request)
    auth: Authenticator = request.app.state.auth
    mode: Literal["open", "tokens"] = "open" if await auth.mode() == "open" else "tokens"
    return json_response(Whoami(principal.scope, principal.project, mode))


@router.get("/projects", dependencies=READ)
async def list_projects(request: Request) -> Response:
    projects = await store_of(request).list_projects()
    visible = [p for p in projects if _principal(request).sees(p.name)]
    return json_response({"projects": visible})


@router.get("/projects/{project}/retention", dependencies=READ)
async def get_retention(request: Request, project: str) -> Response:
    check_project(request, project)
    return json_response(await store_of(request).get_retention(project))


@router.put(
    "/projects/{project}/retention",
    dependencies=ADMIN,
    openapi_extra={"x-runwatch-body": "Retention"},
)
async def set_retention(request: Request, project: str) -> Response:
    """Keep raw points for N steps and/or days (the pyramid keeps aggregates); applied now."""
    body = await read_body(request, request.app.state.settings.max_body_bytes)
    check_project(request, project)
    retention: Retention = decode(_retention_decoder, body, "retention")
    dropped = await store_of(request).set_retention(project, retention)
    return json_response({"retention": retention, "dropped_chunks": dropped})


@router.post(
    "/runs",
    status_code=201,
    dependencies=WRITE,
    openapi_extra={"x-runwatch-body": "RunCreate"},
    responses={
        409: refusal(
            "`run_exists`: the chosen `id` is a run of another project. `sweep_stopped`: the "
            "`id` is a trial of a stopped sweep that had not started (it reads as `cancelled`). "
            "`claim_expired`: the `id` is a trial whose claim expired before its run was created"
            " and whose configuration was handed out again (the retry runs it)."
        ),
        422: refusal(
            "`started_in_future`: `started_at` is more than 60 s ahead of the server's clock "
            "(the SDK then creates the run without it). `limit_exceeded`: `config` or "
            "`snapshot` is past its limit."
        ),
    },
)
async def create_run(request: Request) -> Response:
    """Create a run, or return the existing one of this ``id``; either way with ``last_step``:
    the largest step of its metric points other than ``sys/*`` (null when none), where a
    producer attaching to it goes on from."""
    body = await read_body(request, request.app.state.settings.max_body_bytes)
    spec: RunCreate = decode(_run_decoder, body, "run")
    check_run(spec, request.app.state.settings.limits)
    check_project(request, spec.project)
    store = store_of(request)
    run = await store.create_run(spec)
    last = await store.last_step(run.id)
    return json_response({**msgspec.structs.asdict(run), "last_step": last}, 201)


@router.get("/runs/{run_id}", dependencies=READ)
async def get_run(request: Request, run_id: str) -> Response:
    return json_response(await run_or_404(request, run_id))


@router.patch(
    "/runs/{run_id}",
    dependencies=WRITE,
    openapi_extra={"x-runwatch-body": "RunPatch"},
    responses={
        400: refusal(
            "`invalid_run`: a field out of its bounds (`field`: `$.name`, `$.tags[3]`: too long,"
            " or holding a NUL), or an unknown field."
        ),
        404: refusal("`run_not_found`: no run has this id. `run_deleted`: the run was deleted."),
    },
)
async def update_run(request: Request, run_id: str) -> Response:
    """Rename a run and/or replace its tags, whatever its status (a finished run too); an
    empty ``name`` gives it back its default name. Open run pages and runs lists show the
    change at once, and runs queries (``"x" in tags``, ``name ~ …``) see it. A body naming
    neither changes nothing, and answers the run as it is."""
    body = await read_body(request, request.app.state.settings.max_body_bytes)
    patch: RunPatch = decode(_patch_decoder, body, "run")
    run = await run_or_404(request, run_id)  # a token limited to another project changes nothing
    if patch.name is None and patch.tags is None:
        return json_response(run)
    return json_response(await store_of(request).update_run(run_id, patch))


@router.post(
    "/runs/{run_id}/batches",
    dependencies=WRITE,
    openapi_extra={"x-runwatch-body": "Batch"},
    responses={
        409: refusal(
            "`run_finished`: the run has ended; it takes no more data. `blob_missing`: a "
            "`media` record names a blob the server does not have (`field`: "
            "`$.media[i].sha256`): upload it (`PUT /api/v1/runs/{run}/blobs/{sha256}`), then "
            "send the batch again."
        ),
        422: refusal(
            "`limit_exceeded`: the batch is past one of its limits (the Batch schema's "
            "`x-runwatch-limits`); the message names the limit, `field` where it is passed."
        ),
        429: refusal("`rate_limited`: over `--ingest-rate`; retry after `Retry-After` seconds."),
        503: refusal(
            "`store_busy` / `store_unavailable`: the store's write queue is full or "
            "it cannot write now; retry (the SDK does, with backoff)."
        ),
    },
)
async def ingest_batch(
    request: Request,
    run_id: str,
    producer_gone: Annotated[
        bool,
        Header(
            alias=PRODUCER_GONE,
            description=(
                "`true`: the batch's producer is gone (`runwatch sync` of a dead process's "
                "spool). Its records are stored, but it is no sign of life: a crashed run stays "
                "crashed (no `heartbeat.resumed`, `ended_at` kept) and a running run's heartbeat "
                "time is not renewed. A final status in the batch still applies, at its own time."
            ),
        ),
    ] = False,
) -> Response:
    """Store one batch; answered only after it is committed. A retried batch is stored once."""
    limiter: RateLimiter | None = request.app.state.ingest_limiter
    if limiter is not None:
        principal = _principal(request)
        caller = f"token:{principal.token_id}" if principal.token_id else _client(request)
        wait = limiter.retry_after(caller)
        if wait is not None:
            message = f"over the ingest rate limit ({limiter.rate:g} batches/s); retry in {wait} s"
            raise ApiError(429, "rate_limited", message, headers={"Retry-After": str(wait)})
    body = await read_body(request, request.app.state.settings.max_body_bytes)
    limits = request.app.state.settings.limits
    if (
        len(body) > OFFLOAD_BYTES
    ):  # a big batch: decode it off the event loop, so live fan-out goes on
        prepared = await asyncio.to_thread(_prepare, body, limits)
    else:
        prepared = _prepare(body, limits)
    if _principal(request).project is not None:
        await run_or_404(request, run_id)
    ack = await store_of(request).ingest(run_id, prepared, alive=not producer_gone)
    return json_response(ack)


def _prepare(body: bytes, limits: Limits) -> PreparedBatch:
    batch: Batch = decode(_batch_decoder, body, "batch")
    return prepare_batch(batch, limits)


# A metric key may hold a comma: ``key`` (repeated) names keys exactly, ``keys`` is the short
# comma-separated form for keys without one. At most 64 (a run's vitals), as pages ask: a few
# dozen keys keep an address well within what the HTTP server reads (16 KiB).
MAX_KEYS_ASKED = 64
Keys = Annotated[
    list[str],
    Query(
        max_length=MAX_KEYS_ASKED,
        description="A key, exactly (repeat for more, up to 64); `keys=a,b` names keys"
        " without commas.",
    ),
]


def key_names(keys: str | None, key: list[str]) -> list[str]:
    """The keys asked for by ``keys`` (comma-separated) and ``key`` (each exact), in order, once
    each; none: every key."""
    names = [k for k in keys.split(",") if k] if keys else []
    return list(dict.fromkeys([*names, *(k for k in key if k)]))


@router.get("/runs/{run_id}/metrics", dependencies=READ)
async def get_metrics(
    request: Request,
    run_id: str,
    keys: str | None = None,
    key: Keys = [],  # noqa: B006 - FastAPI copies a default
    start: Bound = None,
    end: Bound = None,
    max_points: int = Query(1000, ge=1, le=MAX_POINTS),
    x: Literal["step", "time"] = "step",
) -> Response:
    """Per key, raw points when at most ``max_points`` fall in range, else that many buckets."""
    store = store_of(request)
    await run_or_404(request, run_id)
    names = key_names(keys, key) or await store.metric_keys(run_id)
    result = await store.metrics(run_id, names, start, end, max_points, x)
    return json_response({"run": run_id, "x": x, "seq": result.seq, "series": result.series})


@router.get("/runs/{run_id}/sparklines", dependencies=READ)
async def get_sparklines(
    request: Request,
    run_id: str,
    keys: str | None = None,
    key: Keys = [],  # noqa: B006 - FastAPI copies a default
    n: int = Query(120, ge=1, le=MAX_SPARKLINE),
) -> Response:
    """The last ``n`` raw points of each key (all keys by default): cheap, for vitals bars."""
    store = store_of(request)
    await run_or_404(request, run_id)
    names = key_names(keys, key) or await store.metric_keys(run_id)
    return json_response({"run": run_id, "series": await store.tails(run_id, names, n)})


@router.get("/runs/{run_id}/events", dependencies=READ)
async def get_events(
    request: Request,
    run_id: str,
    after: Cursor = 0,
    limit: int = Query(100, ge=1, le=MAX_EVENTS_PAGE),
    kind: str | None = None,
    newest_first: bool = False,
) -> Response:
    """Events with seq > ``after``, oldest first (``newest_first``: the newest ``limit`` of them,
    newest first, as a page's feed filtered by ``kind`` shows them)."""
    store = store_of(request)
    await run_or_404(request, run_id)
    events = await store.events(run_id, after, limit, kind, newest_first)
    last = max((e.seq for e in events), default=after)
    return json_response({"events": events, "next_after": last})


@router.get("/runs/{run_id}/state", dependencies=READ)
async def get_state(request: Request, run_id: str) -> Response:
    """Everything a run page draws at once, and the ``seq`` it is current to (open live from it):
    per key at most 1,000 points (aggregated into buckets past that), the newest 500 events
    (``events_more``: the run has older ones), the last 120 points of each vital (marked keys and
    ``sys/*``), tables, point sets, snapshot keys, and image and histogram keys with their
    numbers of kept steps (``media``, ``histograms``)."""
    settings = request.app.state.settings
    limit = settings.state_events
    await run_or_404(request, run_id)
    # One event more than shown says whether older ones exist (the store keeps no count).
    state = await store_of(request).state(run_id, settings.state_max_points, limit + 1)
    if state is None:
        raise ApiError(404, "run_not_found", f"no run with id {run_id!r}", "run")
    more = len(state.events) > limit
    state.events = state.events[:limit]
    return json_response({**msgspec.structs.asdict(state), "events_more": more})
