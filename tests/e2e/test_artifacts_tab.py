"""The run page's Artifacts tab with real launched workers: the scenario table (TensorBoard and
W&B offline, TensorBoard only, none, a failure mid-run), W&B config and summary, a managed
TensorBoard opened, renewed and stopped from the page, and literal text for hostile names."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

import runwatch
from tests.conftest import ARTIFACTS
from tests.e2e.launched import XSS, Launch, finished, open_tab
from tests.servers import ServerProcess, wait_until

pytestmark = pytest.mark.e2e

TB_START_MS = 90_000  # TensorBoard imports TensorFlow's shims on start: seconds, not millis

WORKER = """
    import json, os, sys
    run_dir = os.environ["RUNWATCH_RUN_DIR"]
    print("worker started", flush=True)
    if "{tb}" == "yes":
        from tensorboardX import SummaryWriter
        writer = SummaryWriter(os.path.join(run_dir, "tensorboard"))
        for step in range(300):
            writer.add_scalar("train/loss", 1.0 / (step + 1), step)
        writer.close()
    if "{wandb}" == "yes":
        import wandb
        run = wandb.init(project="rl", dir=run_dir, config={{"lr": 0.01, "env": "CartPole"}})
        for step in range(50):
            wandb.log({{"reward": step * 2.0}})
        run.summary["best_reward"] = 98.0
        run.finish()
    if "{files}" == "yes":
        os.makedirs(os.path.join(run_dir, "checkpoints"), exist_ok=True)
        with open(os.path.join(run_dir, "checkpoints", "policy.pt"), "wb") as f:
            f.write(b"weights" * 4096)
        with open(os.path.join(run_dir, "checkpoints", {xss!r} + ".pt"), "wb") as f:
            f.write(b"x")
        with open(os.path.join(run_dir, {xss!r}), "w") as f:
            f.write("a report with a hostile name")
        with open(os.path.join(run_dir, "artifacts_manifest.json"), "w") as f:
            json.dump([{{"path": "../../etc/passwd"}}, {{"path": {xss!r}, "kind": "report"}}], f)
    if "{fail}" == "yes":
        print("Traceback (most recent call last):", file=sys.stderr)
        print("RuntimeError: loss diverged at step 301", file=sys.stderr)
        sys.exit(1)
    print("worker done", flush=True)
