"""The app factory: wires a Store, a Bus, the live hub and the routes into one ASGI app."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import msgspec
from fastapi import FastAPI, Request
from fastapi.staticfiles import StaticFiles
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from runwatch import __version__
from runwatch.bus import RUNS_CHANNEL, Bus, bus_from_url, run_channel
from runwatch.protocol import (
    ArchivedCommands,
    Batch,
    BlobsIn,
    CommandIn,
    PromoteIn,
    Retention,
    RunCreate,
    RunPatch,
    RunTimes,
)
from runwatch.rules.engine import RuleEngine
from runwatch.rules.spec import RuleIn
from runwatch.rules.targets import WebhookPolicy
from runwatch.server import (
    api,
    archive,
    control,
    errors,
    heap,
    launches,
    live,
    media,
    pages,
    run_delete,
    run_objects,
    runs_api,
    sweeps,
    tensorboard_proxy,
)
from runwatch.server import rules as rule_routes
from runwatch.server.auth import WATCH_SECONDS, Authenticator, Whoami
from runwatch.server.crash_sweep import CrashSweep
from runwatch.server.fanout import RESET_LAG, LiveHub
from runwatch.server.guard import RequestGuard
from runwatch.server.openapi import declare_bounds
from runwatch.server.ratelimit import RateLimiter
from runwatch.server.runs_feed import RunsFeed, touched
from runwatch.server.scheduler import Scheduler
from runwatch.server.settings import Settings, is_loopback
from runwatch.server.templates import Template, load_templates
from runwatch.server.tensorboard import TensorBoardManager
from runwatch.server.tensorboard_tickets import ProxyTickets
from runwatch.server.uploads import UPLOADS_DIR
from runwatch.store.base import Committed, Store
from runwatch.store.errors import StoreError
from runwatch.store.factory import open_store
from runwatch.sweeps.stopper import EarlyStopper

logger = logging.getLogger("runwatch.server")


class SecurityHeaders:
    """Adds the Content-Security-Policy and friends to every HTTP response (pure ASGI: streams)."""

    def __init__(self, app: ASGIApp, csp: str = pages.CSP) -> None:
        self.app = app
        self.csp = csp.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                # A proxied TensorBoard page brings its own policy (tensorboard_proxy.py).
                if not any(k.lower() == b"content-security-policy" for k, _ in headers):
                    headers.append((b"content-security-policy", self.csp))
                headers += [
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"),
                ]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _publisher(bus: Bus) -> Any:
    def publish(committed: list[Committed]) -> None:
        for change in committed:
            if change.records:  # an empty delivery would tell every viewer to resync
                bus.publish(run_channel(change.run_id), change.records)
        # One runs-list notice per run per commit, however many records it carried.
        for run_id in dict.fromkeys(c.run_id for c in committed):
            bus.publish(RUNS_CHANNEL, [touched(run_id)])

    return publish


def _openapi_with_wire_schemas(app: FastAPI) -> Any:
    """FastAPI's schema plus the msgspec wire schemas of the bodies it cannot see."""
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = original()
        wire = [
            Batch,
            RunCreate,
            RunPatch,
            Retention,
            CommandIn,
            PromoteIn,
            launches.SubmitIn,
            sweeps.SweepIn,
            sweeps.NextIn,
            RuleIn,
            RunTimes,
            ArchivedCommands,
            Whoami,
            BlobsIn,  # the manifest line of POST …/blobs (not a JSON body: declared by name)
        ]
        refs, components = msgspec.json.schema_components(
            wire, ref_template="#/components/schemas/{name}"
        )
        schema.setdefault("components", {}).setdefault("schemas", {}).update(components)
        bodies = {t.__name__: ref for t, ref in zip(wire, refs, strict=True)}
        for path in schema["paths"].values():
            for op in path.values():
                name = op.pop("x-runwatch-body", None)
                if name:
                    op["requestBody"] = {
                        "required": True,
                        "content": {"application/json": {"schema": bodies[name]}},
                    }
        declare_bounds(schema, app.state.settings)
        app.openapi_schema = schema
        return schema

    return openapi


async def _every(interval: float, sweep: Callable[[float], Awaitable[object]]) -> None:
    """Call ``sweep(now)`` every ``interval`` s: crash detection, retention (a paced loop)."""
    while True:
        await asyncio.sleep(interval)
        try:
            await sweep(time.time())
        except StoreError as exc:  # store busy or failing: try again next round
            logger.warning("sweep skipped: %s", exc.message)


async def _auth_mode(auth: Authenticator) -> str:
    """The auth mode for /healthz; ``unknown`` while the store cannot say how many tokens live."""
    try:
        return await auth.mode()
    except StoreError:
        return "unknown"


def _templates(settings: Settings) -> dict[str, Template]:
    """The run templates: ``settings.templates``, else ``<data dir>/runwatch.toml`` if present."""
    path = settings.templates or settings.data_dir / "runwatch.toml"
    if settings.templates is None and not path.is_file():
        return {}
    return load_templates(path, settings.data_dir / UPLOADS_DIR)


def _self_url(settings: Settings) -> str:
    """The URL launchers started by the scheduler report to (a wildcard bind: loopback)."""
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "") else settings.host
    host = "[::1]" if host == "::" else f"[{host}]" if ":" in host else host
    return f"http://{host}:{settings.port}"


