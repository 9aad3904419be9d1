"""The JSON tree widget's node budget, in Chromium on the module as served (it builds DOM nodes;
the widgets' pure functions are tested under node: tests/js/)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page

from tests.servers import ServerProcess

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def static_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for the whole module: these tests only read static files."""
    proc = ServerProcess(tmp_path_factory.mktemp("widget-helpers") / "data").start()
    yield proc
    proc.stop()


@pytest.fixture
def blank(page: Page, static_server: ServerProcess) -> Iterator[Page]:
    page.goto(f"{static_server.url}/promoted")
    yield page
    assert page.console_errors == []


def test_json_tree_draws_at_most_its_node_budget(blank: Page) -> None:
    drawn = blank.evaluate(
        """async () => {
            const m = await import('/static/js/json-tree.js');
            const big = Array.from({length: 5000}, (_, i) => ({i}));
            const tree = m.render(big);
            return [Number(tree.dataset.nodes), m.MAX_NODES, tree.querySelectorAll('.jt-more').length];
        }"""
    )
    nodes, budget, more = drawn
    assert nodes <= budget
    assert more >= 1  # each container cut short says so
