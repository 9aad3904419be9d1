"""``runwatch sweep create|pause|resume|stop`` and ``runwatch agent``: the sweep commands."""

from __future__ import annotations

from pathlib import Path

import typer

sweep_app = typer.Typer(
    help="Create a sweep from a W&B sweep file; pause, resume or stop it.", no_args_is_help=True
)
URL_OPTION = typer.Option(None, "--url", envvar="RUNWATCH_URL", help="Server URL(s).")
TOKEN_OPTION = typer.Option(None, "--token", envvar="RUNWATCH_TOKEN", help="Bearer token.")


@sweep_app.command("create")
def sweep_create(
    file: Path = typer.Argument(
        ..., help="The sweep file: W&B's sweep configuration, YAML or JSON."
    ),
    project: str | None = typer.Option(None, help="The sweep's project (default: the file's)."),
    url: str | None = URL_OPTION,
    token: str | None = TOKEN_OPTION,
) -> None:
    """Create a sweep; print its id, then its page's URL (a bad file: one line naming the key)."""
    import sys

    from runwatch.sweeps.client import SweepClient
    from runwatch.sweeps.files import load_sweep_file
    from runwatch.sweeps.hyperband import plan_of

    spec = load_sweep_file(file)
    doc = dict(spec.doc)
    if project:
        doc["project"] = project
    client = SweepClient(url, token)
    try:
        sweep = client.create(doc)
        base = client.url
    finally:
        client.close()
    print(sweep["id"])
    print(base + sweep["page"])
    limit = f"{sweep['trial_limit']:,} trials ({sweep['limit_reason']})"
    own = "" if doc.get("program") or doc.get("command") else " -- CMD"
    print(f"sweep {sweep['id']}: {sweep['method']}, project {sweep['project']}, at most {limit};"
          f" run it with: runwatch agent {sweep['id']}{own}", file=sys.stderr)  # fmt: skip
    plan = plan_of(spec)
    if plan is not None:
        shown = ", ".join(str(r) for r in plan.rungs[:6]) + (", …" if len(plan.rungs) > 6 else "")
        print(f"hyperband: trials worse than the best 1/{plan.eta} at steps {shown} of"
              f" {plan.key} are stopped early", file=sys.stderr)  # fmt: skip


def _change(sweep_id: str, action: str, url: str | None, token: str | None) -> None:
    from runwatch.sweeps.client import SweepClient

    client = SweepClient(url, token)
    try:
        sweep = client.change(sweep_id, action)
    finally:
        client.close()
    print(f"sweep {sweep_id}: {sweep['state']}")


@sweep_app.command("pause")
def sweep_pause(
    sweep_id: str = typer.Argument(...),
    url: str | None = URL_OPTION,
    token: str | None = TOKEN_OPTION,
) -> None:
    """Pause a sweep: agents wait (their running trials go on)."""
    _change(sweep_id, "pause", url, token)


@sweep_app.command("resume")
def sweep_resume(
    sweep_id: str = typer.Argument(...),
    url: str | None = URL_OPTION,
    token: str | None = TOKEN_OPTION,
) -> None:
    """Resume a paused sweep."""
    _change(sweep_id, "resume", url, token)


@sweep_app.command("stop")
def sweep_stop(
    sweep_id: str = typer.Argument(...),
    url: str | None = URL_OPTION,
    token: str | None = TOKEN_OPTION,
) -> None:
    """Stop a sweep for good: agents stop after their current trial."""
    _change(sweep_id, "stop", url, token)


def agent(
    sweep_id: str = typer.Argument(..., help="The sweep whose trials to run."),
    command: list[str] | None = typer.Argument(
        None,
        help="The trial's command line, after `--` (macros such as ${args} expand); without"
        " one, the sweep's command (W&B's default: python PROGRAM --key=value …).",
    ),
    count: int | None = typer.Option(None, min=1, help="Run at most this many trials."),
    url: str | None = URL_OPTION,
    token: str | None = TOKEN_OPTION,
    grace: float = typer.Option(
        10.0, help="Seconds a cancelled trial gets before SIGTERM/SIGKILL."
    ),
    scan_interval: float = typer.Option(
        10.0, min=0.1, help="Seconds between scans of a trial's run dir for artifacts."
    ),
    heartbeat: float = typer.Option(
        5.0,
        min=0.1,
        max=86_400,
        help="Seconds between a trial's heartbeats; silent for 3 (the agent died), its trial is"
        " crashed and handed out again once.",
    ),
) -> None:
    """Run a sweep's trials one at a time, each with its configuration in RUNWATCH_SWEEP_PARAMS
    and in runwatch.init().config (and as arguments where the command says so), until --count,
    the sweep's cap or its space is used up."""
    from runwatch.launcher.agent import run_agent

    raise typer.Exit(
        run_agent(sweep_id, command or [], count, url, token, grace, scan_interval, heartbeat)
    )
