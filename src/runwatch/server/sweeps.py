"""Sweep routes: the controller. A sweep is created from W&B's sweep configuration; agents
claim its trials one at a time (each configuration handed out once, by the store's claim);
pause, resume and stop change what a claim gets."""

from __future__ import annotations

import secrets
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

import msgspec
from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from runwatch.protocol import INT64_MAX, ProjectName, RunName
from runwatch.server.api import READ, WRITE, decode, json_response, read_body, store_of
from runwatch.server.auth import check_project
from runwatch.server.errors import ApiError
from runwatch.server.openapi import refusal
from runwatch.store.base import Past, SweepCreate, SweepInfo
from runwatch.sweeps import bayes
from runwatch.sweeps.space import point, space_size
from runwatch.sweeps.spec import MAX_COMMAND_PARTS, SweepError, parse_sweep
from runwatch.sweeps.trial_command import template

router = APIRouter(prefix="/api/v1")
MAX_TRIALS = 100_000  # trials one sweep hands out at most (a random sweep without a run_cap)
MAX_TRIALS_PAGE = 1000
NoNul = Annotated[str, msgspec.Meta(max_length=10_000, pattern="^[^\x00]*$")]


class SweepIn(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """Body of ``POST /api/v1/sweeps``: W&B's sweep configuration, as a sweep file holds it.
    ``project`` is the sweep's project (``default`` when absent)."""

    method: Literal["grid", "random", "bayes"]
    parameters: dict[str, dict[str, Any]]
    metric: dict[str, Any] | None = None
    early_terminate: dict[str, Any] | None = None
    run_cap: Annotated[int, msgspec.Meta(ge=1, le=INT64_MAX)] | None = None
    name: RunName | None = None
    description: NoNul | None = None
    program: NoNul | None = None
    command: list[Any] | None = None
    project: ProjectName | None = None
    entity: NoNul | None = None
    controller: dict[str, Any] | None = None
    job: NoNul | None = None
    image_uri: NoNul | None = None


class NextIn(msgspec.Struct, forbid_unknown_fields=True):
    """Body of ``POST /api/v1/sweeps/{id}/next``: who is asking (shown with the trial), and
    ``command``, what it runs for each trial, checked before a trial is handed out: its own
    command (macros and all), or ``[]`` for the sweep's (its ``command``, or W&B's default with
    its ``program``). Absent: not checked (an agent that calls a function)."""

    agent: Annotated[str, msgspec.Meta(max_length=200, pattern="^[^\x00]*$")] | None = None
    command: Annotated[list[NoNul], msgspec.Meta(max_length=MAX_COMMAND_PARTS)] | None = None


_sweep_decoder = msgspec.json.Decoder(SweepIn)
_next_decoder = msgspec.json.Decoder(NextIn)


def page_of(info: SweepInfo) -> str:
    """The sweep's page: its state and controls over the views of its runs (tagged
    ``sweep:ID`` by its agents)."""
    return "/sweep?" + urlencode({"sweep": info.id})


def _shown(info: SweepInfo) -> dict[str, Any]:
    shown: dict[str, Any] = msgspec.to_builtins(info)
    shown["page"] = page_of(info)
    return shown


def _limit(doc: dict[str, Any]) -> tuple[int, str]:
    """How many trials the sweep hands out at most, and which bound that is."""
    spec = parse_sweep(doc)
    if spec.method == "bayes":
        bayes.check(spec)
    bounds = [(MAX_TRIALS, "max_trials")]
    size = space_size(spec)
    if size is not None:
        bounds.append((size, "space"))
    if spec.run_cap is not None:
        bounds.append((spec.run_cap, "run_cap"))
    return min(bounds, key=lambda bound: bound[0])


def propose(info: SweepInfo, index: int, past: Past) -> dict[str, Any]:
    """Trial ``index``'s configuration: a grid point, a seeded random draw, or TPE's next
    point given the trials before it (bayes)."""
    spec = parse_sweep(info.spec)
    if spec.method == "bayes":
        return bayes.propose(spec, info.seed, index, past)
    return point(spec, info.seed, index)


async def _sweep_or_404(request: Request, sweep_id: str) -> SweepInfo:
    info = await store_of(request).get_sweep(sweep_id)
    if info is None:
        raise ApiError(404, "sweep_not_found", f"no sweep with id {sweep_id!r}", "sweep")
    check_project(request, info.project)
    return info


@router.post(
    "/sweeps",
    status_code=201,
    dependencies=WRITE,
    openapi_extra={"x-runwatch-body": "SweepIn"},
    responses={
        422: refusal(
            "`invalid_sweep`: a configuration W&B's sweep schema refuses (bayes without a "
            "`metric`, a grid over a continuous parameter); `field` names the key "
            "(`$.parameters.lr.min`)."
        )
    },
)
async def create_sweep(request: Request) -> Response:
    """Create a sweep from W&B's sweep configuration; agents then claim its trials. The
    answer is the sweep, with ``page``: the sweep page of its runs."""
    body = await read_body(request, request.app.state.settings.max_body_bytes)
    spec: SweepIn = decode(_sweep_decoder, body, "sweep")
    doc: dict[str, Any] = msgspec.to_builtins(spec)
    try:
        limit, reason = _limit(doc)
    except SweepError as exc:
        raise ApiError(422, "invalid_sweep", exc.message, f"$.{exc.key}") from None
    project = spec.project or "default"
    check_project(request, project)
    create = SweepCreate(
        id=secrets.token_hex(4), project=project, name=spec.name, method=spec.method,
        spec=doc, seed=secrets.randbits(62), trial_limit=limit, limit_reason=reason,
    )  # fmt: skip
    info = await store_of(request).create_sweep(create)
    return json_response(_shown(info), 201)


@router.get("/sweeps/{sweep_id}", dependencies=READ)
async def get_sweep(request: Request, sweep_id: str) -> Response:
    """A sweep: its configuration, state, how many trials it handed out of how many
    (``trial_limit``, bounded by ``limit_reason``), and its trials counted by status."""
    return json_response(_shown(await _sweep_or_404(request, sweep_id)))


@router.get("/sweeps/{sweep_id}/trials", dependencies=READ)
async def list_trials(
    request: Request,
    sweep_id: str,
    after: Annotated[int, Query(ge=-1, le=INT64_MAX)] = -1,
    limit: Annotated[int, Query(ge=1, le=MAX_TRIALS_PAGE)] = 100,
) -> Response:
    """A page of the sweep's trials after index ``after``: index, run id, configuration,
    agent, status (its run's; ``claimed`` until the agent created the run, ``cancelled`` if the
    sweep was stopped before it did: that run is refused; ``crashed`` if its claim's lease
    expired before it did; ``stopped_early``
    once hyperband early termination stopped it and its run ended ``cancelled``),
    ``stopped_early`` (why, once judged worse at a rung: its run was sent a cancel), and
    ``retry_of``: the crashed trial whose configuration it runs again, if it is a retry."""
    await _sweep_or_404(request, sweep_id)
    trials = await store_of(request).list_trials(sweep_id, after, limit)
    return json_response({"trials": trials})


@router.post(
    "/sweeps/{sweep_id}/next",
    dependencies=WRITE,
    openapi_extra={"x-runwatch-body": "NextIn"},
    responses={
        422: refusal(
            "`nothing_to_run`: the agent's `command` needs the sweep's `program` and it has"
            " none (a sweep with neither `program` nor `command`, for an agent that runs the"
            " sweep's); no trial is handed out."
        )
    },
)
async def next_trial(request: Request, sweep_id: str) -> Response:
    """An agent claims the sweep's next trial: ``trial`` (its index, the run id to report as,
    its configuration), or ``trial: null`` with ``reason``: ``paused`` (ask again later),
    ``stopped`` or ``finished`` (stop asking). Each trial is handed out once, whichever
    replica answers. A crashed trial (its agent died; or its claim expired, the server's
    ``--claim-lease``, before its run was created) is handed out again once, before any new
    point, as a new trial whose ``retry_of`` is the crashed one's index."""
    body = await read_body(request, request.app.state.settings.max_body_bytes)
    asked: NextIn = decode(_next_decoder, body, "claim")
    info = await _sweep_or_404(request, sweep_id)
    if asked.command is not None:  # checked here: a refused agent must not take a trial
        try:
            template(info.spec, asked.command)
        except ValueError as exc:
            raise ApiError(422, "nothing_to_run", str(exc)) from None
    claim = await store_of(request).claim_trial(sweep_id, asked.agent, propose)
    return json_response(
        {"trial": claim.trial, "reason": claim.reason, "sweep": _shown(claim.sweep)}
    )


def _state_route(action: str, doc: str) -> None:
    async def change(request: Request, sweep_id: str) -> Response:
        await _sweep_or_404(request, sweep_id)
        return json_response(_shown(await store_of(request).set_sweep_state(sweep_id, action)))

    change.__doc__ = doc
    router.add_api_route(
        f"/sweeps/{{sweep_id}}/{action}", change, methods=["POST"], dependencies=WRITE,
        name=f"{action}_sweep",
        responses={
            409: refusal(
                "`sweep_stopped`, `sweep_finished`: the sweep is over (a finished sweep stops "
                "while a trial is claimed, running or awaiting its retry)."
            )
        },
    )  # fmt: skip


_state_route("pause", "Pause a sweep: claims answer ``paused`` until it is resumed.")
_state_route("resume", "Resume a paused sweep.")
_state_route(
    "stop",
    "Stop a sweep for good: claims answer ``stopped``; running trials go on, trials claimed but"
    " not started are cancelled (creating their runs is refused: 409 ``sweep_stopped``), and no"
    " crashed trial is retried. A finished sweep (every point handed out) stops too while a"
    " trial is claimed, running or awaiting its retry; once all have ended: 409"
    " ``sweep_finished``.",
)
