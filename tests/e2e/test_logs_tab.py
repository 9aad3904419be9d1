"""The run page's Logs tab in a real Chromium: a live tail of a launched worker, stderr in red,
search and stream filters, autoscroll that pauses and resumes, the 5,000-line bound, literal text."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, Request, expect

import runwatch
from runwatch.sdk.run import Run
from tests.conftest import ARTIFACTS
from tests.e2e.launched import (
    XSS,
    Launch,
    line_numbers,
    log_rows,
    open_tab,
    scroll_gap,
    settled_scroll_top,
    visible_texts,
)
from tests.servers import ServerProcess, wait_until

pytestmark = pytest.mark.e2e

RED = "rgb(248, 113, 113)"  # --bad
NEAR_END_PX = 24

LIVE_WORKER = """
    import os, sys, time
    go = os.path.join(os.environ["RUNWATCH_RUN_DIR"], "go")
    print("worker ready: 4 shards, batch size 256", flush=True)
    print("warning: shard 3 is missing, continuing with 3", file=sys.stderr, flush=True)
    while not os.path.exists(go):
        time.sleep(0.05)  # the worker idles until the test says go
    for epoch in range(40):
        print(f"epoch {epoch:02d}  loss={1 / (epoch + 1):.4f}  lr=3e-4", flush=True)
        if epoch % 10 == 9:
            print(f"grad-norm spike at epoch {epoch}: 41.7 > 10.0", file=sys.stderr, flush=True)
        time.sleep(0.02)  # an epoch's pacing
    print("training done: best loss 0.0250", flush=True)
"""


def has_line(api: httpx.Client, run_id: str, number: int) -> bool:
    """The server holds line ``number`` (or a newer one: lines are numbered without gaps)."""
    params = {"after": number - 1, "limit": 1}
    response = api.get(f"/api/v1/runs/{run_id}/logs", params=params)
    # 404 until the SDK's sender has created the run on the server.
    return response.status_code == 200 and bool(response.json()["lines"])


class SdkLog:
    """A run that writes log lines through the SDK's ``write_log``, as the launcher does."""

    def __init__(self, run: Run, api: httpx.Client) -> None:
        self.run = run
        self.id = run.id
        self.api = api
        self.written = 0

    def write(self, lines: list[tuple[str, str]]) -> None:
        """Write the lines and wait until the server holds them all."""
        for stream, text in lines:
            self.run.write_log(stream, text)
        self.written += len(lines)
        wait_until(lambda: has_line(self.api, self.id, self.written), 30, what="the log lines")


@pytest.fixture
def sdk_log(server: ServerProcess, api: httpx.Client, tmp_path: Path) -> Iterator[SdkLog]:
    run = runwatch.init(project="e2e", name="logs", url=server.url, run_dir=tmp_path / "run")
    # The sender creates the run in the background: a page opened before that would be a 404.
    wait_until(lambda: api.get(f"/api/v1/runs/{run.id}").status_code == 200, 30, what="the run")
    yield SdkLog(run, api)
    run.finish()


def test_the_live_tail_follows_a_running_launched_worker_with_stderr_in_red(
    page: Page, server: ServerProcess, api: httpx.Client, tmp_path: Path
) -> None:
    launch = Launch(server, tmp_path, LIVE_WORKER, "tail")
    try:
        run = launch.run(api)
        wait_until(lambda: has_line(api, run["id"], 2), 30, what="the worker's first lines")
        open_tab(page, server, run["id"], "logs")
        expect(log_rows(page)).to_have_count(2)  # hydrated from /logs
        page.evaluate("() => { window.__sameDocument = true; }")
        (launch.run_dir / "go").touch()

        expect(log_rows(page)).to_have_count(47)  # 1 + 1 + 40 + 4 + 1, all live
        assert launch.wait() == 0
    finally:
        launch.close()
    expect(page.locator("#run-status")).to_have_text("succeeded")
    assert page.evaluate("() => window.__sameDocument") is True
    assert line_numbers(page) == list(range(1, 48))
    assert "training done: best loss 0.0250" in visible_texts(page)
    stderr = page.locator("#logs-view .log-line.log-stderr")
    expect(stderr).to_have_count(5)
    expect(stderr.first).to_have_attribute("data-stream", "stderr")
    assert (
        stderr.locator(".log-text").evaluate_all("els => els.map(e => getComputedStyle(e).color)")
        == [RED] * 5
    )
    plain = page.locator("#logs-view .log-line:not(.log-stderr) .log-text").first
    assert plain.evaluate("e => getComputedStyle(e).color") != RED
    assert scroll_gap(page) < NEAR_END_PX  # it followed the newest line
    expect(page.locator("#logs-tab-count")).to_have_text("47")
    expect(page.locator("#logs-view .logs-jump")).to_be_hidden()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "logs-tab.png"))
    assert page.console_errors == []


