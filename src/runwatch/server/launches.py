"""Template routes: list the operator's run templates; submit a run to the queue (admin only)."""

from __future__ import annotations

import secrets
from typing import Any

import msgspec
from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from runwatch.protocol import ProjectName, RunCreate, RunName, Tag
from runwatch.server.api import ADMIN, READ, decode, json_response, read_body, store_of
from runwatch.server.auth import check_project
from runwatch.server.errors import ApiError
from runwatch.server.openapi import refusal
from runwatch.server.scheduler import Scheduler, run_dir_of
from runwatch.server.templates import ParamError, Template
from runwatch.server.uploads import MAX_NAME, MAX_UPLOAD_BYTES, UPLOADS_DIR, sanitise, store_upload
from runwatch.store.sql.queue import MAX_WAITING

router = APIRouter(prefix="/api/v1")


class SubmitIn(msgspec.Struct, forbid_unknown_fields=True):
    """Body of ``POST /api/v1/templates/{name}/runs``: parameter values and the run's labels."""

    params: dict[str, Any] = {}
    name: RunName | None = None
    project: ProjectName | None = None
    tags: list[Tag] = []


_submit_decoder = msgspec.json.Decoder(SubmitIn)


def _scheduler(request: Request) -> Scheduler:
    scheduler: Scheduler = request.app.state.scheduler
    return scheduler


def _template_or_404(request: Request, name: str) -> Template:
    template = _scheduler(request).templates.get(name)
    if template is None:
        raise ApiError(404, "template_not_found", f"no run template named {name!r}", "template")
    return template


@router.get("/templates", dependencies=READ)
async def list_templates(request: Request) -> Response:
    """The declared templates with their typed parameters (file parameters list their files)."""
    scheduler = _scheduler(request)
    shown = [
        msgspec.structs.replace(t, params=[p.listed() for p in t.params], cwd=None)
        for t in scheduler.templates.values()
    ]
    return json_response({"templates": shown, "max_concurrent": scheduler.max_running})


@router.post(
    "/templates/{name}/runs",
    status_code=201,
    dependencies=ADMIN,
    openapi_extra={"x-runwatch-body": "SubmitIn"},
    responses={
        422: refusal(
            "`invalid_param`: a parameter value its template refuses (`field` is "
            f"`$.params.NAME`); `limit_exceeded`: {MAX_WAITING:,} runs are waiting already "
            "(max_waiting)."
        )
    },
)
async def submit_run(request: Request, name: str) -> Response:
    """Queue a run of a template: every value is checked against its parameter's type (422
    naming ``$.params.NAME`` otherwise) before the run exists; the scheduler starts it."""
    body = await read_body(request, request.app.state.settings.max_body_bytes)
    template = _template_or_404(request, name)
    spec: SubmitIn = decode(_submit_decoder, body, "submission")
    project = spec.project or template.project
    check_project(request, project)
    try:
        params = template.validate(spec.params)
        argv = template.argv(params)
    except ParamError as exc:
        raise ApiError(422, "invalid_param", str(exc), f"$.params.{exc.name}") from None
    scheduler = _scheduler(request)
    run_id = secrets.token_hex(6)
    snapshot = {
        "template": template.name,
        "params": params,
        "argv": argv,
        "cwd": template.cwd,
        "run_dir": str(run_dir_of(scheduler.data_dir, run_id)),
    }
    create = RunCreate(
        project=project,
        id=run_id,
        name=spec.name or f"{template.name}-{run_id[:6]}",
        tags=spec.tags,
        config=params,
        snapshot=snapshot,
    )
    run = await store_of(request).enqueue_run(create, template.name, params)
    scheduler.wake()
    return json_response(run, 201)


@router.post(
    "/uploads",
    status_code=201,
    dependencies=ADMIN,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        }
    },
    responses={
        400: refusal("`invalid_name`: nothing usable is left of `name` (`field`: `query.name`)."),
        409: refusal("`too_many_uploads`: the uploads folder is full."),
        413: refusal(
            f"`upload_too_large`: a body over {MAX_UPLOAD_BYTES:,} bytes (max_upload_bytes)."
        ),
        415: refusal(
            "`unsupported_media_type`: the Content-Type is not application/octet-stream"
            " (`header.content-type`)."
        ),
    },
)
async def upload(
    request: Request, name: str = Query(..., min_length=1, max_length=4 * MAX_NAME)
) -> Response:
    """Upload a data file for runs (the raw bytes as the body, ``application/octet-stream``):
    kept in the data dir's ``uploads`` folder under its sanitised name (a file of that name is
    replaced), offered first by file parameters with ``uploads = true`` as ``@uploads/NAME``."""
    mime = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if mime != "application/octet-stream":
        # A request without the raw-bytes body (a form, or none at all) is not an upload.
        raise ApiError(
            415,
            "unsupported_media_type",
            "an upload's Content-Type must be application/octet-stream",
            "header.content-type",
        )
    stored = sanitise(name)
    root = _scheduler(request).data_dir / UPLOADS_DIR
    answer = await store_upload(
        root, stored, request.headers.get("content-length"), request.stream()
    )
    return json_response(answer, 201)
