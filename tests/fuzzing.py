"""Schemathesis against the app in process: every generated case of an operation, never a 5xx."""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from tests.asgi import BASE_URL, InProcessServer


def schema_operations(server: InProcessServer) -> list[Any]:
    """The operations of the app's own OpenAPI document."""
    with server.client() as c:
        api = schemathesis.openapi.from_dict(c.get("/openapi.json").json())
    return [result.ok() for result in api.get_all_operations()]


def assert_no_5xx(server: InProcessServer, operations: list[Any], max_examples: int) -> None:
    """Send ``max_examples`` generated cases of each operation; none may be answered 5xx."""
    with server.requests_session() as session:
        for operation in operations:

            @settings(
                max_examples=max_examples,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                database=None,
            )
            @given(case=operation.as_strategy())
            def check(case) -> None:  # type: ignore[no-untyped-def]
                case.call_and_validate(
                    base_url=BASE_URL, session=session, checks=[not_a_server_error]
                )

            check()