def test_search_and_stream_filters_narrow_the_lines_live(
    page: Page, server: ServerProcess, api: httpx.Client, sdk_log: SdkLog
) -> None:
    lines = []
    for step in range(30):
        lines.append(("stdout", f"step {step} loss={1 / (step + 1):.3f}"))
        if step % 10 == 5:
            lines.append(("stderr", f"Warning: NaN in layer {step} (nan count 3)"))
    sdk_log.write(lines)
    open_tab(page, server, sdk_log.id, "logs")
    expect(log_rows(page)).to_have_count(33)

    search = page.locator("#logs-view .logs-search")
    search.fill("nan")  # case-insensitive
    expect(page.locator("#logs-view .log-line:not([hidden])")).to_have_count(3)
    assert visible_texts(page) == [f"Warning: NaN in layer {s} (nan count 3)" for s in (5, 15, 25)]
    hits = page.locator("#logs-view .log-line:not([hidden]) .log-hit")
    assert hits.all_text_contents() == ["NaN", "nan"] * 3
    expect(page.locator("#logs-view .logs-count")).to_have_text("3 of 33 lines")

    # A line arriving while the search is on is filtered (and marked) the same way.
    sdk_log.write([("stdout", "step 30 loss=0.032"), ("stderr", "nan again")])
    expect(log_rows(page)).to_have_count(4)  # the page holds the matches only
    expect(page.locator("#logs-view .logs-count")).to_have_text("4 of 35 lines")

    search.fill("")
    expect(page.locator("#logs-view .log-line:not([hidden])")).to_have_count(35)
    expect(page.locator("#logs-view .log-hit")).to_have_count(0)

    page.locator('#logs-view .seg-button[data-stream="stderr"]').click()
    expect(page.locator('#logs-view .seg-button[data-stream="stderr"]')).to_have_attribute(
        "aria-pressed", "true"
    )
    expect(page.locator("#logs-view .log-line:not([hidden])")).to_have_count(4)
    assert (
        page.locator("#logs-view .log-line:not([hidden])").evaluate_all(
            "rows => rows.every(r => r.dataset.stream === 'stderr')"
        )
        is True
    )

    page.locator('#logs-view .seg-button[data-stream="stdout"]').click()
    expect(page.locator("#logs-view .log-line:not([hidden])")).to_have_count(31)
    search.fill("Warning")
    expect(page.locator("#logs-view .log-line:not([hidden])")).to_have_count(0)
    expect(page.locator("#logs-view .logs-empty")).to_have_text("No stdout line matches “Warning”.")

    page.locator('#logs-view .seg-button[data-stream="all"]').click()
    expect(page.locator("#logs-view .log-line:not([hidden])")).to_have_count(3)
    expect(page.locator("#logs-view .logs-empty")).to_be_hidden()
    assert page.console_errors == []


