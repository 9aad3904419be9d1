"""Deleting a run (``DELETE /api/v1/runs/{run_id}``): everything the store holds of it (see
``store.sql.purge``), and what the server keeps for it on disk: the directory its scheduler
launched it in (under the data dir) and a TensorBoard it started for it. A directory the run's
producer registered (its own training directory, anywhere on the machine) is the user's and is
never touched, nor is anything else outside the data dir."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

from fastapi import APIRouter, Request
from starlette.responses import Response

from runwatch.server.api import WRITE, json_response, run_or_404, store_of
from runwatch.server.openapi import refusal
from runwatch.server.scheduler import RUNS_DIR
from runwatch.store.base import RunStore

router = APIRouter(prefix="/api/v1")
DELETED = {
    "description": "The run and everything stored for it are gone.",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {
                    "deleted": {"type": "string", "description": "The run's id."},
                    "project": {"type": "string"},
                    "name": {"type": "string"},
                },
                "required": ["deleted", "project", "name"],
            }
        }
    },
}


@router.delete(
    "/runs/{run_id}",
    dependencies=WRITE,
    responses={
        200: DELETED,
        404: refusal(
            "`run_not_found`: no run has this id. `run_deleted`: the run was deleted before."
        ),
        409: refusal(
            "`run_not_finished` (`field`: `status`): the run is queued or running; cancel it "
            "first (a crashed run is finished: it may be deleted)."
        ),
    },
)
async def delete_run(request: Request, run_id: str) -> Response:
    """Delete a finished run (succeeded, failed, cancelled or crashed): its points, events,
    media, logs, commands, alerts, promotions and every other record, and the directory the
    server launched it in. Runs lists and queries stop showing it at once, and open pages are
    told; the answer comes once all of it is gone (a big run's rows go in bounded steps; a
    server stopped midway finishes the deletion, directory included, when it starts again).
    Its sweep trial stays, as ``deleted``. The id may be used again afterwards (``runwatch
    import`` of the same archive)."""
    await run_or_404(request, run_id)  # first: a token limited to another project learns nothing
    store = store_of(request)
    run = await store.delete_run(run_id)
    await request.app.state.tensorboards.stop(run_id)
    await asyncio.to_thread(remove_run_dir, request.app.state.settings.data_dir, run_id)
    await store.purged(run_id)
    return json_response({"deleted": run.id, "project": run.project, "name": run.name})


async def remove_deleted_run_dirs(store: RunStore, data_dir: Path) -> int:
    """Remove the directories deleted runs were launched in that are still there: a server
    that died between deleting a run and removing its directory left it (the store resumes
    the purge of its rows by itself). Called before the scheduler starts, which could launch a
    run under an id it reuses. How many there were."""
    run_ids = await store.deleted_runs()

    def remove() -> int:
        # One listing, not a stat per remembered deletion (10,000 of them: a third of a second).
        try:
            present = set(os.listdir(data_dir / RUNS_DIR))
        except FileNotFoundError:
            return 0  # no run was ever launched here
        return sum(remove_run_dir(data_dir, r) for r in run_ids if r in present)

    return await asyncio.to_thread(remove)


def remove_run_dir(data_dir: Path, run_id: str) -> bool:
    """Remove the directory the scheduler launched ``run_id`` in (``DATA/runs/RUN``), if any;
    a link there is removed, never followed. Whether there was one."""
    if not run_id.strip(".") or any(sep in run_id for sep in "/\\\0"):
        return False  # not a name inside the runs directory
    path = data_dir / RUNS_DIR / run_id
    if path.is_symlink() or path.is_file():
        path.unlink()
        return True
    if path.is_dir():
        shutil.rmtree(path)
        return True
    return False