"""

POLICY_SHA = hashlib.sha256(b"weights" * 4096).hexdigest()


def launch_to_end(
    server: ServerProcess, api: httpx.Client, tmp_path: Path, **flags: str
) -> tuple[Launch, dict[str, object]]:
    options = {"tb": "no", "wandb": "no", "files": "no", "fail": "no", "xss": XSS, **flags}
    launch = Launch(server, tmp_path, WORKER.format(**options), "art")
    try:
        code = launch.wait()
    finally:
        launch.close()
    assert code == (1 if flags.get("fail") == "yes" else 0)
    run = finished(api, str(launch.run(api)["id"]))
    return launch, run


def rows_of(page: Page, kind: str) -> list[str]:
    paths: list[str] = page.locator(
        f'#artifacts-view .art-table tr[data-kind="{kind}"] .col-path'
    ).all_text_contents()
    return paths


FONT_MISS = "/font-roboto/"  # TensorBoard's CSS asks for its fonts at the root, not its prefix


def watch_failures(page: Page) -> list[str]:
    """The addresses of the page's (and its frames') failed loads, as they happen."""
    failures: list[str] = []
    page.on("response", lambda r: r.status >= 400 and failures.append(r.url))
    return failures


def only_font_misses(page: Page, failures: list[str]) -> None:
    """Every console error is a failed load of one of TensorBoard's root-relative fonts (it
    falls back to a system font): nothing else failed, in the page or in TensorBoard."""
    assert all(FONT_MISS in url for url in failures), failures
    errors: list[str] = page.console_errors  # type: ignore[attr-defined]
    assert len(errors) == len(failures) and all("404" in e for e in errors), errors


def open_tensorboard(page: Page, server: ServerProcess, run_id: str) -> str:
    """Click Open TensorBoard, see its UI inside the page (the scalars a real SummaryWriter
    wrote, through the server's proxy), and return the proxy address the page links to."""
    page.locator("#artifacts-view .tb-open").click()
    link = page.locator("#artifacts-view .tb-link")
    expect(link).to_be_visible(timeout=TB_START_MS)
    expect(link).to_have_attribute("target", "_blank")
    expect(link).to_have_attribute("rel", "noopener noreferrer")
    href = link.get_attribute("href")
    assert href == f"{server.url}/api/v1/runs/{run_id}/tensorboard/proxy/"
    frame = page.locator("#artifacts-view iframe.tb-frame")
    expect(frame).to_have_attribute("src", href)
    expect(
        page.frame_locator("#artifacts-view iframe.tb-frame").get_by_text("train/loss").first
    ).to_be_visible(timeout=TB_START_MS)
    return href


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.mark.parametrize(
    ("tb", "wandb", "fail"),
    [("yes", "yes", "no"), ("yes", "no", "no"), ("no", "no", "no"), ("yes", "no", "yes")],
    ids=["both", "tensorboard-only", "none", "failure-mid-run"],
)
def test_artifact_scenarios(
    page: Page,
    server: ServerProcess,
    api: httpx.Client,
    tmp_path: Path,
    tb: str,
    wandb: str,
    fail: str,
) -> None:
    files = "no" if (tb, wandb, fail) == ("no", "no", "no") else "yes"
    launch, run = launch_to_end(server, api, tmp_path, tb=tb, wandb=wandb, files=files, fail=fail)
    open_tab(page, server, str(run["id"]), "artifacts")
    view = page.locator("#artifacts-view")
    expect(page.locator("#run-status")).to_have_text("failed" if fail == "yes" else "succeeded")

    if files == "no":  # nothing written: the empty state names what to write, and where
        run_dir = str(launch.run_dir.resolve())
        expect(view.locator(".art-empty")).to_be_visible()
        expect(view.locator(".art-empty")).to_contain_text(
            f"Write TensorBoard event files under {run_dir}/tensorboard/, checkpoints under"
            " checkpoints/, or list files in artifacts_manifest.json"
        )
        expect(view.locator(".art-table")).to_have_count(0)
        expect(view.locator(".art-tensorboard")).to_be_hidden()
        expect(view.locator(".art-problems")).to_be_hidden()
        expect(page.locator("#artifacts-tab-count")).to_have_text("")
        assert page.console_errors == []
        return

    expect(view.locator(".art-table")).to_be_visible()
    assert rows_of(page, "checkpoint") == sorted(["checkpoints/policy.pt", f"checkpoints/{XSS}.pt"])
    policy = view.locator('.art-table tr[data-kind="checkpoint"]', has_text="policy.pt")
    expect(policy.locator(".col-size")).to_have_text("28.0 KiB")
    expect(policy.locator(".art-sha")).to_have_text(f"{POLICY_SHA[:12]}…")
    expect(policy.locator(".art-sha")).to_have_attribute("title", POLICY_SHA)
    assert rows_of(page, "report") == [XSS]  # a hostile path is a path, shown as text
    assert len(rows_of(page, "tensorboard")) == (1 if tb == "yes" else 0)
    expect(view.locator(".art-tensorboard")).to_be_visible()
    expect(view.locator(".art-tensorboard .panel-sub")).to_have_text("1 event file")

    # The scanner's problems with the worker's manifest, as warnings.
    expect(view.locator(".art-problem")).to_have_count(1)
    expect(view.locator(".art-problem")).to_contain_text("'../../etc/passwd' is outside the run")
    expect(page.locator("#tab-artifacts")).to_have_attribute("data-problems", "1")

    if wandb == "yes":
        card = view.locator(".art-wandb")
        expect(card).to_have_count(1)  # wandb/latest-run and the run's own dir are one run
        expect(card.locator(".art-who")).to_contain_text("rl / ")
        config = card.locator('[data-part="config"] dl')
        expect(config.locator("dt")).to_have_text(["env", "lr"])
        expect(config.locator("dd")).to_have_text(["CartPole", "0.01"])
        summary = card.locator('[data-part="summary"] dl')
        expect(summary.locator('dt:text-is("best_reward") + dd')).to_have_text("98")
        expect(card.locator(".art-sync")).to_contain_text("wandb sync wandb/offline-run-")
        assert len(rows_of(page, "wandb")) >= 1
    else:
        expect(view.locator(".art-wandb")).to_have_count(0)

    if fail == "yes":  # the error is shown, and both tabs still work on the failed run
        expect(page.locator("#run-error")).to_contain_text("exited with code 1")
        expect(page.locator("#run-error")).to_contain_text(
            "RuntimeError: loss diverged at step 301"
        )
        page.locator("#tab-logs").click()
        expect(page.locator("#logs-view")).to_be_visible()
        error_line = page.locator("#logs-view .log-line", has_text="loss diverged")
        expect(error_line).to_have_class("log-line log-stderr")
        page.locator("#tab-artifacts").click()
        expect(view.locator(".art-table")).to_be_visible()

    failures = watch_failures(page)
    if (tb, wandb) == ("yes", "yes"):
        url = open_tensorboard(page, server, str(run["id"]))
        assert answers(url)
        page.mouse.move(0, 0)  # no hover state in the picture
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "artifacts-tab.png"))
    assert page.locator("#artifacts-view img").count() == 0
    assert page.evaluate("() => window.__xss") is None
    only_font_misses(page, failures)