def test_autoscroll_pauses_when_scrolled_up_and_the_button_resumes_it(
    page: Page, server: ServerProcess, api: httpx.Client, sdk_log: SdkLog
) -> None:
    sdk_log.write([("stdout", f"line {i}") for i in range(1, 201)])
    open_tab(page, server, sdk_log.id, "logs")
    expect(log_rows(page)).to_have_count(200)
    scroller = page.locator("#logs-view .logs-scroll")
    jump = page.locator("#logs-view .logs-jump")
    page.wait_for_function(
        "() => { const s = document.querySelector('#logs-view .logs-scroll');"
        " return s.scrollHeight - s.scrollTop - s.clientHeight < 24; }"
    )
    expect(jump).to_be_hidden()

    scroller.hover()
    page.mouse.wheel(0, -1500)  # the reader scrolls up to older lines
    expect(jump).to_be_visible()
    top = settled_scroll_top(page)
    sdk_log.write([("stdout", f"line {i}") for i in range(201, 251)])
    expect(log_rows(page)).to_have_count(250)
    expect(jump).to_have_text("↓ Jump to latest (50 new)")
    assert scroller.evaluate("s => s.scrollTop") == top  # the reader's place did not move
    assert scroll_gap(page) > 1000

    jump.click()
    expect(jump).to_be_hidden()
    assert scroll_gap(page) < NEAR_END_PX
    sdk_log.write([("stdout", f"line {i}") for i in range(251, 301)])
    expect(log_rows(page)).to_have_count(300)
    page.wait_for_function(
        "() => { const s = document.querySelector('#logs-view .logs-scroll');"
        " return s.scrollHeight - s.scrollTop - s.clientHeight < 24; }"
    )

    # Scrolling back to the end by keyboard resumes following too.
    scroller.hover()
    page.mouse.wheel(0, -800)
    expect(jump).to_be_visible()
    scroller.focus()
    page.keyboard.press("End")
    expect(jump).to_be_hidden()
    assert page.console_errors == []


def test_the_page_holds_at_most_5000_lines_when_6000_are_logged(
    page: Page, server: ServerProcess, api: httpx.Client, sdk_log: SdkLog
) -> None:
    open_tab(page, server, sdk_log.id, "logs")
    expect(page.locator("#logs-view .logs-empty")).to_contain_text("No output captured yet")
    sdk_log.write([("stdout", f"record {i:05d}") for i in range(1, 6001)])
    expect(page.locator("#logs-tab-count")).to_have_text("6,000")
    expect(log_rows(page)).to_have_count(5000)
    assert line_numbers(page) == list(range(1001, 6001))  # the oldest 1,000 were dropped
    expect(page.locator("#logs-view .logs-count")).to_have_text("newest 5,000 of 6,000 lines")

    page.reload()  # hydration from /logs keeps the same newest 5,000
    expect(page.locator("#tab-logs")).to_have_attribute("aria-selected", "true")
    expect(page.locator("#logs-tab-count")).to_have_text("6,000")
    expect(log_rows(page)).to_have_count(5000)
    assert line_numbers(page) == list(range(1001, 6001))
    assert page.console_errors == []


def test_hydration_reads_only_the_newest_lines_of_a_long_log(
    page: Page, server: ServerProcess, api: httpx.Client, sdk_log: SdkLog
) -> None:
    sdk_log.write([("stdout", f"record {i:05d}") for i in range(1, 25_001)])
    lines_read: list[int] = []

    def count(request: Request) -> None:
        if "/logs" in request.url:
            response = request.response()
            if response is not None:
                lines_read.append(len(response.json()["lines"]))

    page.on("requestfinished", count)
    open_tab(page, server, sdk_log.id, "logs")
    expect(log_rows(page)).to_have_count(5000)
    assert line_numbers(page) == list(range(20_001, 25_001))
    # One-line probes find the end, then one page: far fewer than the 25,000 lines held.
    assert sum(lines_read) <= 10_000 + len(lines_read), lines_read
    assert len(lines_read) < 20, lines_read
    expect(page.locator("#logs-view .logs-count")).to_have_text("newest 5,000 of 25,000 lines")
    assert page.console_errors == []


