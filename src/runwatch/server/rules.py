"""Rule and alert routes: rule CRUD per project, the project's alerts, and their live socket."""

from __future__ import annotations

from pathlib import Path

import msgspec
from fastapi import APIRouter, Query, Request, WebSocket
from fastapi import Path as PathParam
from starlette.responses import Response

from runwatch.rules.engine import RuleEngine, alerts_channel
from runwatch.rules.rulesfile import RulesFileError, load_rules_file
from runwatch.rules.spec import CommandAction, RuleIn, WebhookAction, masked
from runwatch.rules.targets import TargetRefused, WebhookPolicy
from runwatch.server.api import ADMIN, READ, decode, json_response, read_body, store_of
from runwatch.server.auth import check_project
from runwatch.server.bus_notice import BusNotice
from runwatch.server.errors import ApiError
from runwatch.server.fanout import Subscriber, frame_text
from runwatch.server.live import _accept, _until_disconnect
from runwatch.server.openapi import refusal

router = APIRouter(prefix="/api/v1")
_rule_decoder = msgspec.json.Decoder(RuleIn)
MAX_RULES_PER_PROJECT = 1_000
MAX_PAYLOAD_BYTES = 65_536  # a command action's payload, as an event's
MAX_ALERTS_PAGE = 1_000
ALERTS_SNAPSHOT = 200  # alerts a new Alerts socket starts with


def webhook_refusal(spec: RuleIn, policy: WebhookPolicy) -> ApiError | None:
    """Why one of the rule's webhooks may not be saved: a URL no delivery could use (400), or a
    target the policy refuses (422); None when all may be."""
    for i, action in enumerate(spec.actions):
        if not isinstance(action, WebhookAction):
            continue
        try:
            policy.check(action.url)
        except TargetRefused as exc:
            return ApiError(422, "webhook_refused", str(exc), f"$.actions[{i}].url")
        except ValueError as exc:
            return ApiError(400, "invalid_rule", str(exc), f"$.actions[{i}].url")
    return None


def load_checked_rules(path: Path, policy: WebhookPolicy) -> list[tuple[str, RuleIn]]:
    """A rules file's rules, each webhook checked as an API-made rule's would be."""
    rules = load_rules_file(path)
    for i, (_, rule) in enumerate(rules):
        refusal = webhook_refusal(rule, policy)
        if refusal is not None:
            where = f"rules[{i}]{(refusal.field or '$')[1:]}"
            raise RulesFileError(f"rules file {path}: {where}: {refusal.message}")
    return rules


def _engine(request: Request | WebSocket) -> RuleEngine:
    engine: RuleEngine = request.app.state.rules
    return engine


@router.post(
    "/projects/{project}/rules",
    status_code=201,
    dependencies=ADMIN,
    openapi_extra={"x-runwatch-body": "RuleIn"},
    responses={
        422: refusal(
            f"`limit_exceeded`: the project has {MAX_RULES_PER_PROJECT:,} rules already "
            f"(max_rules_per_project), or a command action's payload is over "
            f"{MAX_PAYLOAD_BYTES:,} bytes as JSON (max_payload_bytes)."
        )
    },
)
async def create_rule(request: Request, project: str) -> Response:
    """Add a watch rule to a project (or, with ``run``, to one of its runs)."""
    body = await read_body(request, request.app.state.settings.max_body_bytes)
    check_project(request, project)
    spec: RuleIn = decode(_rule_decoder, body, "rule")
    for i, action in enumerate(spec.actions):
        if isinstance(action, CommandAction) and (
            len(msgspec.json.encode(action.payload)) > MAX_PAYLOAD_BYTES
        ):
            limit = f"max_payload_bytes={MAX_PAYLOAD_BYTES}"
            message = f"the command's payload is over the limit {limit}"
            raise ApiError(422, "limit_exceeded", message, f"$.actions[{i}].payload")
    refusal = webhook_refusal(spec, request.app.state.webhook_policy)
    if refusal is not None:
        raise refusal
    store = store_of(request)
    if spec.run is not None:
        run = await store.get_run(spec.run)
        if run is None or run.project != project:
            raise ApiError(404, "run_not_found", f"no run {spec.run!r} in {project!r}", "$.run")
    if len(await store.list_rules(project)) >= MAX_RULES_PER_PROJECT:
        limit = f"max_rules_per_project={MAX_RULES_PER_PROJECT}"
        raise ApiError(422, "limit_exceeded", f"the project has {limit} rules already")
    rule = await store.add_rule(project, spec)
    await _engine(request).reload()
    return json_response(masked(rule), 201)


