"""The run page's widgets in a real Chromium: vitals sparklines, the event feed's filters and
entity history, the snapshot scrubber, leaderboards and the scatter, hydrated from /state and
kept current by live deltas."""

from __future__ import annotations

import math
import re

import httpx
import pytest
from playwright.sync_api import Page, WebSocketRoute, expect

from tests.e2e.helpers import create_run, event, rows
from tests.e2e.widgets import (
    ObjectProducer,
    open_run,
    painted_pixels,
    snapshot,
    wait_painted,
)
from tests.servers import ServerProcess

pytestmark = pytest.mark.e2e
RUN_SOCKET = re.compile(r"/api/v1/runs/[^/]+/live")


def vital(page: Page, key: str):  # type: ignore[no-untyped-def]
    return page.locator(f'#vitals .vital[data-key="{key}"]')


def test_vitals_bar_draws_sparklines_and_follows_live_samples(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    run = create_run(api, "e2e", "vitals")
    producer = ObjectProducer(api, run["id"])
    steps = range(150)
    producer.send_objects(
        points=rows(
            steps,
            **{
                "sys/cpu_percent": [40 + 10 * math.sin(s / 7) for s in steps[:-1]] + [42.54],
                "sys/rss_mb": [900 + s for s in steps[:-1]] + [1234.4],
                "throughput": [float(s) for s in steps],
                "not_a_vital": [1.0] * 150,
            },
        ),
        vitals=["throughput"],
    )
    open_run(page, server, run["id"])

    cards = page.locator("#vitals .vital")
    expect(cards).to_have_count(3)  # the marked key first, then the system vitals
    keys = cards.evaluate_all("els => els.map(e => e.dataset.key)")
    assert keys == ["throughput", "sys/cpu_percent", "sys/rss_mb"]
    expect(vital(page, "sys/cpu_percent")).to_have_attribute("data-samples", "120")
    expect(vital(page, "sys/cpu_percent").locator(".vital-label")).to_have_text("cpu")
    expect(vital(page, "sys/cpu_percent").locator(".vital-value")).to_have_text("42.5%")
    expect(vital(page, "sys/rss_mb").locator(".vital-value")).to_have_text("1,234 MB")
    expect(vital(page, "throughput").locator(".vital-value")).to_have_text("149")
    canvas = '#vitals .vital[data-key="sys/cpu_percent"] canvas'
    wait_painted(page, canvas)
    before = page.locator(canvas).evaluate("c => c.toDataURL()")

    # Live: a new sample moves the line and the value; the window stays 120 samples wide.
    producer.send(rows([150], **{"sys/cpu_percent": [99.0], "sys/gpu0_util": [73.0]}))
    expect(vital(page, "sys/cpu_percent").locator(".vital-value")).to_have_text("99.0%")
    expect(vital(page, "sys/cpu_percent")).to_have_attribute("data-samples", "120")
    page.wait_for_function(
        "([sel, old]) => document.querySelector(sel).toDataURL() !== old", arg=[canvas, before]
    )
    # A system vital first seen live gets its card, with its unit.
    expect(vital(page, "sys/gpu0_util").locator(".vital-value")).to_have_text("73.0%")
    expect(vital(page, "sys/gpu0_util")).to_have_attribute("data-samples", "1")
    producer.send(rows([151], **{"sys/records_per_s": [12345.0]}))
    expect(vital(page, "sys/records_per_s").locator(".vital-value")).to_have_text("12.3k/s")
    assert painted_pixels(page, '#vitals .vital[data-key="sys/rss_mb"] canvas') > 20
    assert page.console_errors == []


def test_feed_filters_by_kind_and_an_entity_opens_its_history(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    run = create_run(api, "e2e", "structures")
    producer = ObjectProducer(api, run["id"])
    producer.send(
        events=[
            event("birth", entity=47, size=12),
            event("birth", entity=48, size=3),
            event("merge", entity=47, into=3),
            event("reject", entity=99, reason="duplicate"),
            event("deprecate", entity=12, reason="low utility"),
            event("grad spike", level="warning", value=17.2),
            event("oom", level="error", device="cuda:0"),
        ]
    )
    open_run(page, server, run["id"])
    feed = page.locator("#event-feed")
    expect(feed.locator(".event")).to_have_count(8)  # plus the "running" status event

    # Distinct accents: birth, deprecate, reject, error, warning each have their own colour.
    tones = {}
    for kind in ("birth", "deprecate", "reject", "oom", "grad spike"):
        row = feed.locator(f'.event[data-kind="{kind}"]').first
        tones[kind] = row.evaluate("e => getComputedStyle(e).borderLeftColor")
    assert len(set(tones.values())) == 5, tones

    kinds = page.locator("#feed-kind option").evaluate_all("os => os.map(o => o.value)")
    assert kinds == ["", "birth", "deprecate", "grad spike", "merge", "oom", "reject", "status"]
    page.select_option("#feed-kind", "birth")
    visible = feed.locator(".event:visible")
    expect(visible).to_have_count(2)
    assert visible.evaluate_all("els => els.map(e => e.dataset.kind)") == ["birth", "birth"]
    producer.send(events=[event("birth", entity=50), event("split", entity=47, children=[51])])
    expect(visible).to_have_count(3)  # a live row of the chosen kind shows; the split does not
    page.fill("#feed-filter", "#48")  # the text filter narrows within the kind
    expect(visible).to_have_count(1)
    page.fill("#feed-filter", "")
    page.select_option("#feed-kind", "")
    expect(visible).to_have_count(10)

    # An entity opens its history: every event of #47, oldest first, live afterwards.
    feed.locator('.event[data-kind="merge"] .ev-entity').click()
    panel = page.locator("#entity-panel")
    expect(panel).to_be_visible()
    expect(panel.locator(".eh-title")).to_have_text("Entity #47")
    history = panel.locator(".eh-event")
    expect(history).to_have_count(3)
    assert history.evaluate_all("els => els.map(e => e.dataset.kind)") == [
        "birth",
        "merge",
        "split",
    ]
    expect(history.first).to_contain_text("size=12")
    producer.send(events=[event("deprecate", entity=47, reason="merged away")])
    expect(history).to_have_count(4)
    expect(history.last).to_have_attribute("data-kind", "deprecate")
    panel.locator(".eh-close").click()
    expect(panel).to_be_hidden()

    feed.locator('.event[data-entity="99"] .ev-entity').click()
    expect(panel.locator(".eh-title")).to_have_text("Entity #99")
    expect(history).to_have_count(1)
    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    assert page.console_errors == []


def test_scrubber_moves_through_kept_versions_and_grows_live(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    run = create_run(api, "e2e", "footprints")
    producer = ObjectProducer(api, run["id"])
    # Steps 0..4 are all kept: first, then ages 1, 2 and 4, and step 3 because it changed.
    producer.send_objects(
        snapshots=[snapshot("footprint", s, [k * (s + 1) for k in range(5)]) for s in range(5)]
        + [snapshot("matrix", 0, [[r * 4 + c for c in range(4)] for r in range(3)])]
    )
    open_run(page, server, run["id"])
    panel = page.locator("#snapshot-panel")
    expect(panel).to_be_visible()
    keys = page.locator("#snap-key option").evaluate_all("os => os.map(o => o.value)")
    assert keys == ["footprint", "matrix"]
    where = panel.locator(".snap-where")
    view = panel.locator(".snap-view")
    slider = panel.locator(".snap-range")
    expect(where).to_have_text("v5 · step 4")  # the newest version first
    expect(view).to_have_attribute("data-version", "5")
    expect(view).to_have_attribute("data-kind", "line")
    expect(view.locator(".snap-caption")).to_have_text("5 values · min 0 · max 20")
    expect(slider).to_have_attribute("max", "4")

    # Drag the thumb to the far left: the oldest version is fetched and drawn.
    box = slider.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] - 6, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, steps=4)
    page.mouse.move(box["x"] + 1, box["y"] + box["height"] / 2, steps=4)
    page.mouse.up()
    expect(where).to_have_text("v1 · step 0")
    expect(view).to_have_attribute("data-version", "1")
    expect(view.locator(".snap-caption")).to_have_text("5 values · min 0 · max 4")
    wait_painted(page, "#snapshot-panel .snap-view canvas")
    slider.press("ArrowRight")
    expect(where).to_have_text("v2 · step 1")
    expect(view).to_have_attribute("data-step", "1")
    expect(view.locator(".snap-caption")).to_have_text("5 values · min 0 · max 8")

    # A new version extends the slider without moving a thumb someone placed.
    producer.send_objects(snapshots=[snapshot("footprint", 8, [0, 1, 2, 3, 99])])
    expect(slider).to_have_attribute("max", "5")
    expect(panel.locator(".snap-position")).to_contain_text("2 / 6")
    expect(where).to_have_text("v2 · step 1")
    slider.press("End")
    expect(where).to_have_text("v6 · step 8")
    expect(view.locator(".snap-caption")).to_have_text("5 values · min 0 · max 99")
    # ... and a thumb at the newest version follows the next one.
    producer.send_objects(snapshots=[snapshot("footprint", 16, [5, 5, 5, 5, 5])])
    expect(where).to_have_text("v7 · step 16")
    expect(view).to_have_attribute("data-version", "7")

    page.select_option("#snap-key", "matrix")
    expect(view).to_have_attribute("data-kind", "heatmap")
    expect(view.locator(".snap-caption")).to_contain_text("3 \u00d7 4")
    expect(slider).to_be_disabled()  # one version: nothing to scrub
    wait_painted(page, "#snapshot-panel .snap-view canvas")
    assert page.console_errors == []


LEADERS = [
    {"genome": "alpha", "fitness": 0.5, "size": 3, "drift": 0.00005, "note": "seed"},
    {"genome": "Delta", "fitness": 2, "size": 10, "drift": 0},
    {"genome": "beta", "fitness": 0.123456, "size": -1, "drift": -0.25, "note": "mutant"},
    {"genome": "charlie", "fitness": 1.5, "size": 200, "drift": 3.14159},
]


def column(page: Page, name: str) -> list[str]:
    cells: list[str] = page.locator("#leaderboard table.leaderboard").evaluate(
        """(t, name) => {
            const i = [...t.querySelectorAll('th')].findIndex(th => th.dataset.col === name);
            return [...t.querySelectorAll('tbody tr')].map(r => r.children[i].textContent);
        }""",
        name,
    )
    return cells


def test_leaderboard_sorts_both_ways_with_number_formats_and_updates_live(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    run = create_run(api, "e2e", "leaders")
    producer = ObjectProducer(api, run["id"])
    open_run(page, server, run["id"])
    expect(page.locator("#leaderboard .lb-empty")).to_contain_text('run.table("leaderboard", rows)')

    producer.send_objects(tables=[{"name": "leaderboard", "rows": LEADERS}])
    table = page.locator("#leaderboard table.leaderboard")
    expect(table.locator("tbody tr")).to_have_count(4)
    expect(page.locator("#leaderboard .lb-empty")).to_be_hidden()
    expect(page.locator("#lb-count")).to_have_text("4 rows")
    headers = table.locator("th").evaluate_all("els => els.map(e => e.dataset.col)")
    assert headers == ["genome", "fitness", "size", "drift", "note"]  # the first row's order
    assert column(page, "fitness") == ["0.5000", "2", "0.1235", "1.5000"]
    assert column(page, "drift") == ["5.00e-5", "0", "-0.2500", "3.1416"]
    assert column(page, "note") == ["seed", "—", "mutant", "—"]
    align = table.locator("td.num").first.evaluate("e => getComputedStyle(e).textAlign")
    assert align == "right"
    numeric = table.locator("td.num").first.evaluate("e => getComputedStyle(e).fontVariantNumeric")
    assert "tabular-nums" in numeric

    size = table.locator('th[data-col="size"]')
    size.click()  # descending first, numerically (as text, "3" would beat "200")
    expect(size).to_have_attribute("aria-sort", "descending")
    assert column(page, "size") == ["200", "10", "3", "-1"]
    size.click()
    expect(size).to_have_attribute("aria-sort", "ascending")
    assert column(page, "size") == ["-1", "3", "10", "200"]
    genome = table.locator('th[data-col="genome"]')
    genome.click()  # text by localeCompare: "Delta" sorts among the d's, not before "alpha"
    expect(genome).to_have_attribute("aria-sort", "descending")
    expect(size).to_have_attribute("aria-sort", "none")
    assert column(page, "genome") == ["Delta", "charlie", "beta", "alpha"]
    genome.click()
    assert column(page, "genome") == ["alpha", "beta", "charlie", "Delta"]
    note = table.locator('th[data-col="note"]')
    note.click()  # rows without the value stay last, whichever the direction
    assert column(page, "note") == ["seed", "mutant", "—", "—"]
    note.click()
    assert column(page, "note") == ["mutant", "seed", "—", "—"]

    # Live: a replace keeps the chosen order; an appended table (a second tab) keeps max_rows.
    producer.send_objects(
        tables=[{"name": "leaderboard", "rows": [{"genome": "omega", "fitness": 9, "size": 1}]}]
    )
    expect(table.locator("tbody tr")).to_have_count(1)
    for i in range(3):
        producer.send_objects(
            tables=[
                {
                    "name": "history",
                    "mode": "append",
                    "max_rows": 4,
                    "rows": [{"gen": 2 * i}, {"gen": 2 * i + 1}],
                }
            ]
        )
    tabs = page.locator("#leaderboard .lb-tab")
    expect(tabs).to_have_count(2)
    page.locator('#leaderboard .lb-tab[data-name="history"]').click()
    expect(table.locator("tbody tr")).to_have_count(4)
    assert column(page, "gen") == ["2", "3", "4", "5"]
    assert page.console_errors == []


def test_scatter_replace_clears_and_append_accumulates(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    run = create_run(api, "e2e", "embedding")
    producer = ObjectProducer(api, run["id"])
    open_run(page, server, run["id"])
    expect(page.locator("#scatter-panel")).to_be_hidden()

    def points(n: int, offset: int = 0) -> list[dict[str, object]]:
        return [
            {"x": math.cos(i), "y": math.sin(i) * i / 10, "cluster": f"c{i % 3}", "i": i + offset}
            for i in range(n)
        ]

    scatter = page.locator("#scatter")
    producer.send_objects(point_sets=[{"name": "emb", "points": points(50)}])
    expect(page.locator("#scatter-panel")).to_be_visible()
    expect(scatter).to_have_attribute("data-count", "50")
    expect(scatter.locator(".scatter-key")).to_have_count(3)
    expect(scatter.locator(".scatter-key").first).to_contain_text("c0")
    wait_painted(page, "#scatter canvas", 200)
    producer.send_objects(
        point_sets=[{"name": "emb", "points": points(30, 1000), "replace": False}]
    )
    expect(scatter).to_have_attribute("data-count", "80")
    producer.send_objects(point_sets=[{"name": "emb", "points": points(20), "replace": True}])
    expect(scatter).to_have_attribute("data-count", "20")
    expect(scatter).to_have_attribute("data-version", "3")
    # Appending past a small cap keeps only the newest `cap` points.
    producer.send_objects(
        point_sets=[{"name": "emb", "points": points(40, 2000), "replace": False, "cap": 25}]
    )
    expect(scatter).to_have_attribute("data-count", "25")
    server_set = api.get(f"/api/v1/runs/{run['id']}/points/emb").json()
    assert len(server_set["points"]) == 25
    assert page.console_errors == []


def populate(producer: ObjectProducer) -> None:
    """One run with something in every panel."""
    steps = range(200)
    producer.send_objects(
        points=rows(
            steps,
            loss=[2 * math.exp(-s / 60) for s in steps],
            **{"sys/cpu_percent": [50 + 20 * math.sin(s / 9) for s in steps]},
        ),
        events=[event("birth", entity=1, size=4), event("reject", entity=2, reason="dup")],
        tables=[{"name": "leaderboard", "rows": LEADERS}],
        point_sets=[
            {"name": "emb", "points": [{"x": i, "y": i % 7, "cluster": i % 3} for i in range(90)]}
        ],
        snapshots=[snapshot("hist", s, [s, s * 2, s * 4 + 1]) for s in range(3)],
        vitals=["loss"],
    )


def test_refresh_mid_run_fills_every_panel_from_state_alone(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    snap = {"argv": ["train.py", "--lr", "3e-4"], "hostname": "gpu-7", "python": "3.11.9"}
    run = create_run(api, "e2e", "refreshed", snapshot=snap)
    producer = ObjectProducer(api, run["id"])
    populate(producer)
    open_run(page, server, run["id"])
    expect(page.locator("#scatter")).to_have_attribute("data-count", "90")

    # Reload with the run socket held by the test: it opens, but no delta can ever arrive.
    held: list[WebSocketRoute] = []
    page.route_web_socket(RUN_SOCKET, lambda ws: held.append(ws))
    page.reload()
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    assert len(held) == 1
    expect(page.locator("#vitals .vital")).to_have_count(2)
    expect(page.locator('#vitals .vital[data-key="sys/cpu_percent"]')).to_have_attribute(
        "data-samples", "120"
    )
    expect(page.locator("#leaderboard tbody tr")).to_have_count(4)
    expect(page.locator("#scatter")).to_have_attribute("data-count", "90")
    expect(page.locator("#snapshot-panel .snap-view")).to_have_attribute("data-version", "3")
    expect(page.locator("#event-feed .event")).to_have_count(3)
    expect(page.locator("#charts .chart")).to_have_count(2)
    expect(page.locator('#request-snapshot dd[data-field="command"]')).to_have_text(
        "train.py --lr 3e-4"
    )
    expect(page.locator('#request-snapshot dd[data-field="host"]')).to_have_text("gpu-7")

    # The proof that this came from /state: a delta sent now cannot reach the page.
    producer.send_objects(point_sets=[{"name": "emb", "points": [{"x": 0, "y": 0}]}])
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => r()))")
    expect(page.locator("#scatter")).to_have_attribute("data-count", "90")
    assert page.console_errors == []