def test_a_log_line_with_markup_renders_as_text(
    page: Page, server: ServerProcess, api: httpx.Client, sdk_log: SdkLog
) -> None:
    sdk_log.write([("stderr", XSS), ("stdout", f"before {XSS} after")])
    open_tab(page, server, sdk_log.id, "logs")
    expect(log_rows(page)).to_have_count(2)
    sdk_log.write([("stdout", f"live {XSS}")])  # and through the live path
    expect(log_rows(page)).to_have_count(3)
    assert visible_texts(page) == [XSS, f"before {XSS} after", f"live {XSS}"]
    page.locator("#logs-view .logs-search").fill("onerror")  # marks are text nodes too
    expect(page.locator("#logs-view .log-hit")).to_have_count(3)
    assert visible_texts(page) == [XSS, f"before {XSS} after", f"live {XSS}"]
    assert page.locator("#logs-view img").count() == 0
    assert page.evaluate("() => window.__xss") is None
    assert page.console_errors == []


def post_logs(api: httpx.Client, run_id: str, texts: list[str], seq: int) -> None:
    """Post lines through the batch API, as fast as the server takes them."""
    logs = [{"stream": "stdout", "ts": 1.0, "text": t} for t in texts]
    body = {"producer": "burst", "batch_seq": seq, "logs": logs}
    response = api.post(f"/api/v1/runs/{run_id}/batches", json=body)
    assert response.status_code == 200, response.text


def logged_run(api: httpx.Client, count: int) -> str:
    """A running run holding ``count`` lines "record 00001" …, 2,000 a batch."""
    response = api.post("/api/v1/runs", json={"project": "e2e", "name": "logs"})
    assert response.status_code == 201, response.text
    run_id: str = response.json()["id"]
    for seq, at in enumerate(range(1, count + 1, 2000), start=1):
        post_logs(
            api, run_id, [f"record {i:05d}" for i in range(at, min(at + 2000, count + 1))], seq
        )
    return run_id


