"""``runwatch --config FILE``: option defaults from a TOML file, for every command at once.

A key sets the option of that name wherever a command has one (``store`` serves ``serve`` and
the ``token`` commands alike). The command line and environment variables win over the file.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any


def load(path: Path) -> dict[str, Any]:
    """The file's settings, keys normalised to option names (``busy-timeout`` → ``busy_timeout``)."""
    try:
        with path.open("rb") as f:
            raw = tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path} is not valid TOML: {exc}") from None
    return {key.replace("-", "_"): value for key, value in raw.items()}


def defaults_for(group: Any, values: dict[str, Any]) -> dict[str, Any]:
    """A click ``default_map`` for ``group``: each command gets the values it has options for.

    A key no command knows is refused, so a typo does not pass silently.
    """
    used: set[str] = set()

    def walk(command: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, sub in getattr(command, "commands", {}).items():
            if hasattr(sub, "commands"):
                out[name] = walk(sub)
            else:
                names = {p.name for p in sub.params}
                out[name] = {k: v for k, v in values.items() if k in names}
                used.update(out[name])
        return out

    defaults = walk(group)
    unknown = sorted(set(values) - used)
    if unknown:
        raise ValueError(f"unknown setting(s) in the config file: {', '.join(unknown)}")
    return defaults