def create_app(
    settings: Settings | None = None, store: Store | None = None, bus: Bus | None = None
) -> FastAPI:
    """Build the runwatch ASGI app; the store is ``settings.store_url``, or SQLite in
    ``settings.data_dir``."""
    settings = settings or Settings()
    store = store or open_store(
        settings.store_location,
        busy_timeout=settings.busy_timeout,
        snapshot_epsilon=settings.snapshot_epsilon,
        pool_size=settings.store_pool,
        claim_lease=settings.claim_lease,
    )
    bus = bus or bus_from_url(settings.bus_url)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await store.open()
        try:
            await bus.start()
        except BaseException:
            await store.close()
            raise
        store.add_commit_listener(_publisher(bus))
        app.state.runs_feed.start()
        # Watch rules: a rules file replaces the rules it loaded last time; evaluation follows
        # every commit from its own task (the listener only queues).
        if settings.rules_file is not None:
            rules = rule_routes.load_checked_rules(settings.rules_file, policy)
            await store.replace_file_rules(rules)
        await app.state.rules.start()
        store.add_commit_listener(app.state.rules.on_commit)
        # Sweeps' hyperband early termination: the same way, from its own task.
        await app.state.early_stop.start()
        store.add_commit_listener(app.state.early_stop.on_commit)
        left = await run_delete.remove_deleted_run_dirs(store, settings.data_dir)
        if left:
            logger.warning("removed %d deleted run(s)' directories a previous server left", left)
        crash_sweep = CrashSweep(store, settings.crash_check_interval)
        sweepers = [
            asyncio.create_task(_every(settings.retention_interval, store.apply_retention)),
            asyncio.create_task(_every(settings.crash_check_interval, crash_sweep.sweep)),
            asyncio.create_task(_every(5.0, app.state.tensorboards.sweep)),
            asyncio.create_task(_every(heap.TRIM_INTERVAL, heap.trim_heap)),
            asyncio.create_task(_every(WATCH_SECONDS, app.state.auth.sweep)),
        ]
        stale = app.state.tensorboards.stop_stale()  # a killed server's, if any survived it
        if stale:
            logger.warning("stopped %d TensorBoard(s) a previous server left running", stale)
        app.state.scheduler.start()
        try:
            yield
        finally:
            await app.state.scheduler.stop()
            for task in sweepers:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await app.state.tensorboards.stop_all()
            await app.state.rules.stop()
            await app.state.early_stop.stop()
            await app.state.runs_feed.stop()
            await bus.stop()
            await store.close()

    app = FastAPI(title="runwatch", version=__version__, lifespan=lifespan)
    hub = LiveHub(bus)
    policy = WebhookPolicy(settings.webhook_allow)
    app.state.webhook_policy = policy
    app.state.settings = settings
    app.state.store = store
    app.state.bus = bus
    app.state.hub = hub
    app.state.reset_lag = RESET_LAG
    app.state.stopping = asyncio.Event()  # set as the server begins to shut down (serve.py)
    app.state.runs_feed = RunsFeed(store, hub)
    app.state.auth = Authenticator(store, settings.token, public=not is_loopback(settings.host))
    app.state.tensorboards = TensorBoardManager(store, settings.data_dir)
    app.state.tensorboard_tickets = ProxyTickets()
    app.state.ingest_limiter = RateLimiter(settings.ingest_rate) if settings.ingest_rate else None
    app.state.scheduler = Scheduler(
        store, _templates(settings), settings.data_dir, _self_url(settings), settings.token,
        settings.max_concurrent,
    )  # fmt: skip
    app.state.rules = RuleEngine(store, bus, tick=settings.rules_tick, webhook_policy=policy)
    app.state.early_stop = EarlyStopper(store)
    errors.install(app)

    @app.get("/healthz", tags=["health"])
    async def healthz(request: Request) -> Response:
        """Liveness, with the store's and the bus's status. ``degraded`` (still 200: the replica
        ingests and serves; a load balancer must not drop every replica when Redis is down):
        the bus is reconnecting, so other replicas' records reach this one's viewers late.
        ``auth``: ``open`` (loopback, no token ever created), ``tokens``, or ``closed``: no valid
        token, while bound beyond loopback or after tokens existed, so every request is refused
        until one is created."""
        bus_health = bus.health()
        body = {
            "status": "degraded" if bus_health.get("connected") is False else "ok",
            "version": __version__,
            "store": await store.health(),
            "bus": bus_health,
            "subscribers": hub.subscriber_count(),
            "rules": app.state.rules.health(),
            "early_stop": app.state.early_stop.health(),
            "auth": await _auth_mode(app.state.auth),
        }
        return api.json_response(body)

    app.include_router(api.router)
    app.include_router(runs_api.router)
    app.include_router(run_delete.router)
    app.include_router(control.router)
    app.include_router(run_objects.router)
    app.include_router(tensorboard_proxy.router)
    app.include_router(media.router)
    app.include_router(launches.router)
    app.include_router(sweeps.router)
    app.include_router(live.router)
    app.include_router(rule_routes.router)
    app.include_router(pages.router)
    app.include_router(archive.router)
    app.mount("/static", StaticFiles(directory=pages.WEB_DIR), name="static")
    app.openapi = _openapi_with_wire_schemas(app)  # type: ignore[method-assign]
    app.add_middleware(SecurityHeaders, csp=pages.csp_for(is_loopback(settings.host)))
    # Open (no tokens) means loopback only, and then only loopback Host names (DNS rebinding).
    app.add_middleware(RequestGuard, loopback_only=is_loopback(settings.host))
    return app
