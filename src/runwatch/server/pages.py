"""HTML pages and static files (our ES modules and CSS, and uPlot from the uplot-python package)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from fastapi import APIRouter
from starlette.responses import FileResponse, Response

from runwatch.server.errors import ApiError

router = APIRouter(include_in_schema=False)
WEB_DIR = Path(__file__).resolve().parent.parent / "web"
_VENDOR = {"uPlot.iife.js": "application/javascript", "uPlot.min.css": "text/css"}
# No inline scripts or styles anywhere: user content can never become code. Frames: only our
# own origin (the run page embeds the managed TensorBoard through the server's proxy).
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'self'"
)
# A loopback-bound server's pages may be framed by other pages on this machine (a Jupyter
# notebook's run display, an HTML file opened locally); a server reachable from elsewhere only
# by its own pages (no clickjacking from other sites).
LOOPBACK_ANCESTORS = "http://localhost:* http://127.0.0.1:* file:"  # CSP has no IPv6 literals


def csp_for(loopback: bool) -> str:
    """The Content-Security-Policy: :data:`CSP`, plus loopback frame ancestors when bound there."""
    return f"{CSP} {LOOPBACK_ANCESTORS}" if loopback else CSP


def _page(name: str) -> FileResponse:
    return FileResponse(
        WEB_DIR / name, media_type="text/html", headers={"Cache-Control": "no-cache"}
    )


@router.api_route("/", methods=["GET", "HEAD"])
async def runs_page() -> FileResponse:
    return _page("index.html")


@router.api_route("/runs/{run_id}", methods=["GET", "HEAD"])
async def run_page(run_id: str) -> FileResponse:
    return _page("run.html")


@router.api_route("/compare", methods=["GET", "HEAD"])
async def compare_page() -> FileResponse:
    return _page("compare.html")


@router.api_route("/sweep", methods=["GET", "HEAD"])
async def sweep_page() -> FileResponse:
    return _page("sweep.html")


@router.api_route("/promoted", methods=["GET", "HEAD"])
async def promoted_page() -> FileResponse:
    return _page("promoted.html")


@router.api_route("/new", methods=["GET", "HEAD"])
async def new_run_page() -> FileResponse:
    return _page("new.html")


@router.api_route("/new-sweep", methods=["GET", "HEAD"])
async def new_sweep_page() -> FileResponse:
    return _page("new-sweep.html")


@router.api_route("/alerts", methods=["GET", "HEAD"])
async def alerts_page() -> FileResponse:
    return _page("alerts.html")


@router.get("/favicon.ico")
async def favicon() -> FileResponse:
    return FileResponse(WEB_DIR / "favicon.svg", media_type="image/svg+xml")


@router.get("/static/vendor/{name}")
async def vendor(name: str) -> Response:
    """uPlot's own files, read from the installed uplot-python package (never committed here)."""
    if name not in _VENDOR:
        raise ApiError(404, "not_found", f"no vendor file {name!r}")
    data = resources.files("uplot").joinpath("static", name).read_bytes()
    return Response(data, media_type=_VENDOR[name], headers={"Cache-Control": "max-age=86400"})