def test_a_search_finds_lines_older_than_the_newest_5000_the_page_holds(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    run_id = logged_run(api, 12_000)
    open_tab(page, server, run_id, "logs")
    expect(log_rows(page)).to_have_count(5000)
    assert line_numbers(page)[0] == 7001
    expect(page.locator("#logs-view .logs-count")).to_have_text("newest 5,000 of 12,000 lines")

    page.locator("#logs-view .logs-search").fill("RECORD 00042")  # the server searches, any case
    expect(log_rows(page)).to_have_count(1)
    assert line_numbers(page) == [42]
    expect(page.locator("#logs-view .log-hit")).to_have_text("record 00042")
    expect(page.locator("#logs-view .logs-count")).to_have_text("1 of 12,000 lines")

    page.locator("#logs-view .logs-search").fill("record 0")  # 9,999 matches: the newest 5,000
    expect(page.locator("#logs-view .logs-count")).to_have_text("5,000 of 12,000 lines")
    assert line_numbers(page) == list(range(5000, 10_000))
    page.locator("#logs-view .logs-search").fill("")
    expect(page.locator("#logs-view .logs-count")).to_have_text("newest 5,000 of 12,000 lines")
    assert line_numbers(page) == list(range(7001, 12_001))
    assert page.console_errors == []


def test_older_lines_load_on_demand_and_the_newest_go_past_the_cap(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    run_id = logged_run(api, 7000)
    open_tab(page, server, run_id, "logs")
    expect(log_rows(page)).to_have_count(5000)
    older = page.locator("#logs-view .logs-older")
    jump = page.locator("#logs-view .logs-jump")
    expect(older).to_be_visible()

    older.click()  # 1,000 older lines in, the newest 1,000 out: still 5,000 held
    expect(page.locator("#logs-view .log-line").first).to_have_attribute("data-line", "1001")
    assert line_numbers(page) == list(range(1001, 6001))
    expect(page.locator("#logs-view .logs-count")).to_have_text("5,000 of 7,000 lines")
    expect(jump).to_be_visible()
    older.click()
    expect(page.locator("#logs-view .log-line").first).to_have_attribute("data-line", "1")
    assert line_numbers(page) == list(range(1, 5001))
    expect(older).to_be_hidden()  # nothing older on the server

    post_logs(api, run_id, ["a live line"], 100)  # counted, not shown: the newest were let go
    expect(jump).to_have_text("↓ Jump to latest (1 new)")
    assert line_numbers(page)[-1] == 5000
    jump.click()  # reads the newest lines again, and follows them
    expect(page.locator("#logs-view .log-line").last).to_have_attribute("data-line", "7001")
    assert line_numbers(page) == list(range(2002, 7002))
    expect(jump).to_be_hidden()
    assert scroll_gap(page) < NEAR_END_PX
    assert page.console_errors == []


def test_a_burst_of_50000_live_lines_keeps_the_page_live_and_its_rows_bounded(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    run_id = logged_run(api, 0)
    assert api.post(
        f"/api/v1/runs/{run_id}/batches",
        json={"producer": "s", "batch_seq": 1, "status": {"state": "running", "ts": 1.0}},
    ).is_success
    open_tab(page, server, run_id, "logs")
    expect(page.locator("#run-status")).to_have_text("running")
    # The most rows the list ever held, and the most times rows were added in one animation
    # frame (a frame's rAF callbacks run after the counter's, registered a frame earlier).
    page.evaluate(
        """() => {
            const list = document.querySelector('#logs-view .logs-lines');
            Object.assign(window, { __frame: 0, __maxRows: 0, __addsInFrame: {}, __maxAdds: 0 });
            const tick = () => { window.__frame += 1; requestAnimationFrame(tick); };
            requestAnimationFrame(tick);
            new MutationObserver((records) => {
                window.__maxRows = Math.max(window.__maxRows, list.childElementCount);
                const adds = records.filter((r) => r.addedNodes.length).length;
                const n = (window.__addsInFrame[window.__frame] || 0) + adds;
                window.__addsInFrame[window.__frame] = n;
                window.__maxAdds = Math.max(window.__maxAdds, n);
            }).observe(list, { childList: true });
        }"""
    )
    for seq, at in enumerate(range(0, 50_000, 500), start=1):
        post_logs(api, run_id, [f"burst {i}" for i in range(at, at + 500)], seq)
    done = {"producer": "s", "batch_seq": 2, "status": {"state": "succeeded", "ts": 2.0}}
    assert api.post(f"/api/v1/runs/{run_id}/batches", json=done).is_success

    # The page keeps up with the socket: the last line and the final status follow the burst
    # within the ordinary wait, as they do on the Live tab.
    expect(page.locator("#run-status")).to_have_text("succeeded")
    expect(page.locator("#logs-view .log-line").last).to_have_attribute("data-line", "50000")
    expect(page.locator("#logs-view .log-line").last).to_have_text("50000burst 49999")
    assert page.evaluate("() => window.__maxRows") <= 5000
    # Live lines are drawn at most once a frame, however many messages the frame brought.
    assert page.evaluate("() => window.__maxAdds") == 1
    expect(log_rows(page)).to_have_count(5000)
    assert page.console_errors == []


def test_the_head_counts_the_lines_the_server_keeps_and_a_search_reaches_the_oldest(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    run_id = logged_run(api, 101_000)  # the server keeps the newest 100,000: from line 1,001
    open_tab(page, server, run_id, "logs")
    expect(page.locator("#logs-view .logs-count")).to_have_text("newest 5,000 of 100,000 lines")
    page.locator("#logs-view .logs-search").fill("record 01001")
    expect(log_rows(page)).to_have_count(1)
    assert line_numbers(page) == [1001]
    expect(page.locator("#logs-view .logs-count")).to_have_text("1 of 100,000 lines")
    page.locator("#logs-view .logs-search").fill("record 01000")  # dropped by the server
    expect(page.locator("#logs-view .logs-empty")).to_have_text("No line matches “record 01000”.")
    assert page.console_errors == []
