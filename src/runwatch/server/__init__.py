"""The runwatch server: ingest, query API, live push and the dashboard."""

from runwatch.server.app import create_app
from runwatch.server.settings import Settings

__all__ = ["Settings", "create_app"]
