"""The run page in a real Chromium: hydration from /state, live deltas, bounds, safety."""

from __future__ import annotations

import math
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Locator, Page, WebSocket, expect

from tests.conftest import ARTIFACTS
from tests.e2e.helpers import Producer, create_run, event, rows, sdk_vitals
from tests.servers import ServerProcess

pytestmark = pytest.mark.e2e

XSS = '<img src=x onerror="window.__xss=1">'
ALERT = "<img src=x onerror=alert(1)>"


def open_run(page: Page, server: ServerProcess, run_id: str) -> None:
    page.goto(f"{server.url}/runs/{run_id}")
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")


def chart(page: Page, key: str) -> Locator:
    return page.locator(f'#charts .chart[data-key="{key}"]')


def chart_keys(page: Page) -> list[str]:
    keys: list[str] = page.locator("#charts .chart").evaluate_all(
        "els => els.map(e => e.dataset.key)"
    )
    return keys


def mark_document(page: Page) -> None:
    """Tag the current document, so a test can prove later that the page never reloaded."""
    page.evaluate("() => { window.__sameDocument = true; }")


def same_document(page: Page) -> bool:
    return page.evaluate("() => window.__sameDocument === true") is True


def test_charts_grow_live_and_the_badge_flips_when_the_run_ends(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    run = create_run(api, "e2e", "live-run")
    producer = Producer(api, run["id"])
    sockets: list[WebSocket] = []
    page.on("websocket", lambda ws: sockets.append(ws))
    page.clock.install()  # real time flows; run_for() below fast-forwards any pending retry
    open_run(page, server, run["id"])
    mark_document(page)
    expect(page.locator("#live-badge")).to_have_text("● live")
    expect(page.locator("#run-status")).to_have_text("running")
    expect(page.locator("#charts .chart")).to_have_count(0)

    for start in range(0, 30, 10):
        steps = range(start, start + 10)
        producer.send(rows(steps, loss=[1 / (s + 1) for s in steps], acc=[s / 30 for s in steps]))
    expect(chart(page, "loss")).to_have_attribute("data-points", "30")
    expect(chart(page, "acc")).to_have_attribute("data-points", "30")
    expect(chart(page, "loss").locator(".chart-value")).to_have_text("0.03333")

    producer.send(rows([30], grad=[0.5]))  # a key first seen live gets its own chart, in key order
    expect(chart(page, "grad")).to_have_attribute("data-points", "1")
    assert chart_keys(page) == ["acc", "grad", "loss"]
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    expect(page.locator("#live-badge")).to_have_text("● live")

    producer.finish("succeeded", exit_code=0)
    expect(page.locator("#live-badge")).to_have_text("● finished")
    expect(page.locator("#run-status")).to_have_text("succeeded")
    expect(page.locator("#run-status")).to_have_attribute("data-tone", "ok")
    expect(page.locator("#conn")).to_have_attribute("data-state", "closed")
    first = page.locator("#event-feed .event").first
    expect(first).to_have_attribute("data-kind", "status")
    expect(first).to_contain_text("state=succeeded")

    # run.closed means done: however long we wait, the run's stream is not opened again (the
    # runs feed of this one run follows its renames instead).
    page.clock.run_for(60_000)
    page.evaluate("() => 0")  # a round trip, so any socket opened by a timer has been reported
    assert [socket_of(ws.url) for ws in sockets] == ["run", "edits"]
    expect(page.locator("#conn")).to_have_attribute("data-state", "closed")
    assert same_document(page)
    assert page.console_errors == []


def socket_of(url: str) -> str:
    """Which socket a run page opened: its run's stream, or the runs feed of that one run
    (run-page.js follows a finished run's edits there)."""
    return "run" if "/api/v1/runs/" in url else "edits" if "/api/v1/live?run=" in url else url


def test_a_finished_run_opens_finished_and_stays_closed(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    run = create_run(api, "e2e", "done")
    producer = Producer(api, run["id"])
    producer.send(rows(range(3), loss=[3, 2, 1]))
    producer.finish("cancelled")
    sockets: list[WebSocket] = []
    page.on("websocket", lambda ws: sockets.append(ws))
    page.clock.install()
    page.goto(f"{server.url}/runs/{run['id']}")
    expect(page.locator("#live-badge")).to_have_text("● finished")
    expect(page.locator("#run-status")).to_have_text("cancelled")
    expect(page.locator("#run-status")).to_have_attribute("data-tone", "warn")
    expect(page.locator("#conn")).to_have_attribute("data-state", "closed")
    expect(chart(page, "loss")).to_have_attribute("data-points", "3")
    page.clock.run_for(60_000)
    page.evaluate("() => 0")
    assert [socket_of(ws.url) for ws in sockets] == ["run", "edits"]
    assert page.console_errors == []


def chart_grid(page: Page) -> list[str]:
    """The chart grid top to bottom: each chart's key, and "# System" for the system heading."""
    items: list[str] = page.locator("#charts > *").evaluate_all(
        "els => els.map(e => e.classList.contains('charts-group') ? `# ${e.textContent}` : e.dataset.key)"
    )
    return items


def test_the_sdks_system_charts_come_after_every_user_chart(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    run = create_run(api, "e2e", "vitals")
    producer = Producer(api, run["id"])
    vitals = sdk_vitals()
    system = sorted(vitals)
    assert "sys/cpu_percent" in system and "sys/records_per_s" in system
    producer.send(rows(range(3), loss=[3, 2, 1], **{k: [v] * 3 for k, v in vitals.items()}))
    open_run(page, server, run["id"])
    expect(page.locator("#charts .chart")).to_have_count(1 + len(system))
    assert chart_grid(page) == ["loss", "# System", *system]
    expect(page.locator("#charts > .charts-group")).to_be_visible()

    # The user's keys first seen live join the user's charts, above the system ones; so does a
    # key sorting after "sys/". A new vital joins the system charts.
    producer.send(rows([3], throughput=[120.0], **{"val/acc": [0.5], "zeta": [1.0]}))
    producer.send(rows([3], **{"sys/gpu0_util": [40.0]}))
    expect(page.locator("#charts .chart")).to_have_count(4 + len(system) + 1)
    system = sorted([*system, "sys/gpu0_util"])
    want = ["loss", "throughput", "val/acc", "zeta", "# System", *system]
    assert chart_grid(page) == want
    expect(page.locator("#chart-count")).to_have_text(f"{4 + len(system)} charts")

    page.reload()  # hydrated from /state: the same order
    expect(page.locator("#charts .chart")).to_have_count(4 + len(system))
    assert chart_grid(page) == want
    # So do the latest values, the user's first.
    latest = page.locator("#latest-values dt")
    expect(latest).to_have_text(["loss", "throughput", "val/acc", "zeta", *system])
    # The vitals bar still shows the system vitals, as it does on purpose.
    expect(page.locator("#vitals .vital")).to_have_count(len(system))
    vital_keys = page.locator("#vitals .vital").evaluate_all("els => els.map(e => e.dataset.key)")
    assert vital_keys == system
    assert page.console_errors == []


def test_many_charts_all_count_points_and_follow_the_window_width(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    run = create_run(api, "e2e", "wide")
    producer = Producer(api, run["id"])
    keys = [f"layer{i:02d}/norm" for i in range(24)]
    open_run(page, server, run["id"])
    producer.send(
        rows(range(40), **{k: [i * 0.1 + s for s in range(40)] for i, k in enumerate(keys)})
    )
    expect(page.locator("#charts .chart[data-points='40']")).to_have_count(24)
    assert chart_keys(page) == keys

    last = chart(page, keys[-1])
    last.scroll_into_view_if_needed()  # off-screen charts are drawn once they scroll into view
    expect(last.locator("canvas")).to_have_count(1)

    # Each chart fills its cell; when the window (and so the grid) changes, charts follow.
    fits = """w => [...document.querySelectorAll('#charts .chart')].slice(0, 2).every(c => {
        const plot = c.querySelector('.uplot');
        const cell = c.querySelector('.chart-plot').clientWidth;
        return plot && Math.abs(plot.getBoundingClientRect().width - cell) < 2 && Math.abs(cell - w) > 20;
    })"""
    page.evaluate("() => document.getElementById('charts').scrollTo(0, 0)")
    before = page.locator("#charts .chart .chart-plot").first.evaluate("e => e.clientWidth")
    page.wait_for_function(fits, arg=0)
    page.set_viewport_size({"width": 1100, "height": 800})
    page.wait_for_function(fits, arg=before)
    page.set_viewport_size({"width": 1600, "height": 900})
    page.wait_for_function(fits, arg=0)
    assert page.console_errors == []


def test_on_a_narrow_window_every_chart_is_whole(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    run = create_run(api, "e2e", "narrow")
    keys = ["acc", "loss", "lr"]
    Producer(api, run["id"]).send(
        rows(range(30), **{k: [0.1 * s for s in range(30)] for k in keys})
    )
    page.set_viewport_size({"width": 1000, "height": 700})  # one column: the page scrolls
    open_run(page, server, run["id"])
    expect(page.locator("#charts .chart[data-points='30']")).to_have_count(3)
    # Each chart lies wholly inside the charts panel, which clips what overflows it.
    clipped = page.evaluate(
        """() => {
            const panel = document.querySelector('.charts-panel').getBoundingClientRect();
            return [...document.querySelectorAll('#charts .chart')]
                .filter(c => c.getBoundingClientRect().bottom > panel.bottom + 0.5)
                .map(c => c.dataset.key);
        }"""
    )
    assert clipped == []
    assert page.console_errors == []


def test_a_failed_run_shows_its_error_text(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    run = create_run(api, "e2e", "doomed")
    open_run(page, server, run["id"])
    expect(page.locator("#run-error")).to_be_hidden()
    error = f"Traceback (most recent call last):\n  ...\nRuntimeError: {XSS}"
    Producer(api, run["id"]).finish("failed", error=error, exit_code=3)
    expect(page.locator("#run-status")).to_have_text("failed")
    expect(page.locator("#run-status")).to_have_attribute("data-tone", "bad")
    expect(page.locator("#run-error")).to_have_text(error)
    expect(page.locator('#run-meta [data-meta="exit code"] dd')).to_have_text("3")
    expect(page.locator("#event-feed .event").first).to_have_attribute("data-level", "error")
    assert page.evaluate("() => window.__xss") is None
    assert page.console_errors == []


def test_user_supplied_text_renders_literally_and_never_runs(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    run = create_run(
        api, "e2e", f"name {XSS}", tags=[XSS], config={"html": XSS, "nested": {XSS: ALERT}}
    )
    producer = Producer(api, run["id"])
    producer.send(events=[event(XSS, entity=XSS, note=XSS)])  # reaches the page through /state
    open_run(page, server, run["id"])
    producer.send(
        events=[event(ALERT, level="error", reason=ALERT, html=XSS)]
    )  # through the socket

    feed = page.locator("#event-feed")
    expect(feed.locator(".event")).to_have_count(3)  # plus the "running" status event
    expect(feed.locator(".event").first.locator(".ev-kind")).to_have_text(ALERT)
    expect(feed.locator(".event").first.locator(".ev-desc")).to_have_text(
        f"reason={ALERT}  html={XSS}"
    )
    expect(feed.locator(".event").nth(1).locator(".ev-kind")).to_have_text(XSS)
    expect(feed.locator(".event").nth(1).locator(".ev-entity")).to_have_text(f"#{XSS}")
    expect(feed).to_contain_text(f"note={XSS}")
    expect(page.locator("#run-name")).to_have_text(f"name {XSS}")
    expect(page.locator("#run-meta .tag")).to_have_text(XSS)
    expect(page.locator("#config")).to_contain_text(f"nested.{XSS}")
    expect(page.locator("#config")).to_contain_text(ALERT)

    assert page.locator("#event-feed img").count() == 0
    assert page.locator("img:not(.brand-mark)").count() == 0
    assert page.evaluate("() => window.__xss") is None
    assert dialogs == []
    assert page.console_errors == []


def test_non_finite_values_are_gaps_not_errors(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    run = create_run(api, "e2e", "unstable")
    producer = Producer(api, run["id"])
    values = [1.0, "nan", 0.5, "inf", 0.25, "-inf", 0.125]
    producer.send(rows(range(7), loss=values, broken=["nan"] * 7))  # hydrated from /state
    open_run(page, server, run["id"])
    expect(chart(page, "loss")).to_have_attribute("data-points", "7")
    expect(chart(page, "loss").locator(".chart-gaps")).to_have_text("3 gaps")
    expect(chart(page, "broken")).to_have_attribute("data-points", "7")
    expect(chart(page, "broken").locator(".chart-value")).to_have_text("NaN")

    producer.send(rows(range(7, 10), loss=["nan", 2.0, "inf"], broken=["-inf", "nan", "inf"]))
    expect(chart(page, "loss")).to_have_attribute("data-points", "10")
    expect(chart(page, "loss").locator(".chart-gaps")).to_have_text("5 gaps")
    expect(chart(page, "loss").locator(".chart-value")).to_have_text("+∞")
    expect(chart(page, "broken")).to_have_attribute("data-points", "10")
    expect(chart(page, "broken").locator(".chart-gaps")).to_have_text("10 gaps")
    expect(chart(page, "broken").locator("canvas")).to_have_count(1)
    assert page.console_errors == []


def test_the_feed_keeps_the_newest_500_events_newest_first(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    run = create_run(api, "e2e", "chatty")
    producer = Producer(api, run["id"])
    open_run(page, server, run["id"])
    for batch in range(6):
        producer.send(events=[event("tick", i=batch * 100 + j) for j in range(100)])

    items = page.locator("#event-feed .event")
    expect(items.first).to_contain_text("i=599")
    expect(items).to_have_count(500)
    expect(items.last).to_contain_text("i=100")
    seqs: list[int] = items.evaluate_all("els => els.map(e => Number(e.dataset.seq))")
    assert seqs == sorted(seqs, reverse=True)
    assert len(set(seqs)) == 500
    expect(page.locator("#feed-count")).to_have_text("latest 500")
    assert page.console_errors == []


def test_reload_mid_run_hydrates_from_state_then_keeps_streaming(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    run = create_run(api, "e2e", "reloaded", config={"lr": 0.001, "model": {"depth": 4}})
    producer = Producer(api, run["id"])
    steps = range(50)
    producer.send(
        rows(steps, loss=[math.exp(-s / 10) for s in steps]),
        events=[event("checkpoint", step=s) for s in range(0, 50, 10)],
    )
    open_run(page, server, run["id"])
    expect(chart(page, "loss")).to_have_attribute("data-points", "50")

    frames: list[str | bytes] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda f: frames.append(f)))
    page.reload()
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    # Everything on screen came from /state: the new socket has not delivered a single frame.
    expect(chart(page, "loss")).to_have_attribute("data-points", "50")
    expect(page.locator("#event-feed .event")).to_have_count(6)
    expect(page.locator("#config")).to_contain_text("model.depth")
    assert frames == []

    producer.send(rows(range(50, 60), loss=[0.01] * 10), events=[event("checkpoint", step=60)])
    expect(chart(page, "loss")).to_have_attribute("data-points", "60")
    expect(page.locator("#event-feed .event")).to_have_count(7)
    expect(page.locator('#run-meta [data-meta="step"] dd')).to_have_text("59")
    assert frames, "the deltas after the reload came over the socket"
    assert page.console_errors == []


def test_charts_stay_bounded_at_5000_points(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    run = create_run(api, "e2e", "long")
    producer = Producer(api, run["id"])
    open_run(page, server, run["id"])
    for k in range(7):
        steps = range(k * 1000, (k + 1) * 1000)
        producer.send(rows(steps, loss=[math.sin(s / 300) for s in steps]))
    loss = chart(page, "loss")
    expect(loss.locator(".chart-where")).to_have_text("step 6,999")
    points = int(loss.get_attribute("data-points") or 0)
    assert 2500 <= points <= 5000
    # The header's step is exact, as the run's is: not rounded to a tick's "200k".
    producer.send(rows([199_999], loss=[0.5]))
    expect(loss.locator(".chart-where")).to_have_text("step 199,999")
    expect(page.locator('#run-meta [data-meta="step"] dd')).to_have_text("199,999")
    assert page.console_errors == []


def test_token_is_sent_and_an_auth_failure_stops_live_updates(page: Page, tmp_path: Path) -> None:
    proc = ServerProcess(tmp_path / "data", token="first-token").start()
    try:
        with proc.client() as client:
            run = create_run(client, "e2e", "private")
            page.goto(f"{proc.url}/runs/{run['id']}")
            expect(page.locator("#conn")).to_have_attribute("data-state", "error")
            expect(page.locator("#page-error")).to_contain_text("token")

            page.evaluate("t => sessionStorage.setItem('runwatch_token', t)", "first-token")
            sockets: list[WebSocket] = []
            page.on("websocket", lambda ws: sockets.append(ws))
            page.clock.install()
            page.reload()
            expect(page.locator("#conn")).to_have_attribute("data-state", "live")
            expect(page.locator("#page-error")).to_be_hidden()
            assert "token=first-token" in sockets[0].url
            Producer(client, run["id"]).send(rows(range(5), loss=[1, 2, 3, 4, 5]))
            expect(chart(page, "loss")).to_have_attribute("data-points", "5")

        # The server comes back with another token: the page's token is now refused. The page's
        # clock is paused meanwhile, so its reconnect attempt happens only once the server is up.
        page.clock.pause_at(page.evaluate("() => Date.now()") + 1000)
        proc.token = "second-token"
        proc.restart()
        page.clock.run_for(10_000)  # fire the reconnect timer now instead of waiting for it
        expect(page.locator("#conn")).to_have_attribute("data-state", "error")
        expect(page.locator("#page-error")).to_contain_text("token")
        opened = len(sockets)
        page.clock.run_for(120_000)
        page.evaluate("() => 0")
        assert len(sockets) == opened, "an auth failure must not be retried"
        expect(page.locator("#conn")).to_have_attribute("data-state", "error")
        # Chromium logs the refused handshake and the 401s itself; nothing else may appear.
        unexpected = [e for e in page.console_errors if "401" not in e and "403" not in e]
        assert unexpected == []
    finally:
        proc.stop()


def grad_norm(step: int) -> float:
    """A deterministic, noisy-looking curve (no RNG: screenshots stay comparable)."""
    return (
        1 + 0.25 * math.sin(step / 37) + 0.12 * math.sin(step * 1.3) + 0.08 * math.sin(step * 7.1)
    )


def test_screenshot_of_a_busy_run_page(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    config = {
        "lr": 3e-4,
        "batch_size": 128,
        "optimizer": {"name": "adamw", "betas": [0.9, 0.999], "weight_decay": 0.01},
        "model": {"arch": "resnet18", "width": 64, "dropout": 0.1},
        "seed": 7,
    }
    run = create_run(
        api, "vision", "resnet18-lr3e-4", group="sweep-7", tags=["baseline", "a100"], config=config
    )
    producer = Producer(api, run["id"])
    steps = range(0, 1200)
    producer.send(
        rows(
            steps,
            **{
                "train/loss": [2.3 * math.exp(-s / 300) + 0.04 * math.sin(s * 1.7) for s in steps],
                "train/acc": [1 - 0.9 * math.exp(-s / 250) for s in steps],
                "lr": [3e-4 * min(1.0, s / 100) for s in steps],
                "grad_norm": [grad_norm(s) if s % 211 else "nan" for s in steps],
            },
        ),
        events=[
            event("birth", entity=47, size=12, parent=3),
            event("merge", entity="n-12", into="n-3", similarity=0.93),
            event("checkpoint", path="/ckpt/step-1000.pt", size_mb=44.7),
            event("split", entity=3, children=[48, 49]),
            event("grad spike", level="warning", value=17.2, step=844),
            event("deprecate", entity=12, reason="low utility"),
            event("reject", entity=99, reason="duplicate genome"),
        ],
    )
    open_run(page, server, run["id"])
    more = range(1200, 1300)
    producer.send(
        rows(more, **{"train/loss": [0.2] * 100, "val/loss": [0.3] * 100}),
        events=[event("oom", level="error", device="cuda:0", allocated_gb=39.5)],
    )
    expect(chart(page, "val/loss")).to_have_attribute("data-points", "100")
    expect(page.locator("#event-feed .event")).to_have_count(9)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "run-page.png"))
    assert page.console_errors == []


def test_an_unknown_run_says_so(page: Page, server: ServerProcess) -> None:
    page.goto(f"{server.url}/runs/does-not-exist")
    expect(page.locator("#conn")).to_have_attribute("data-state", "error")
    expect(page.locator("#page-error")).to_have_text("No run with id “does-not-exist”.")
    # The only console line is Chromium's own report of the 404 answer.
    assert all("404" in e for e in page.console_errors)
