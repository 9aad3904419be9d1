"""The command line: ``runwatch serve | demo``; errors print one actionable line unless --debug."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

app = typer.Typer(
    help="runwatch: a live telemetry hub for long-running compute runs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
_state = {"debug": False}


@app.callback()
def _main(debug: bool = typer.Option(False, "--debug", help="Show tracebacks on errors.")) -> None:
    _state["debug"] = debug


def _settings(host: str, port: int, data: Path, token: str | None):  # type: ignore[no-untyped-def]
    from runwatch.server.settings import Settings

    return Settings(data_dir=data, host=host, port=port, token=token)


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Address to bind; non-loopback needs --token."),
    port: int = typer.Option(8765, help="Port to bind (0 picks a free one)."),
    data: Path = typer.Option(Path(".runwatch"), help="Data directory (SQLite file lives here)."),
    token: str | None = typer.Option(
        None, envvar="RUNWATCH_SERVER_TOKEN", help="Require this bearer token on every call."
    ),
) -> None:
    """Start the server (SQLite in DATA, in-process live bus)."""
    from runwatch.server.serve import serve as run_server

    run_server(_settings(host, port, data, token))


@app.command()
def demo(
    host: str = typer.Option("127.0.0.1", help="Address to bind."),
    port: int = typer.Option(8765, help="Port to bind (0 picks a free one)."),
    data: Path = typer.Option(Path(".runwatch"), help="Data directory."),
    steps: int = typer.Option(0, help="Stop the synthetic run after this many steps (0: never)."),
) -> None:
    """Start the server with a synthetic training run that exercises every widget."""
    from runwatch.demo import run_demo

    run_demo(_settings(host, port, data, None), steps)


@app.command()
def sync(
    paths: list[Path] = typer.Argument(..., help="Run directories or spool files to upload."),
    url: str | None = typer.Option(None, envvar="RUNWATCH_URL", help="Server URL(s)."),
    token: str | None = typer.Option(None, envvar="RUNWATCH_TOKEN", help="Bearer token."),
) -> None:
    """Upload spooled records the server has not acknowledged (safe to run twice)."""
    from rich.progress import Progress

    from runwatch.sdk.sync import SyncError, find_spools, sync_spool
    from runwatch.sdk.transport import Transport, parse_urls

    spools = find_spools(paths)
    if not spools:
        raise SyncError("no spool files (spool-*.jsonl) found under the given paths")
    transport = Transport(parse_urls(url), token)
    try:
        with Progress() as progress:
            task = progress.add_task("syncing", total=sum(p.stat().st_size for p in spools))
            for spool in spools:
                result = sync_spool(spool, transport, lambda n: progress.advance(task, n))
                new = result.batches - result.duplicates
                progress.console.print(
                    f"{spool}: run {result.run_id}: {result.batches} batches, {new} new"
                )
    finally:
        transport.close()


def main() -> None:
    """Entry point: one line per error, a traceback only with --debug."""
    try:
        app()
    except (ValueError, OSError, RuntimeError) as exc:  # SyncError is a RuntimeError
        if _state["debug"] or os.environ.get("RUNWATCH_DEBUG"):
            raise
        print(f"runwatch: error: {exc}", file=sys.stderr)
        sys.exit(1)