def test_tensorboard_is_renewed_while_the_page_is_open_and_stopped_when_it_goes(
    page: Page, server: ServerProcess, api: httpx.Client, tmp_path: Path
) -> None:
    _, run = launch_to_end(server, api, tmp_path, tb="yes")
    page.clock.install()  # real time flows; run_for() below brings the renewal forward
    run_id = str(run["id"])
    failures = watch_failures(page)
    open_tab(page, server, run_id, "artifacts")
    url = open_tensorboard(page, server, run_id)
    assert answers(url)
    before = api.get(f"/api/v1/runs/{run_id}/tensorboard").json()
    renew = page.evaluate(
        "async () => (await import('/static/js/tensorboard-control.js')).RENEW_MS"
    )
    with page.expect_request(
        lambda r: r.method == "POST" and r.url.endswith("/tensorboard/session")
    ) as renewal:
        page.clock.run_for(renew)
    response = renewal.value.response()
    assert response is not None and response.json()["proxy"] == before["proxy"]
    after = api.get(f"/api/v1/runs/{run_id}/tensorboard").json()
    assert after["running"] and after["lease_until"] > before["lease_until"]  # renewed

    page.goto("about:blank")  # pagehide: the page asks the server to stop it (keepalive)
    wait_until(lambda: not answers(url), 30, what="TensorBoard to stop")
    only_font_misses(page, failures)


def test_tensorboard_that_cannot_start_says_why(
    page: Page, server: ServerProcess, api: httpx.Client, tmp_path: Path
) -> None:
    _, run = launch_to_end(server, api, tmp_path, tb="yes")
    shutil.rmtree(tmp_path / "run")  # the run dir is not (or no longer) on this machine
    open_tab(page, server, str(run["id"]), "artifacts")
    page.locator("#artifacts-view .tb-open").click()
    status = page.locator("#artifacts-view .tb-status")
    expect(status).to_have_text(
        "Could not start TensorBoard: this run's directory is not on the server's machine"
    )
    expect(status).to_have_attribute("data-tone", "bad")
    expect(page.locator("#artifacts-view .tb-link")).to_be_hidden()
    expect(page.locator("#artifacts-view .tb-open")).to_be_enabled()
    # The 404 is the page's answer, not a page error; the browser logs the failed request only.
    assert all("404" in e for e in page.console_errors)


def test_the_files_count_says_when_sizes_are_unknown(
    page: Page, server: ServerProcess, tmp_path: Path
) -> None:
    """A manifest entry without a size adds nothing to a total that would then look exact."""
    sized = {"path": "model.pt", "kind": "checkpoint", "size": 2048}
    cases = {"all": [sized], "some": [sized, {"path": "report.html"}], "none": [{"path": "a"}]}
    shown = {"all": "1 · 2.00 KiB", "some": "2 · ≥ 2.00 KiB", "none": "1 · size unknown"}
    for name, entries in cases.items():
        run = runwatch.init(project="art", name=name, url=server.url, run_dir=tmp_path / name)
        run.artifacts(entries)
        assert run.finish(timeout=30)
        open_tab(page, server, run.id, "artifacts")
        expect(page.locator("#artifacts-view .art-count")).to_have_text(shown[name])
