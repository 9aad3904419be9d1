"""Run archives: ``runwatch export`` reads a run through the HTTP API into a JSONL, CSV or
Parquet archive; ``runwatch import`` restores one into any server through the same API."""

from runwatch.archive.client import ApiClient
from runwatch.archive.exporter import export_run
from runwatch.archive.formats import read_archive, write_archive
from runwatch.archive.importer import import_run

__all__ = ["ApiClient", "export_run", "import_run", "read_archive", "write_archive"]
