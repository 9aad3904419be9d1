"""``runwatch runs delete``: delete runs through the API, asking first, one line per run."""

from __future__ import annotations

import sys
from urllib.parse import quote

from runwatch.archive.client import ApiClient, ApiError
from runwatch.terminal.render import printable

# Seconds one deletion may take: the server answers once the run's rows are all gone.
DELETE_TIMEOUT = 600.0


def delete_runs(run_ids: list[str], url: str | None, token: str | None, yes: bool) -> bool:
    """Delete each run (after a yes on standard input, unless ``yes``), printing one line per
    run: what was deleted, or (on standard error) why not. True when every run was deleted."""
    ids = list(dict.fromkeys(run_ids))
    if not yes and not _confirmed(ids):
        print(
            "runwatch: error: nothing deleted (not confirmed; --yes deletes without asking)",
            file=sys.stderr,
        )
        return False
    deleted = 0
    with ApiClient(url, token, timeout=DELETE_TIMEOUT) as client:
        for run_id in ids:
            try:
                answer = client.delete(f"/api/v1/runs/{quote(run_id, safe='')}")
            except ApiError as exc:
                print(f"runwatch: error: run {printable(run_id)}: {exc}", file=sys.stderr)
                continue
            name, project = printable(answer["name"]), printable(answer["project"])
            print(f"deleted run {answer['deleted']} ({name}, project {project})", flush=True)
            deleted += 1
    return deleted == len(ids)


def _confirmed(ids: list[str]) -> bool:
    shown = ", ".join(printable(i) for i in ids)
    what = f"run {shown}" if len(ids) == 1 else f"{len(ids)} runs ({shown})"
    them = "it" if len(ids) == 1 else "them"
    try:
        answer = input(
            f"Delete {what} and everything stored for {them}? It cannot be undone [y/N] "
        )
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")