@router.get("/projects/{project}/rules", dependencies=READ)
async def list_rules(request: Request, project: str) -> Response:
    """The project's rules; webhook URLs are shown masked (they are secrets)."""
    check_project(request, project)
    rules = await store_of(request).list_rules(project)
    return json_response({"rules": [masked(r) for r in rules]})


@router.delete(
    "/projects/{project}/rules/{rule_id}",
    dependencies=ADMIN,
    responses={
        409: refusal(
            "`rule_from_file`: the rule was loaded from `serve --rules FILE`; it is removed "
            "from that file (deleted here, it would come back the next time the file is loaded)."
        )
    },
)
async def delete_rule(
    request: Request, project: str, rule_id: int = PathParam(ge=1, le=2**63 - 1)
) -> Response:
    """Delete a rule made by API or on the Alerts page."""
    check_project(request, project)
    store = store_of(request)
    rule = next((r for r in await store.list_rules(project) if r.id == rule_id), None)
    if rule is not None and rule.source == "file":
        message = f"rule {rule_id} ({rule.name!r}) comes from the rules file: remove it there"
        raise ApiError(409, "rule_from_file", message, "rule")
    if rule is None or not await store.delete_rule(project, rule_id):
        raise ApiError(404, "rule_not_found", f"no rule {rule_id} in {project!r}", "rule")
    await _engine(request).reload()
    return json_response({"deleted": rule_id})


@router.get("/projects/{project}/alerts", dependencies=READ)
async def list_alerts(
    request: Request,
    project: str,
    run: str | None = None,
    limit: int = Query(200, ge=1, le=MAX_ALERTS_PAGE),
) -> Response:
    """The project's alerts (optionally one run's), newest first, with their actions' outcomes."""
    check_project(request, project)
    return json_response({"alerts": await store_of(request).list_alerts(project, run, limit)})


@router.websocket("/projects/{project}/alerts/live")
async def alerts_live(websocket: WebSocket, project: str) -> None:
    """The newest alerts as one ``alerts`` message, then each new or updated ``alert``; after a
    bus resync (during an outage, every second) the ``alerts`` message again; and ``bus``
    messages (see ``bus_notice``)."""
    principal = await _accept(websocket, project)
    if principal is None:
        return
    store, hub = websocket.app.state.store, websocket.app.state.hub
    viewer = Subscriber()
    channel = alerts_channel(project)
    hub.subscribe(channel, viewer)  # before the snapshot: nothing slips in between

    async def snapshot() -> str:
        alerts = await store.list_alerts(project, None, ALERTS_SNAPSHOT)
        return msgspec.json.encode({"seq": 0, "type": "alerts", "alerts": alerts}).decode()

    async def send_all() -> None:
        await websocket.send_text(await snapshot())
        notice = BusNotice(hub.bus)
        while True:
            if notice.update():
                await websocket.send_text(notice.message(0)[1])
            await viewer.wait()
            items = viewer.drain()
            if viewer.overflowed:  # too far behind: start again from a fresh snapshot
                viewer.overflowed = viewer.stale = False
                items = [(0, '{"seq":0,"type":"reset"}')]
            elif viewer.stale:  # a bus resync: another replica's alerts may have been missed
                viewer.stale = False
                items = [(0, await snapshot())]  # read after what was queued: it holds them
            if items:
                await websocket.send_text(frame_text(items))

    try:
        await _until_disconnect(websocket, principal, send_all)
    finally:
        hub.unsubscribe(channel, viewer)
