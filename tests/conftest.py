"""Shared fixtures: real servers on loopback, real Chromium. In CI a missing part fails, never skips."""

from __future__ import annotations

import os
import shutil
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import leaks
from tests.servers import ServerProcess

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
_MARKER = pytest.StashKey[str]()
_BASETEMP = pytest.StashKey[Path]()
_LEAKED = pytest.StashKey[list[str]]()  # the leak report: a title, then one line per process


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_MARKER] = leaks.mark_session()
    # A suite started in the background by a shell without job control (`make test &`, nohup)
    # inherits SIGINT ignored, and so would every program it starts: the tests that press
    # Ctrl-C on one (`runwatch tail`, `agent`, `tensorboard`) need the terminal's default.
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session", autouse=True)
def _session_basetemp(
    tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config
) -> None:
    """Remember where this session's temporary files are: the leak check looks for it."""
    pytestconfig.stash[_BASETEMP] = tmp_path_factory.getbasetemp()


@pytest.hookimpl(trylast=True)  # after the runner's own sessionfinish has torn down every fixture
def pytest_sessionfinish(session: pytest.Session) -> None:
    """Fail the run when a runwatch process the suite started outlives it; then end those."""
    config = session.config
    left = leaks.survivors(config.stash[_MARKER], config.stash.get(_BASETEMP, None))
    if not left:
        return
    title = f"{len(left)} runwatch process(es) outlived the test session (now ended)"
    config.stash[_LEAKED] = [title, *(leaks.describe(proc) for proc in left)]
    leaks.end(left)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED
    if config.pluginmanager.get_plugin("terminalreporter") is None:
        print(*config.stash[_LEAKED], sep="\n", file=sys.stderr)


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    """Show the leaked processes last, next to the outcome they changed."""
    title, *lines = config.stash.get(_LEAKED, None) or [""]
    if title:
        terminalreporter.write_sep("=", title, red=True, bold=True)
        for line in lines:
            terminalreporter.write_line(line)


def missing(what: str) -> None:
    """A part the tests need is absent: a failure in CI, a skip on a developer's machine."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} is missing (CI must have it: run `make test`)")
    pytest.skip(f"{what} is missing")


@pytest.fixture(params=["sqlite", "postgresql"])
def store_args(request: pytest.FixtureRequest) -> Iterator[list[str]]:
    """The arguments of a server on SQLite (its data dir), then on a fresh PostgreSQL."""
    from tests.pg import fresh_database  # tests.pg imports this module

    if request.param == "sqlite":
        yield []
        return
    with fresh_database() as url:
        yield ["--store", url]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A fresh server with its own data dir, stopped after the test."""
    proc = ServerProcess(tmp_path / "data").start()
    yield proc
    proc.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not shutil.which("chromium") and not Path(CHROMIUM).exists():
        missing("Debian's chromium (/usr/bin/chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser: object, request: pytest.FixtureRequest) -> Iterator[object]:
    """A fresh page; its console errors are collected on ``page.console_errors``."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})  # type: ignore[attr-defined]
    pg = context.new_page()
    pg.console_errors = []
    pg.on("console", lambda m: m.type == "error" and pg.console_errors.append(m.text))
    pg.on("pageerror", lambda e: pg.console_errors.append(str(e)))
    yield pg
    ARTIFACTS.mkdir(exist_ok=True)
    context.close()
