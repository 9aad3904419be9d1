"""``runwatch export`` and ``runwatch import``: archives with Rich progress bars."""

from __future__ import annotations

from pathlib import Path

from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from runwatch.archive.client import ApiClient
from runwatch.archive.exporter import count_points, export_run
from runwatch.archive.formats import Format, default_path, read_archive, write_archive
from runwatch.archive.importer import import_run


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed:,.0f}"),
        TimeElapsedColumn(), transient=False,
    )  # fmt: skip


def export_command(
    run_id: str, fmt: Format, out: Path | None, url: str | None, token: str | None
) -> Path:
    """Export a run to ``out`` (default ``RUN.jsonl`` / ``RUN-csv`` / ``RUN-parquet``)."""
    path = out or default_path(run_id, fmt)
    with ApiClient(url, token) as client, _progress() as progress:
        task = progress.add_task(f"exporting {run_id}", total=count_points(client, run_id) or None)
        write_archive(export_run(client, run_id, lambda n: progress.advance(task, n)), path, fmt)
        progress.console.print(f"run {run_id} exported to {path}")
    return path


def import_command(path: Path, url: str | None, token: str | None) -> str:
    """Import an archive (any format) into the server; return the run id."""
    if not path.exists():
        raise FileNotFoundError(f"no archive at {path}")
    with ApiClient(url, token) as client, _progress() as progress:
        task = progress.add_task(f"importing {path.name}", total=None)
        run_id = import_run(client, read_archive(path), lambda n: progress.advance(task, n))
        progress.console.print(f"run {run_id} imported into {client.base}/runs/{run_id}")
    return run_id
