"""A crashed run whose producer speaks again, watched in a real Chromium: the pages follow it.

``crashed`` is the heartbeat sweep's guess. The producer here is the real SDK in a subprocess,
frozen with SIGSTOP until its heartbeats lapse, then let go with SIGCONT: the run page and the
compare page must show the run crashed, then running again with its new points, without a
reload and on the socket they already had; the runs list's row follows it too.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, WebSocket, expect

import runwatch
from tests.servers import ServerProcess, wait_until

pytestmark = pytest.mark.e2e
SOURCES = str(Path(runwatch.__file__).resolve().parents[1])
# Logs a point every 50 ms until a line arrives on stdin, then finishes the run.
PRODUCER = """
import select, sys, runwatch
run = runwatch.init(project="e2e", name="revived", url=sys.argv[1], heartbeat=1.0)
print(run.id, flush=True)
step = 0
while not select.select([sys.stdin], [], [], 0.05)[0]:
    run.log({"loss": 1.0 / (step + 1)}, step=step)
    step += 1
run.finish()
"""


def points(page: Page) -> int:
    return int(page.locator('#charts .chart[data-key="loss"]').get_attribute("data-points") or 0)


def more_points_than(page: Page, n: int) -> None:
    page.wait_for_function(
        "n => Number(document.querySelector('#charts .chart[data-key=\"loss\"]')"
        "?.dataset.points) > n",
        arg=n,
    )


def test_a_crashed_run_comes_back_to_running_live_on_its_pages(
    page: Page, server: ServerProcess, api: httpx.Client, tmp_path: Path
) -> None:
    script = tmp_path / "producer.py"
    script.write_text(textwrap.dedent(PRODUCER))
    clean = {k: v for k, v in os.environ.items() if not k.startswith("RUNWATCH_")}
    clean["PYTHONPATH"] = os.pathsep.join(filter(None, [SOURCES, clean.get("PYTHONPATH")]))
    proc = subprocess.Popen(
        [sys.executable, str(script), server.url],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env=clean,
    )
    try:
        assert proc.stdout is not None and proc.stdin is not None
        run_id = proc.stdout.readline().strip()
        wait_until(lambda: api.get(f"/api/v1/runs/{run_id}").json()["summary"], 20, what="points")
        sockets: list[WebSocket] = []
        page.on("websocket", lambda ws: sockets.append(ws))
        page.goto(f"{server.url}/runs/{run_id}")
        compare = page.context.new_page()
        compare.goto(f"{server.url}/compare?runs={run_id}")
        listed = page.context.new_page()  # the runs list follows its own feed of changed rows
        listed.goto(f"{server.url}/?project=e2e")
        row_pill = listed.locator(f'#runs-body tr[data-run-id="{run_id}"] .pill')
        for p in (page, compare, listed):
            expect(p.locator("#conn")).to_have_attribute("data-state", "live")
        expect(page.locator("#run-status")).to_have_text("running")
        more_points_than(page, 0)

        proc.send_signal(signal.SIGSTOP)  # silent: no points, no heartbeats
        crashed = expect(page.locator("#run-status"))
        crashed.to_have_text("crashed", timeout=20_000)  # 3 lapsed heartbeats, then the sweep
        expect(page.locator("#live-badge")).to_have_text("● finished")
        expect(page.locator("#run-error")).to_contain_text("no heartbeat")
        expect(compare.locator("#compare-runs .pill")).to_have_text("crashed")
        expect(row_pill).to_have_text("crashed")
        frozen = points(page)
        for p in (page, compare):  # still following: the server did not close the stream
            expect(p.locator("#conn")).to_have_attribute("data-state", "live")

        proc.send_signal(signal.SIGCONT)  # the producer speaks again
        expect(page.locator("#run-status")).to_have_text("running", timeout=20_000)
        expect(page.locator("#live-badge")).to_have_text("● live")
        expect(page.locator("#run-error")).to_be_hidden()
        more_points_than(page, frozen)
        more_points_than(compare, frozen)
        expect(compare.locator("#compare-runs .pill")).to_have_text("running")
        expect(row_pill).to_have_text("running")
        step = page.locator('#run-meta [data-meta="step"] dd')
        stepped = step.inner_text()
        more_points_than(page, points(page))  # the header's step keeps moving too
        expect(step).not_to_have_text(stepped)
        duration = page.locator('#run-meta [data-meta="duration"] dd')
        lasted = duration.inner_text()
        expect(duration).not_to_have_text(lasted)  # it ticks on: the run has not ended

        proc.stdin.write("done\n")  # a real end still closes the stream
        proc.stdin.close()
        for p in (page, compare):
            expect(p.locator("#conn")).to_have_attribute("data-state", "closed", timeout=20_000)
        expect(page.locator("#run-status")).to_have_text("succeeded")
        assert proc.wait(30) == 0
        assert api.get(f"/api/v1/runs/{run_id}").json()["status"] == "succeeded"
        # One socket from load to the end: the crash cost no reconnect.
        assert len([ws for ws in sockets if f"/runs/{run_id}/live" in ws.url]) == 1
        assert page.console_errors == []
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGCONT)
            proc.kill()
            proc.wait(10)
        for pipe in (proc.stdin, proc.stdout):
            if pipe is not None and not pipe.closed:
                pipe.close()
