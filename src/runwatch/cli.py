"""The command line: ``runwatch serve | demo``; errors print one actionable line unless --debug."""

from __future__ import annotations

import os
import sys
from functools import partial
from pathlib import Path
from typing import NoReturn

import typer

# typer bundles its own click; its usage errors are these classes, not the `click` package's.
from typer._click.exceptions import NoArgsIsHelpError, UsageError

from runwatch.protocol import CLAIM_LEASE, RunStatus
from runwatch.sweeps.commands import agent, sweep_app

app = typer.Typer(
    help="runwatch: a live telemetry hub for long-running compute runs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
_state = {"debug": False}
STORE_OPTION = typer.Option(
    None,
    "--store",
    envvar="RUNWATCH_STORE",
    help="The store: postgresql://user@host/db (shared by replicas) or sqlite:///DIR "
    "(default: SQLite in --data).",
)
# A port outside TCP's range is a usage error (exit 2), not a traceback from bind().
PORT_OPTION = typer.Option(8765, min=0, max=65535, help="Port to bind (0 picks a free one).")


@app.callback()
def _main(
    ctx: typer.Context,
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks on errors."),
    config: Path | None = typer.Option(
        None,
        "--config",
        envvar="RUNWATCH_CONFIG",
        help='A TOML file of option defaults for every command (e.g. store = "postgresql://…");'
        " flags and environment variables win.",
    ),
) -> None:
    _state["debug"] = debug
    if config is not None:
        from runwatch.config import defaults_for, load

        ctx.default_map = defaults_for(ctx.command, load(config))


def _settings(host: str, port: int, data: Path, token: str | None, **more: object):  # type: ignore[no-untyped-def]
    from runwatch.server.settings import Settings

    return Settings(data_dir=data, host=host, port=port, token=token, **more)  # type: ignore[arg-type]


@app.command()
def serve(
    host: str = typer.Option(
        "127.0.0.1",
        help="Address to bind; beyond loopback, tokens (`token create`, --token) are required.",
    ),
    port: int = PORT_OPTION,
    data: Path = typer.Option(Path(".runwatch"), help="Data directory (SQLite file lives here)."),
    token: str | None = typer.Option(
        None, envvar="RUNWATCH_SERVER_TOKEN", help="A bootstrap admin token (see `token create`)."
    ),
    ingest_rate: float | None = typer.Option(
        None, help="Batches/s each token may ingest (429 + Retry-After past it)."
    ),
    busy_timeout: float = typer.Option(
        30.0, help="Seconds a write waits for a database lock before answering 503."
    ),
    snapshot_epsilon: float = typer.Option(
        0.05, help="Relative change that keeps a snapshot version between log-spaced ages."
    ),
    claim_lease: float = typer.Option(
        CLAIM_LEASE,
        min=1.0,
        help="Seconds an agent has from claiming a sweep trial to creating its run; past it the"
        " trial is crashed and handed out again.",
    ),
    templates: Path | None = typer.Option(
        None, help="Run templates (TOML) the dashboard may launch \\[default: DATA/runwatch.toml]."
    ),
    max_concurrent: int = typer.Option(
        1, min=0, help="Queued runs running at once (0 pauses the queue)."
    ),
    rules: Path | None = typer.Option(
        None, help="A TOML file of watch rules ([\\[rules]] tables) to load at start."
    ),
    store: str | None = STORE_OPTION,
    store_pool: int = typer.Option(
        8, min=1, max=256, help="PostgreSQL connections (and worker threads) of this replica."
    ),
    bus: str | None = typer.Option(
        None,
        envvar="RUNWATCH_BUS",
        help="Live bus: memory:// (default, one server) or redis://HOST:6379/0 (replicas).",
    ),
    webhook_allow: list[str] = typer.Option(
        [],
        metavar="NETWORKS",
        help="Networks webhooks may reach although not public, e.g. 10.0.0.0/8,127.0.0.1 "
        "(loopback, private and link-local targets are refused otherwise).",
    ),
) -> None:
    """Start the server (SQLite in DATA, or the --store database; in-process or Redis bus)."""
    from runwatch.bus.url import check_bus
    from runwatch.rules.targets import WebhookPolicy, parse_networks
    from runwatch.server.rules import load_checked_rules
    from runwatch.server.serve import serve as run_server

    allowed = parse_networks(webhook_allow)
    check_bus(bus)  # a bad URL or an unreachable Redis is one line now, not a failed startup
    if rules is not None:  # a bad file is one clear line now, not a failed startup later
        load_checked_rules(rules, WebhookPolicy(allowed))

    run_server(
        _settings(
            host, port, data, token,
            ingest_rate=ingest_rate, busy_timeout=busy_timeout, snapshot_epsilon=snapshot_epsilon,
            templates=templates, max_concurrent=max_concurrent, claim_lease=claim_lease,
            rules_file=rules, store_url=store, store_pool=store_pool, bus_url=bus,
            webhook_allow=allowed,
        )
    )  # fmt: skip


@app.command()
def demo(
    host: str = typer.Option("127.0.0.1", help="Address to bind."),
    port: int = PORT_OPTION,
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

    from runwatch.sdk.spool import read_acked
    from runwatch.sdk.sync import RunRefused, SyncError, find_spools, refused_line, sync_spool
    from runwatch.sdk.transport import Transport, parse_urls

    spools = find_spools(paths)
    if not spools:
        raise SyncError("no spool files (spool-*.jsonl) found under the given paths")
    transport = Transport(parse_urls(url), token)
    refused = 0
    try:
        unsent = sum(p.stat().st_size - read_acked(p) for p in spools)
        with Progress(disable=not unsent) as progress:  # all acknowledged: no empty 0% bar
            task = progress.add_task("syncing", total=unsent)
            for spool in spools:
                busy = f"{spool}: another runwatch sync is sending it; waiting for it to finish"
                try:
                    result = sync_spool(
                        spool,
                        transport,
                        lambda n: progress.advance(task, n),
                        partial(progress.console.print, busy),
                    )
                except RunRefused as exc:  # that run only: the other spools are still synced
                    print(f"runwatch: error: {exc}", file=sys.stderr, flush=True)
                    refused += 1
                    continue
                new = result.batches - result.duplicates
                done = (
                    f"{result.batches} batches, {new} new" if result.batches else "nothing to send"
                )
                if result.after_final:
                    done += f" ({result.after_final} after the final status: not stored)"
                progress.console.print(f"{spool}: run {result.run_id}: {done}")
                if line := refused_line(spool, result):  # lost to the run: said; the sync fails
                    print(f"runwatch: error: {line}", file=sys.stderr)
                    refused += 1
    finally:
        transport.close()
    if refused:
        raise typer.Exit(1)


@app.command()
def launch(
    command: list[str] = typer.Argument(..., help="The worker's command line, after `--`."),
    project: str = typer.Option(
        "default", envvar="RUNWATCH_PROJECT", help="Project of the run (as runwatch.init)."
    ),
    name: str | None = typer.Option(None, help="Run name (default: the command's name)."),
    run_dir: Path | None = typer.Option(None, help="The run's directory (logs, spool, artifacts)."),
    url: str | None = typer.Option(None, envvar="RUNWATCH_URL", help="Server URL(s)."),
    token: str | None = typer.Option(None, envvar="RUNWATCH_TOKEN", help="Bearer token."),
    grace: float = typer.Option(
        10.0, help="Seconds a cancelled worker gets before SIGTERM/SIGKILL."
    ),
    scan_interval: float = typer.Option(
        10.0, min=0.1, help="Seconds between scans of the run dir for artifacts."
    ),
) -> None:
    """Run a worker under supervision: capture its output, report its lifecycle, obey Cancel."""
    from runwatch.launcher import launch as run_launch

    code = run_launch(command, project, name, run_dir, url, token, grace, scan_interval)
    raise typer.Exit(code)


@app.command()
def tensorboard(
    run_id: str = typer.Argument(..., help="The run whose directory TensorBoard should show."),
    url: str | None = typer.Option(None, envvar="RUNWATCH_URL", help="Server URL."),
    token: str | None = typer.Option(None, envvar="RUNWATCH_TOKEN", help="Bearer token."),
    renew_every: float = typer.Option(
        20.0, min=0.1, hidden=True, help="Seconds between lease renewals (tests shorten it)."
    ),
) -> None:
    """Start a managed TensorBoard for a run, print its URL, and keep it alive until Ctrl-C."""
    import time

    from runwatch.archive.client import ApiClient, ApiError

    path = f"/api/v1/runs/{run_id}/tensorboard"
    shown = False
    with ApiClient(url, token, timeout=90) as client:  # one line for an unreachable server
        try:
            while True:
                try:
                    answer = client.post(path, b"")
                except ApiError as exc:
                    raise RuntimeError(f"could not start TensorBoard: {exc}") from None
                if not shown:  # the server's proxy: TensorBoard's own port is loopback-only
                    print(
                        f"TensorBoard for run {run_id}: {client.base}{answer['proxy']}  "
                        "(Ctrl-C stops it)",
                        flush=True,
                    )
                    shown = True
                time.sleep(renew_every)  # renew the lease well within its minute
        except KeyboardInterrupt:
            client.delete(path)


@app.command()
def migrate(
    source: str = typer.Option(..., "--from", help="The SQLite store: sqlite:///DIR or DIR."),
    target: str = typer.Option(..., "--to", help="An empty PostgreSQL database: postgresql://…"),
) -> None:
    """Copy a SQLite data dir into PostgreSQL (all or nothing), verifying each table's rows."""
    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table

    from runwatch.store.copy import copy_sqlite_to_postgres, count_rows
    from runwatch.store.location import describe, is_postgres, sqlite_dir
    from runwatch.store.postgres.executor import connect

    if is_postgres(source) or not is_postgres(target):
        raise ValueError("migrate copies --from sqlite:///DIR --to postgresql://…")
    data_dir = sqlite_dir(source)
    connect(target).close()  # an unreachable database is one line, before any progress bar
    with Progress() as progress:
        task = progress.add_task(f"to {describe(target)}", total=count_rows(data_dir))
        counts = copy_sqlite_to_postgres(
            data_dir,
            target,
            lambda table, n: progress.update(task, advance=n, description=f"{table:<13}"),
        )
        progress.update(task, description="verified")
    table = Table("table", "rows", "verified")
    for name, n in counts.items():
        table.add_row(name, str(n), "✓")
    Console().print(table)
    print(f"migrated {data_dir} to {describe(target)}: {sum(counts.values())} rows")


# -- archives: export and import (runwatch.archive) -----------------------------------------
@app.command("export")
def export_(
    run_id: str = typer.Argument(..., help="The run to export."),
    format: str = typer.Option("jsonl", "--format", help="jsonl, csv or parquet."),
    output: Path | None = typer.Option(
        None, "-o", "--output", help="File (jsonl) or directory (csv, parquet) to write."
    ),
    url: str | None = typer.Option(None, envvar="RUNWATCH_URL", help="Server URL."),
    token: str | None = typer.Option(None, envvar="RUNWATCH_TOKEN", help="Bearer token."),
) -> None:
    """Write a run's full archive: meta, config, metrics, events, tables, point sets,
    snapshot history, logs and artifact manifest."""
    from runwatch.archive.commands import export_command

    if format not in ("jsonl", "csv", "parquet"):
        raise ValueError(f"--format must be jsonl, csv or parquet, not {format!r}")
    export_command(run_id, format, output, url, token)  # type: ignore[arg-type]


@app.command("import")
def import_(
    path: Path = typer.Argument(..., help="An archive written by `runwatch export`."),
    url: str | None = typer.Option(None, envvar="RUNWATCH_URL", help="Server URL."),
    token: str | None = typer.Option(None, envvar="RUNWATCH_TOKEN", help="Bearer token."),
) -> None:
    """Restore an archived run into a server (through its API; the run keeps its id)."""
    from runwatch.archive.commands import import_command

    import_command(path, url, token)


# -- terminal views: runs and tail (runwatch.terminal) ----------------------------------------
runs_app = typer.Typer(help="List runs (the default) or delete them.")
app.add_typer(runs_app, name="runs")


@runs_app.callback(invoke_without_command=True)
def runs_(
    ctx: typer.Context,
    project: str | None = typer.Option(None, help="Only this project's runs."),
    status: RunStatus | None = typer.Option(None, help="Only runs with this status."),
    url: str | None = typer.Option(None, envvar="RUNWATCH_URL", help="Server URL."),
    token: str | None = typer.Option(None, envvar="RUNWATCH_TOKEN", help="Bearer token."),
) -> None:
    """List runs as a table (newest first) with their latest values (`runs delete` deletes)."""
    if ctx.invoked_subcommand is not None:
        return
    from rich.console import Console

    from runwatch.terminal.runs import show_runs

    show_runs(url, token, project, status, Console())


@runs_app.command("delete")
def runs_delete(
    run_ids: list[str] = typer.Argument(..., metavar="RUN_ID...", help="The runs to delete."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Delete without asking first."),
    url: str | None = typer.Option(None, envvar="RUNWATCH_URL", help="Server URL."),
    token: str | None = typer.Option(
        None, envvar="RUNWATCH_TOKEN", help="Bearer token (write scope)."
    ),
) -> None:
    """Delete finished runs and everything stored for them (asks first unless --yes)."""
    from runwatch.terminal.delete import delete_runs

    if not delete_runs(run_ids, url, token, yes):
        raise typer.Exit(1)


@app.command("tail")
def tail_(
    run_id: str = typer.Argument(..., help="The run to watch."),
    interval: float = typer.Option(1.0, min=0.05, help="Seconds between redraws."),
    frames: int | None = typer.Option(None, min=1, help="Stop after this many redraws."),
    url: str | None = typer.Option(None, envvar="RUNWATCH_URL", help="Server URL."),
    token: str | None = typer.Option(None, envvar="RUNWATCH_TOKEN", help="Bearer token."),
) -> None:
    """A live view of one run: status, latest values with sparklines, last events (Ctrl-C quits)."""
    from rich.console import Console

    from runwatch.terminal.tail import tail

    tail(url, token, run_id, interval, frames, Console())


app.add_typer(sweep_app, name="sweep")
app.command("agent")(agent)
token_app = typer.Typer(help="Create, list and revoke API tokens.", no_args_is_help=True)
app.add_typer(token_app, name="token")
DATA_OPTION = typer.Option(Path(".runwatch"), help="Data directory of the server.")


@token_app.command("create")
def token_create(
    scope: str = typer.Option(..., help="read (view), write (produce) or admin (everything)."),
    project: str | None = typer.Option(None, help="Limit the token to this project."),
    expires: str | None = typer.Option(None, help="Lifetime, e.g. 30d, 12h (default: never)."),
    name: str | None = typer.Option(None, help="A note to recognise the token by."),
    data: Path = DATA_OPTION,
    store: str | None = STORE_OPTION,
) -> None:
    """Create a token and print it once (only its hash is stored)."""
    from runwatch.tokens import create

    token, info = create(store or data, scope, project, expires, name)
    print(token)
    where = f"project {info.project}" if info.project else "every project"
    print(f"token {info.id}: scope {info.scope}, {where}; store it now: it is not shown again")


@token_app.command("list")
def token_list(data: Path = DATA_OPTION, store: str | None = STORE_OPTION) -> None:
    """List tokens (never the tokens themselves)."""
    from rich.console import Console
    from rich.table import Table

    from runwatch.store.location import require_existing
    from runwatch.tokens import with_store

    require_existing(store or data)
    table = Table("id", "prefix", "scope", "project", "name", "expires", "revoked")
    for t in with_store(store or data, lambda s: s.list_tokens()):
        table.add_row(
            str(t.id), t.prefix + "…", t.scope, t.project or "*", t.name or "",
            _when(t.expires_at), _when(t.revoked_at),
        )  # fmt: skip
    Console().print(table)


@token_app.command("revoke")
def token_revoke(
    token_id: int = typer.Argument(..., help="The id shown by `token list`."),
    data: Path = DATA_OPTION,
    store: str | None = STORE_OPTION,
) -> None:
    """Revoke a token (servers stop accepting it within seconds)."""
    from runwatch.store.location import require_existing
    from runwatch.tokens import with_store

    require_existing(store or data)
    if not with_store(store or data, lambda s: s.revoke_token(token_id)):
        raise ValueError(f"no active token with id {token_id}")
    print(f"token {token_id} revoked")


def _when(ts: float | None) -> str:
    import time

    return "" if ts is None else time.strftime("%Y-%m-%d %H:%M", time.localtime(ts))


# What the `server` extra brings: a command that needs one of them says how to install it.
_SERVER_MODULES = frozenset(
    {"fastapi", "starlette", "uvicorn", "uplot", "psycopg", "psycopg_pool", "redis"}
)


def _usage_error(exc: UsageError) -> NoReturn:
    """A wrong command line is one line naming the problem (and where help is), exit 2. An
    unknown option is never passed on: before `--` it is ours, and we do not know it."""
    if isinstance(exc, NoArgsIsHelpError):
        sys.exit(2)  # the help is already printed
    message = exc.format_message().rstrip(".")
    # Click's hint ("Did you mean 'token'?") ends the sentence: ours follows as one.
    join = " See" if message.endswith("?") else "; see"
    if exc.ctx is not None:
        if exc.ctx.command.name in ("launch", "agent") and "No such option" in message:
            message += " (the worker's command and its options go after `--`)"
        message += f"{join} `{exc.ctx.command_path} --help`"
    print(f"runwatch: error: {message}", file=sys.stderr)
    sys.exit(exc.exit_code)


def main() -> None:
    """Entry point: one line per error, a traceback only with --debug."""
    try:
        code = app(standalone_mode=False)
    except UsageError as exc:
        _usage_error(exc)
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] not in _SERVER_MODULES or _state["debug"]:
            raise
        print(
            f"runwatch: error: this command needs the server extra ({exc.name} is not installed):"
            " pip install 'runwatch[server]'",
            file=sys.stderr,
        )
        sys.exit(1)
    except (ValueError, OSError, RuntimeError) as exc:  # SyncError is a RuntimeError
        if _state["debug"] or os.environ.get("RUNWATCH_DEBUG"):
            raise
        print(f"runwatch: error: {exc}", file=sys.stderr)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)
