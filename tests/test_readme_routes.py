"""The README's HTTP API table lists every route the app serves, with the scope it enforces."""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterator
from pathlib import Path

from fastapi.routing import APIRoute, APIWebSocketRoute
from starlette.routing import BaseRoute, Mount, Route

from runwatch.server import create_app

README = Path(__file__).resolve().parent.parent / "README.md"
SWAGGER_HELPER = "/docs/oauth2-redirect"  # Swagger UI's own OAuth page, not ours to document


def table() -> dict[tuple[str, str], str]:
    """``(method, path) -> scope`` from the rows of the README's "## HTTP API" table."""
    section = README.read_text().split("\n## HTTP API\n", 1)[1].split("\n## ", 1)[0]
    rows: dict[tuple[str, str], str] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        if len(cells) != 4 or cells[0] not in ("GET", "POST", "PUT", "PATCH", "DELETE", "WS"):
            continue
        for path in re.findall(r"`([^`]+)`", cells[1]):
            rows[(cells[0], path.split("?")[0])] = cells[3]
    return rows


def served(routes: list[BaseRoute]) -> Iterator[BaseRoute]:
    """Every route, including those of included routers (FastAPI 0.16x includes them lazily)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from served(inner.routes)
        else:
            yield route


def enforced_scope(route: APIRoute) -> str:
    """The scope the route's ``need(...)`` dependency checks; "none" without one."""
    for dep in route.dependant.dependencies:
        # need(...), or the TensorBoard proxy's need_or_ticket(...) (a ticket cookie or need).
        if dep.call is not None and dep.call.__qualname__.startswith(("need.", "need_or_ticket.")):
            return str(inspect.getclosurevars(dep.call).nonlocals["scope"])
    return "none"


def test_every_route_is_in_the_table_with_the_scope_it_enforces() -> None:
    rows = table()
    app = create_app()
    seen: set[tuple[str, str]] = set()
    for route in served(app.routes):
        if isinstance(route, APIRoute):
            for method in sorted(route.methods - {"HEAD"}):
                key = (method, route.path_format)
                assert rows.get(key) == enforced_scope(route), (key, rows.get(key))
                seen.add(key)
        elif isinstance(route, APIWebSocketRoute):
            # Sockets check their token after accepting (to close with 4401/4403): read.
            assert rows.get(("WS", route.path_format)) == "read", route.path
            seen.add(("WS", route.path_format))
        elif isinstance(route, Route) and route.path != SWAGGER_HELPER:
            assert rows.get(("GET", route.path)) == "none", route.path
            seen.add(("GET", route.path))
        elif isinstance(route, Mount):
            assert rows.get(("GET", f"{route.path}/…")) == "none", route.path
            seen.add(("GET", f"{route.path}/…"))
    # ...and the table lists nothing the app does not serve.
    assert set(rows) == seen, set(rows) - seen
    # Every operation of the OpenAPI document is one of them.
    for path, item in app.openapi()["paths"].items():
        for method in item:
            assert (method.upper(), path) in seen, (method, path)
