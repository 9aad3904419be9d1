"""Rich display in Jupyter: a run (or the runs list) as its live page in an iframe, with a link out.

The page itself is served by the runwatch server; a loopback-bound server lets pages on this
machine frame it (see ``server.pages.csp_for``), so a notebook on localhost shows it live.
"""

from __future__ import annotations

import html
import os
from urllib.parse import urlencode

from runwatch.sdk.transport import parse_urls

DEFAULT_HEIGHT = 600


def embed_html(url: str, label: str, height: int = DEFAULT_HEIGHT) -> str:
    """An iframe of ``url`` and a link that opens it in a new tab (everything escaped)."""
    src = html.escape(url, quote=True)
    return (
        f'<div class="runwatch-embed">'
        f'<iframe src="{src}" title="{html.escape(label, quote=True)}" width="100%" '
        f'height="{int(height)}" style="border:1px solid #ddd;border-radius:4px" loading="lazy">'
        f"</iframe>"
        f'<div><a href="{src}" target="_blank" rel="noopener noreferrer">'
        f"Open {html.escape(label)} in a new tab ↗</a></div></div>"
    )


class Embed:
    """A displayable page: Jupyter calls ``_repr_html_``; ``str()`` is its URL."""

    def __init__(self, url: str, label: str, height: int = DEFAULT_HEIGHT) -> None:
        self.url = url
        self.label = label
        self.height = height

    def _repr_html_(self) -> str:
        return embed_html(self.url, self.label, self.height)

    def __str__(self) -> str:
        return self.url

    def __repr__(self) -> str:
        return f"<runwatch {self.label}: {self.url}>"


def show(
    url: str | None = None,
    project: str | None = None,
    status: str | None = None,
    height: int = DEFAULT_HEIGHT,
) -> Embed:
    """The runs list (optionally one project's, or one status's) for a notebook cell:
    ``runwatch.show(project="mnist")`` as a cell's last line shows it live."""
    base = parse_urls(url or os.environ.get("RUNWATCH_URL"))[0]
    query = urlencode({k: v for k, v in (("project", project), ("status", status)) if v})
    label = f"runs of {project}" if project else "runwatch runs"
    return Embed(f"{base}/{'?' + query if query else ''}", label, height)
