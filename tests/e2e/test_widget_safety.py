"""User-supplied text in the run page's widgets renders as literal text and never runs: table
cells and names, point labels (legend and hover tooltip), snapshot keys and JSON values, the
request snapshot, vital keys and command errors."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.helpers import create_run, event, rows
from tests.e2e.widgets import XSS, ObjectProducer, no_script_ran, open_run, snapshot
from tests.servers import ServerProcess

pytestmark = pytest.mark.e2e
ALERT = "<img src=x onerror=alert(1)>"


def hover_plot_center(page: Page) -> None:
    """Move the mouse to the middle of the scatter's plot area (inside its axis margins)."""
    margin = page.evaluate("async () => (await import('/static/js/scatter.js')).MARGIN")
    box = page.locator("#scatter canvas").bounding_box()
    assert box is not None
    x = box["x"] + margin["left"] + (box["width"] - margin["left"] - margin["right"]) / 2
    y = box["y"] + margin["top"] + (box["height"] - margin["top"] - margin["bottom"]) / 2
    page.mouse.move(x - 30, y - 30)
    page.mouse.move(x, y, steps=3)


def test_widget_text_is_literal_and_never_executes(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    hostile_snapshot = {
        "argv": ["train.py", "--name", XSS],
        "hostname": ALERT,
        "packages": {XSS: ALERT},
        "git": {"commit": XSS, "branch": ALERT, "dirty": True},
        XSS: ALERT,
    }
    run = create_run(api, "e2e", "hostile", snapshot=hostile_snapshot)
    producer = ObjectProducer(api, run["id"])
    producer.send_objects(
        points=rows([0, 1], **{f"sys/{ALERT}_percent": [1.0, 2.0]}),
        events=[event("birth", entity=7, size=1)],
        tables=[{"name": XSS, "rows": [{"name": XSS, ALERT: 1.5}, {"name": ALERT, ALERT: 2}]}],
        point_sets=[
            {
                "name": ALERT,
                "points": [
                    {"x": 0, "y": 0, "label": XSS, "note": ALERT},
                    {"x": 1, "y": 1, "label": "b"},
                    {"x": -1, "y": -1, "label": "c"},
                ],
            }
        ],
        snapshots=[snapshot(XSS, 0, {"html": XSS, ALERT: [XSS, {"deep": ALERT}]})],
    )
    open_run(page, server, run["id"])

    # Leaderboard: the table's name, column names and cells.
    board = page.locator("#leaderboard")
    expect(board.locator("tbody tr")).to_have_count(2)
    expect(board.locator("th").nth(1)).to_have_text(ALERT)
    expect(board.locator("tbody tr").first.locator("td").first).to_have_text(XSS)
    expect(board.locator(".lb-tab")).to_have_text(XSS)  # one tab, hidden while it is alone

    # Scatter: the legend and the hover tooltip.
    scatter = page.locator("#scatter")
    expect(scatter).to_have_attribute("data-count", "3")
    expect(scatter.locator(".scatter-key-name").first).to_have_text(XSS)
    expect(scatter.locator(".scatter-set option")).to_have_text(ALERT)
    hover_plot_center(page)
    tip = scatter.locator(".scatter-tip")
    expect(tip).to_be_visible()
    expect(scatter).to_have_attribute("data-hover", "0")
    expect(tip).to_contain_text(f"label{XSS}")
    expect(tip).to_contain_text(f"note{ALERT}")

    # Snapshots: the key and the JSON tree's keys and values.
    expect(page.locator("#snap-key option")).to_have_text(XSS)
    tree = page.locator("#snapshots .json-tree")
    expect(tree).to_contain_text(f'html: "{XSS.replace(chr(34), chr(92) + chr(34))}"')
    expect(tree.locator(".jt-key", has_text=ALERT)).to_have_count(1)
    expect(tree).to_contain_text(f'deep: "{ALERT}"')

    # The request snapshot.
    page.locator("#env-panel summary").click()
    env = page.locator("#request-snapshot")
    expect(env.locator('dd[data-field="command"]')).to_have_text(f"train.py --name {XSS}")
    expect(env.locator('dd[data-field="host"]')).to_have_text(ALERT)
    expect(env.locator(".pkg")).to_have_text(f"{XSS} {ALERT}")
    expect(env.locator(f'dd[data-field="{XSS.replace(chr(34), chr(92) + chr(34))}"]')).to_have_text(
        ALERT
    )
    expect(env.locator(".git-branch")).to_have_text(f" on {ALERT}")

    # A vital whose key is markup.
    expect(page.locator("#vitals .vital-label")).to_have_text(f"{ALERT}")

    # A command whose error is markup.
    cmd = api.post(
        f"/api/v1/runs/{run['id']}/commands", json={"kind": "deprecate", "payload": {"entity": 7}}
    ).json()
    producer.send_objects(
        commands=[{"id": cmd["id"], "state": "failed", "error": f"ValueError: {XSS}"}]
    )
    chip = page.locator('#event-feed .event[data-entity="7"] .ev-cmd')
    expect(chip).to_have_attribute("data-state", "failed")
    expect(chip).to_have_text(f"deprecate failed: ValueError: {XSS}")

    assert no_script_ran(page)
    assert dialogs == []
    assert page.console_errors == []
