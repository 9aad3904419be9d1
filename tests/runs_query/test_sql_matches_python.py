"""The SQL of a query selects, on SQLite and on PostgreSQL, exactly the runs the Python
evaluator selects; values that look like SQL stay values."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runwatch.runs_query import matches, parse
from tests.pg import fresh_database
from tests.runs_query import strategies
from tests.runs_query.backends import Runs, postgres_runs, sqlite_runs


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def table(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Runs]:
    if request.param == "sqlite":
        with sqlite_runs(tmp_path_factory.mktemp("runs_query")) as runs:
            yield runs
    else:
        with fresh_database() as url, postgres_runs(url) as runs:
            yield runs


def expected(query: str, runs: list[dict[str, Any]]) -> set[str]:
    node = parse(query)
    return {r["id"] for r in runs if matches(node, r)}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(runs=strategies.runs(), queries=st.lists(strategies.queries, min_size=1, max_size=3))
def test_sql_selects_what_python_selects(
    table: Runs, runs: list[dict[str, Any]], queries: list[str]
) -> None:
    table.replace(runs)
    for query in queries:
        assert table.select(parse(query)) == expected(query, runs), query


def test_values_that_look_like_sql_stay_values(table: Runs) -> None:
    runs = [
        run_with(
            "r0",
            name="'); DROP TABLE runs; --",
            tags=["' OR 1=1 --"],
            config={"x'); DROP TABLE runs; --": 1, "q": "\\' OR '1'='1"},
        ),
        run_with("r1", name="plain", tags=["sweep"], config={"q": "plain"}),
    ]
    table.replace(runs)
    for query in [
        'name == "\'); DROP TABLE runs; --"',
        "name == '\\'); DROP TABLE runs; --'",
        '"\' OR 1=1 --" in tags',
        '"\') OR 1=1 --" in tags',
        'config["x\'); DROP TABLE runs; --"] == 1',
        "config.q == \"\\\\' OR '1'='1\"",
        'config.q < "\' OR 1=1; --"',
        'name ~ "\'\\\\); DROP"',
        'name ~ "^plain$|%"',
        'name == "%" or name == "_" or name ~ "\'"',
    ]:
        assert table.select(parse(query)) == expected(query, runs), query
    assert table.select(parse('name == "\'); DROP TABLE runs; --"')) == {"r0"}
    assert table.select(parse('"\' OR 1=1 --" in tags')) == {"r0"}
    assert table.count() == 2


def run_with(run_id: str, **fields: Any) -> dict[str, Any]:
    """A run of ``fields`` over neutral defaults."""
    base: dict[str, Any] = {
        "id": run_id,
        "project": "p",
        "name": run_id,
        "group": None,
        "tags": [],
        "config": {},
        "status": "running",
        "created_at": 1.8e9,
        "started_at": None,
        "ended_at": None,
        "last_update": None,
        "summary": {},
    }
    return base | fields
