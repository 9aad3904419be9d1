"""The two shapes of a worker-written ``artifacts_manifest.json``, read into one list of entries.

The list format is ``[{"path": "report.html", "kind": "report"}, …]`` (or ``{"artifacts": [...]}``).
The fast-analytics design's object format names what a worker produced by role::

    {"tensorboard_dir": "tb", "wandb_run_id": "user/project/run", "wandb_mode": "online",
     "checkpoints": ["checkpoints/last.pt", {"path": "best.pt", "meta": {"epoch": 3}}]}

Both become the same list-format items, checked one by one by the scanner. An online W&B run is
a link (``{"kind": "wandb", "url": …}`` or ``{"kind": "wandb", "run_id": "entity/project/run"}``):
it has no path, and no W&B token is ever asked for, read or stored.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

WANDB_HOST = "https://wandb.ai"
WANDB_MODES = ("online", "offline", "disabled", "shared")
DESIGN_KEYS = ("tensorboard_dir", "wandb_run_id", "wandb_url", "wandb_mode", "checkpoints",
               "artifacts")  # fmt: skip
_SEGMENT = r"[A-Za-z0-9_.-]{1,128}"
_RUN_ID = re.compile(rf"^({_SEGMENT})/({_SEGMENT})/(?:runs/)?({_SEGMENT})$")
_URL_PATH = re.compile(rf"^/({_SEGMENT})/({_SEGMENT})/runs/({_SEGMENT})/?$")

Problem = tuple[str, str]  # (where, message): reported once per place


def read_items(listed: Any, name: str) -> tuple[list[Any], list[Problem]]:
    """The list-format items of a parsed manifest in either format, and what was wrong with it."""
    if isinstance(listed, list):
        return listed, []
    if not isinstance(listed, dict):
        return [], [(name, f"{name} must be a list of entries or an object ({_keys()})")]
    items: list[Any] = []
    problems: list[Problem] = []
    for key in listed:
        if key not in DESIGN_KEYS:  # the value is never echoed: it could be a secret
            problems.append((f"{name}.{key}", f"{name}: unknown key {key!r} ({_keys()})"))
    artifacts = listed.get("artifacts", [])
    if isinstance(artifacts, list):
        items += artifacts
    else:
        problems.append((f"{name}.artifacts", f"{name}: 'artifacts' must be a list of entries"))
    tb = listed.get("tensorboard_dir")
    if tb is not None:
        items.append({"kind": "tensorboard", "path": tb})
    checkpoints = listed.get("checkpoints", [])
    if isinstance(checkpoints, list):
        items += [
            {"kind": "checkpoint", **c}
            if isinstance(c, dict)
            else {"kind": "checkpoint", "path": c}
            for c in checkpoints
        ]
    else:
        problems.append((f"{name}.checkpoints", f"{name}: 'checkpoints' must be a list of paths"))
    mode = listed.get("wandb_mode", "online")
    if mode not in WANDB_MODES:
        problems.append(
            (f"{name}.wandb_mode", f"{name}: 'wandb_mode' must be one of {', '.join(WANDB_MODES)}")
        )
    elif mode != "disabled" and ("wandb_run_id" in listed or "wandb_url" in listed):
        link = {"kind": "wandb", "mode": mode}
        if "wandb_url" in listed:
            link["url"] = listed["wandb_url"]
        if "wandb_run_id" in listed:
            link["run_id"] = listed["wandb_run_id"]
        items.append(link)
    return items, problems


def is_link(item: Any) -> bool:
    """A W&B run named by URL or id rather than by a file of the run directory."""
    return (
        isinstance(item, dict)
        and item.get("kind") == "wandb"
        and "path" not in item
        and ("url" in item or "run_id" in item)
    )


def wandb_link(item: dict[str, Any]) -> dict[str, Any] | str:
    """The manifest entry of a linked W&B run, or what is wrong with the item."""
    mode = item.get("mode", "online")
    if mode not in WANDB_MODES:
        return f"'mode' must be one of {', '.join(WANDB_MODES)}"
    url: str | None = None
    parts: tuple[str, ...] | None = None
    if "url" in item:
        try:
            url = _clean_url(item["url"])
        except ValueError as exc:
            return str(exc)
        match = _URL_PATH.match(urlsplit(url).path)
        parts = match.groups() if match else None
    if "run_id" in item:
        run_id = item["run_id"]
        match = _RUN_ID.match(run_id) if isinstance(run_id, str) else None
        if match is None:
            return "'run_id' must be 'entity/project/run' (letters, digits, '_', '.', '-')"
        parts = match.groups()
        url = url or f"{WANDB_HOST}/{parts[0]}/{parts[1]}/runs/{parts[2]}"
    meta: dict[str, Any] = {"mode": mode}
    if parts is not None:
        meta.update(entity=parts[0], project=parts[1], run_id=parts[2])
    if mode == "offline":
        meta["sync_hint"] = "the run is offline: `wandb sync` uploads it, then the link works"
    extra = item.get("meta")
    if isinstance(extra, dict):
        meta = {**extra, **meta}
    return {"kind": "wandb", "url": url, "meta": meta}


def _clean_url(value: Any) -> str:
    """An http(s) URL without credentials, query or fragment (ValueError naming the problem).
    The query goes because a link must never carry a key (``?apiKey=…``) into the manifest."""
    if not isinstance(value, str) or len(value) > 2048:
        raise ValueError("'url' must be a string (an http(s) address of the W&B run)")
    try:
        split = urlsplit(value.strip())
        port = split.port
    except ValueError:
        raise ValueError("'url' is not a valid address") from None
    if split.scheme not in ("http", "https") or not split.hostname:
        raise ValueError("'url' must be an http(s) address of the W&B run")
    if split.username is not None or split.password is not None:
        raise ValueError("'url' must not carry credentials (no token is ever stored)")
    host = split.hostname + (f":{port}" if port else "")
    return urlunsplit((split.scheme, host, split.path, "", ""))


def _keys() -> str:
    return "known keys: " + ", ".join(DESIGN_KEYS)
